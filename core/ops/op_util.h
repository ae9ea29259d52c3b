// Checks and small helpers shared by the op implementations (private to core/ops).
#pragma once
#include "core/ops/ops.h"
#include "core/ops/precision.h"

namespace st::detail {

inline void check_same(const char* op, const Tensor& a, const Tensor& b) {
  ST_CHECK(a.defined() && b.defined(), op, ": undefined tensor argument");
  ST_CHECK(a.device() == b.device(), op, ": tensors on different devices: ", a.device(), " ",
           a.shape(), " and ", b.device(), " ", b.shape());
  ST_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ: ", a.dtype(), " ", a.shape(), " and ",
           b.dtype(), " ", b.shape());
}

inline void check_floating(const char* op, const Tensor& t) {
  ST_CHECK(t.defined(), op, ": undefined tensor argument");
  ST_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, op, ": expects f32 or f64, got ",
           t.dtype(), " of shape ", t.shape());
}

inline Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }

inline Backend& be(const Tensor& t) { return backend_for(t.device()); }

// c (M, N) = a (M, K) @ b (K, N) + beta * c, no autograd (core/ops/matmul.cpp). a and b may be
// transposed views; c may be a row block of a larger matrix (rows contiguous, any row stride).
// bf16 a and b write an f32 c.
void gemm_into(const Tensor& a, const Tensor& b, const Tensor& c, double beta);

// Cross-entropy's label checks (core/ops/loss.cpp): labels i32 (rows) on `device`, each a class
// of logits (rows, classes) or opt.ignore_index; smoothing in [0, 1]. Errors name `op`.
void check_class_labels(const char* op, const Tensor& labels, const Shape& logits_shape, Device device,
                        const CrossEntropyOptions& opt);
// per_row (R) reduced as opt.reduction says: itself, its sum, or its sum over the rows whose
// label is not ignored divided by their number (at least 1).
Tensor reduce_rows(const Tensor& per_row, const Tensor& labels, const CrossEntropyOptions& opt);

// Whether a matrix product on t runs with bf16 operands (compute precision bf16 and t f32).
inline bool bf16_products(const Tensor& t) {
  return compute_precision() == Precision::BF16 && t.dtype() == DType::F32;
}

// t as a GEMM operand: rounded to bf16 (a new contiguous tensor, no autograd) when `bf16`,
// otherwise t itself.
inline Tensor product_operand(const Tensor& t, bool bf16) {
  return bf16 && t.dtype() == DType::F32 ? t.detach().to(DType::BF16) : t;
}

// Activation storage under compute precision bf16 (precision.h): the activations the pointwise
// and normalisation ops save for their backward are kept as bf16 copies where that is safe
// (the GELU and ReLU inputs, LayerNorm's normalised output; LayerNorm's mean and 1/std stay
// f32), and widened back to f32 when the backward runs. `stored` is t as saved: a bf16 copy when
// `bf16` (bf16_products(t)), else t itself, detached; `restored` gives the saved tensor back as
// `dtype`.
// Whether an op on these inputs records a backward (so that what it would save is worth making).
inline bool records_backward(std::initializer_list<const Tensor*> inputs) {
  if (!grad_mode_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}
inline Tensor stored(const Tensor& t, bool bf16) {
  return bf16 && t.dtype() == DType::F32 ? t.detach().contiguous().to(DType::BF16) : t.detach().contiguous();
}
inline Tensor restored(const Tensor& saved, DType dtype) {
  return saved.dtype() == dtype ? saved : saved.to(dtype);
}

}  // namespace st::detail
