// The differentiable operations on tensors. Each returns a new tensor (never modifies its
// inputs) and, when grad mode is on and an input requires grad, records its backward rule.
// Shapes in comments: (B, N, d) etc.; "..." is any number of leading dimensions.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/backend/backend.h"
#include "core/ops/simpletron/simpletron.h"
#include "core/tensor/tensor.h"

namespace st {

// ---- elementwise with broadcasting (NumPy rules) ------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double s);           // s * x
Tensor add_scalar(const Tensor& x, double c);      // x + c
Tensor neg(const Tensor& x);
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator*(const Tensor& x, double s) { return scale(x, s); }
inline Tensor operator*(double s, const Tensor& x) { return scale(x, s); }

// out = mask != 0 ? value : x; mask (i32 or x's dtype) broadcasts to x. No gradient to mask.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- activations ---------------------------------------------------------------------------
enum class GeluKind : uint8_t { Tanh, Erf };
Tensor gelu(const Tensor& x, GeluKind kind = GeluKind::Tanh);
Tensor relu(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor elu_plus_one(const Tensor& x);  // elu(x) + 1

// ---- matrix products -----------------------------------------------------------------------
// a (..., M, K) @ b (..., K, N) -> (..., M, N). Batch dimensions must be equal, or b is 2-D
// (K, N) and shared by every batch item. Transposed views are passed to BLAS without copies.
Tensor matmul(const Tensor& a, const Tensor& b);
// x (..., in), w (out, in), b (out) or undefined -> x W^T + b (..., out): one GEMM that starts
// from the broadcast bias (beta = 1), no separate bias pass.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

// ---- reductions (deterministic) ------------------------------------------------------------
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
Tensor sum_all(const Tensor& x);   // () scalar
Tensor mean_all(const Tensor& x);  // () scalar
// Running sum along `axis` (same shape as x): y_i = sum_{k <= i} x_k, or k < i when exclusive;
// with reverse, k >= i or k > i. Each running sum in index order, in double.
Tensor cumsum(const Tensor& x, int axis, bool exclusive = false, bool reverse = false);
// Sums g over the dimensions that were broadcast from `shape` (the inverse of broadcasting).
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- shape ---------------------------------------------------------------------------------
Tensor concat(const std::vector<Tensor>& xs, int dim);
Tensor expand(const Tensor& x, const Shape& shape);  // broadcast view (stride 0), no copy
// (n, n) 0/1 triangle, the causal masks (a constant, no gradient). Lower: 1 where key j <= query
// i, what a query may see (the chunk mask of causal SimpleTRON). StrictUpper: 1 where j > i,
// what it may not see (the mask of causal softmax, for masked_fill).
enum class Triangle : uint8_t { Lower, StrictUpper };
Tensor triangle_ones(int64_t n, Triangle which, DType dtype, Device device);

// ---- normalisation and probabilities ------------------------------------------------------
// x (..., C), weight (C), bias (C). Fused forward and backward.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-6);
Tensor softmax(const Tensor& x);      // over the last axis
Tensor log_softmax(const Tensor& x);  // over the last axis

enum class Reduction : uint8_t { Mean, Sum, None };
struct CrossEntropyOptions {
  int32_t ignore_index = -100;
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::Mean;  // Mean: over rows whose label is not ignored
};
// logits (R, C), labels i32 (R) -> () for Mean/Sum, (R) for None. Fused with log-softmax.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels,
                     const CrossEntropyOptions& options = {});

// The language-model head and its cross-entropy in one op (core/ops/lm_head_loss.cpp): rows h
// (R, d), head weight w (V, d), labels i32 (R) ->
//   loss = cross_entropy(h w^T, labels, options)   reduced as options.reduction says
//   hits = () f64, argmax_hits(h w^T, labels, ignore_index), no gradient
// computed `block_rows` rows at a time (0: lm_head_block_rows), so that neither the (R, V)
// logits nor their gradient is ever whole in memory; backward recomputes each block's logits.
struct LmHeadLoss {
  Tensor loss;
  Tensor hits;
};
LmHeadLoss lm_head_cross_entropy(const Tensor& h, const Tensor& w, const Tensor& labels,
                                 const CrossEntropyOptions& options = {}, int64_t block_rows = 0);
// The automatic row block: as many rows as keep one block's logits within
// kLmHeadBlockElements values (32 MiB of f32), at least 1, at most `rows`.
constexpr int64_t kLmHeadBlockElements = int64_t(1) << 23;
int64_t lm_head_block_rows(int64_t rows, int64_t vocab);

// ---- labels and ids (no gradient; core/ops/labels.cpp) -------------------------------------
// (x op value) as 1/0 in dtype out (f32, f64 or i32), x i32 of any shape.
Tensor compare_scalar(const Tensor& x, CompareOp op, int32_t value, DType out);
// s = attention_scale(mode, n, head_dim) elementwise (core/math/attention_scale.h), n f64 of any
// shape, s in dtype out (f32 or f64).
Tensor attention_scale(const Tensor& n, ScaleMode mode, double head_dim, DType out);
// () f64: the number of elements of the i32 tensor x that differ from value.
Tensor count_not_equal(const Tensor& x, int32_t value);
// () f64: the rows of logits (R, C) whose first largest logit is at their label (i32 (R));
// rows labelled `ignore` do not count.
Tensor argmax_hits(const Tensor& logits, const Tensor& labels, int32_t ignore);

// ---- lookup and regularisation -------------------------------------------------------------
// table (V, D), ids i32 (...) -> (..., D). Ids outside [0, V) are an error.
Tensor embedding(const Tensor& table, const Tensor& ids);

// Inverted dropout with probability p; the mask is a pure function of (key, global index),
// regenerated in backward rather than stored. Identity when !training or p == 0.
Tensor dropout(const Tensor& x, float p, const RngKey& key, bool training = true,
               const GlobalIndexMap& map = GlobalIndexMap{});

// ---- fused ops (one kernel forward, one backward) -------------------------------------------
// h (..., C), b (C) -> gelu(h + b) (..., C). Saves h and b only (not h + b); backward gives dh
// and db (a deterministic column sum) in one kernel. Equal to gelu(h + b) within f32 rounding.
Tensor bias_gelu(const Tensor& h, const Tensor& b, GeluKind kind = GeluKind::Tanh);
// residual + dropout(x, p, key, map) for x and residual of one shape: drops exactly the
// elements dropout() drops, and is bitwise equal to add(residual, dropout(...)). Backward:
// d_residual = g, dx = dropout(g) from the same Philox numbers (no mask stored).
Tensor dropout_add(const Tensor& x, const Tensor& residual, float p, const RngKey& key,
                   const GlobalIndexMap& map = GlobalIndexMap{});

// ---- SimpleTRON attention -------------------------------------------------------------------
// heads_state, heads_apply (non-causal) and simpletron_causal with its two forms: declared and
// explained in core/ops/simpletron/simpletron.h, included here.

// ---- collectives (sequence parallelism) ------------------------------------------------------
class Communicator;
// y = sum over the ranks of comm of x (same shape everywhere); backward sums the gradients.
Tensor all_reduce_sum(const Tensor& x, Communicator& comm);
// y = sum of x over the ranks below this one (zeros on rank 0); backward: the gradient of x is
// the sum of the gradients of the ranks above.
Tensor exclusive_prefix_sum(const Tensor& x, Communicator& comm);

// ---- fused softmax attention (cuDNN flash attention, CUDA) ---------------------------------
// q (B, H, Nq, d_h), k and v (B, H, Nk, d_h) f32 -> softmax(scale q k^T, masked keys and, when
// causal, keys j > i removed) v (B, H, Nq, d_h) f32, in one cuDNN kernel (no N x N matrix): bf16
// operands, f32 softmax and accumulation. Masked keys: key_lengths i32 (B, 1, 1, 1) when every
// sequence's padding is at its end (keys j >= length masked; O(N) memory), else key_mask i32
// (B, 1, 1, Nk) (nonzero = masked; an (B, 1, Nq, Nk) bias inside, O(N^2)), else none. A row with
// no unmasked key gives 0 (and no gradient), as the unfused ops do. deterministic: the backward
// repeats bitwise (backend/fused_attention.h says what it costs). Throws the reason where
// fused_softmax_attention_available(q) is false, and FusedAttentionRejected where cuDNN refuses
// this shape (forward, or backward when a gradient will be needed), before computing anything.
Tensor softmax_attention_fused(const Tensor& q, const Tensor& k, const Tensor& v,
                               const Tensor& key_mask, const Tensor& key_lengths, bool causal,
                               double scale, bool deterministic = true);
// "" when softmax_attention_fused can run on q now, else why not: q f32 (B, H, N, d_h) with
// d_h a multiple of 8 and at most 128, compute precision bf16, q on CUDA, a build with the
// cuDNN fused attention, a device of compute capability 8.0 or newer. (cuDNN may still refuse a
// particular shape.)
std::string fused_softmax_attention_problem(const Tensor& q);
// The same rules for a model's attention before any q exists: q's dtype and device, and d_h.
std::string fused_softmax_attention_problem(DType dtype, Device device, int64_t head_dim);
bool fused_softmax_attention_available(const Tensor& q);

// ---- helpers for ops ------------------------------------------------------------------------
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace st
