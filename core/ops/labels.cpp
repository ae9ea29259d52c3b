// Label and id ops without gradient: comparisons with a scalar, counts of counted labels, and
// argmax hits for accuracy. They run on the tensors' device and return device tensors, so a
// training step can count without reading anything back (core/tensor/host_reads.h).
#include "core/ops/op_util.h"

namespace st {

namespace {
void check_ids(const char* op, const Tensor& x) {
  ST_CHECK(x.defined() && x.dtype() == DType::I32, op, ": expects i32, got ",
           x.defined() ? dtype_name(x.dtype()) : "undefined");
}
}  // namespace

Tensor compare_scalar(const Tensor& x, CompareOp op, int32_t value, DType out) {
  check_ids("compare_scalar", x);
  ST_CHECK(out == DType::F32 || out == DType::F64 || out == DType::I32,
           "compare_scalar: output dtype must be f32, f64 or i32, got ", dtype_name(out));
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty(x.shape(), out, x.device());
  if (y.numel() > 0) detail::be(xc).compare_scalar(op, xc, value, y);
  return y;
}

Tensor attention_scale(const Tensor& n, ScaleMode mode, double head_dim, DType out) {
  ST_CHECK(n.defined() && n.dtype() == DType::F64, "attention_scale: counts must be f64, got ",
           n.defined() ? dtype_name(n.dtype()) : "undefined");
  ST_CHECK(out == DType::F32 || out == DType::F64, "attention_scale: output dtype must be f32 or f64, got ",
           dtype_name(out));
  Tensor nc = n.detach().contiguous();
  Tensor s = Tensor::empty(n.shape(), out, n.device());
  if (s.numel() > 0) detail::be(nc).attention_scale(nc, mode, head_dim, s);
  return s;
}

Tensor count_not_equal(const Tensor& x, int32_t value) {
  return sum_all(compare_scalar(x, CompareOp::NotEqual, value, DType::F64));
}

Tensor argmax_hits(const Tensor& logits, const Tensor& labels, int32_t ignore) {
  detail::check_floating("argmax_hits", logits);
  check_ids("argmax_hits", labels);
  ST_CHECK(logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0),
           "argmax_hits: logits must be (rows, classes) and labels (rows), got ", logits.shape(), " and ",
           labels.shape());
  ST_CHECK(logits.size(1) > 0, "argmax_hits: logits have no classes: ", logits.shape());
  ST_CHECK(labels.device() == logits.device(), "argmax_hits: labels on ", labels.device(), ", logits on ",
           logits.device());
  Tensor lc = logits.detach().contiguous(), yc = labels.detach().contiguous();
  Tensor hits = Tensor::empty({lc.size(0)}, DType::F64, lc.device());
  if (hits.numel() > 0) detail::be(lc).argmax_hit_rows(lc, yc, ignore, hits);
  return sum_all(hits);
}

}  // namespace st
