// The language-model head fused with its cross-entropy, one block of rows at a time, so that
// neither the (R, V) logits nor their gradient is ever whole in memory. For rows h (R, d), the
// head weight W (V, d) and labels y (R):
//   forward, per block b of rows:  logits_b = h_b W^T            (rows_b, V), then dropped
//                                  loss_r   = CE(logits_r, y_r)   as cross_entropy computes it
//                                  hits    += argmax_hits(logits_b, y_b)  (same logits)
//   backward, per block:           logits_b recomputed, dlogits_b = (softmax - q) * g_r
//                                  dh_b  = dlogits_b W            (=, rows of dh)
//                                  dW   += dlogits_b^T h_b        (+=, one (V, d) sum)
// Peak memory beyond h, W and their gradients: one block's logits and their gradient. The
// per-row values are those of cross_entropy(matmul(h, W^T), y) up to the GEMM's rounding;
// with one block they are the same computation.
#include <algorithm>

#include "core/ops/op_util.h"

namespace st {

namespace {

// The logits of one block: (rows, V) = h_b (rows, d) @ W^T; f32 for bf16 operands.
Tensor block_logits(const Tensor& hb, const Tensor& w, DType out) {
  Tensor logits = Tensor::empty({hb.size(0), w.size(0)}, out, hb.device());
  detail::gemm_into(hb, w.transpose(0, 1), logits, 0.0);
  return logits;
}

}  // namespace

int64_t lm_head_block_rows(int64_t rows, int64_t vocab) {
  ST_CHECK(rows >= 0 && vocab >= 1, "lm_head_block_rows: rows ", rows, " and vocab ", vocab, " out of range");
  return std::max<int64_t>(1, std::min<int64_t>(rows, kLmHeadBlockElements / vocab));
}

LmHeadLoss lm_head_cross_entropy(const Tensor& h, const Tensor& w, const Tensor& labels,
                                 const CrossEntropyOptions& opt, int64_t block_rows) {
  const char* op = "lm_head_cross_entropy";
  detail::check_same(op, h, w);
  detail::check_floating(op, h);
  ST_CHECK(h.dim() == 2 && w.dim() == 2 && h.size(1) == w.size(1), op, ": rows (R, d) and weight (V, d) expected, got ",
           h.shape(), " and ", w.shape());
  int64_t R = h.size(0), V = w.size(0);
  detail::check_class_labels(op, labels, Shape{R, V}, h.device(), opt);
  ST_CHECK(block_rows >= 0, op, ": block_rows must be 0 (automatic) or positive, got ", block_rows);
  int64_t rows = block_rows > 0 ? std::min(block_rows, std::max<int64_t>(R, 1)) : lm_head_block_rows(R, V);
  bool bf16 = detail::bf16_products(h);
  Tensor hp = detail::product_operand(h.detach().contiguous(), bf16);
  Tensor wp = detail::product_operand(w.detach().contiguous(), bf16);
  Tensor y = labels.contiguous();
  Tensor loss = Tensor::empty({R}, h.dtype(), h.device());
  Tensor lse = Tensor::empty({R}, h.dtype(), h.device());
  LmHeadLoss out;
  {
    NoGradGuard ng;
    out.hits = Tensor::zeros({}, DType::F64, h.device());
    for (int64_t r0 = 0; r0 < R; r0 += rows) {
      int64_t n = std::min(rows, R - r0);
      Tensor yb = y.narrow(0, r0, n);
      Tensor logits = block_logits(hp.narrow(0, r0, n), wp, h.dtype());
      detail::be(logits).cross_entropy_forward(logits, yb, opt.ignore_index, opt.label_smoothing,
                                               loss.narrow(0, r0, n), lse.narrow(0, r0, n));
      out.hits = add(out.hits, argmax_hits(logits, yb, opt.ignore_index));
    }
  }
  DType dtype = h.dtype();
  Tensor per_row = record(loss, op, {h, w}, [hp, wp, y, lse, opt, rows, dtype, bf16](const Tensor& g_out) {
    int64_t R = hp.size(0), V = wp.size(0), d = hp.size(1);
    Tensor g = g_out.contiguous();
    Tensor dh = Tensor::empty({R, d}, dtype, hp.device());
    Tensor dw = Tensor::zeros({V, d}, dtype, hp.device());
    for (int64_t r0 = 0; r0 < R; r0 += rows) {
      int64_t n = std::min(rows, R - r0);
      Tensor hb = hp.narrow(0, r0, n);
      Tensor logits = block_logits(hb, wp, dtype);
      Tensor dl = detail::empty_like(logits);  // (n, V)
      detail::be(logits).cross_entropy_backward(logits, y.narrow(0, r0, n), lse.narrow(0, r0, n),
                                                g.narrow(0, r0, n), opt.ignore_index,
                                                opt.label_smoothing, dl);
      logits = Tensor();  // at most two (n, V) blocks alive
      Tensor dlp = detail::product_operand(dl, bf16);
      detail::gemm_into(dlp, wp, dh.narrow(0, r0, n), 0.0);             // dh_b = dlogits_b W
      detail::gemm_into(dlp.transpose(0, 1), hb, dw, r0 == 0 ? 0.0 : 1.0);  // dW += dlogits_b^T h_b
    }
    return std::vector<Tensor>{dh, dw};
  });
  out.loss = detail::reduce_rows(per_row, y, opt);
  return out;
}

}  // namespace st
