// Compute precision of matrix products, per thread. Under Precision::BF16 the f32 matrix
// products (matmul, linear, the per-head attention products) round their operands to bf16 and
// accumulate and write in f32: bf16 tensor cores on CUDA, the same rounding emulated on CPU.
// Everything else computes in f32: parameters (the master weights), optimizer state,
// activations and gradients, attention states (K^T V), reductions, normalisation and losses. A
// product keeps its bf16 operand copies (not the f32 tensors) for its backward, and records the
// precision of its forward pass so that its backward uses the same one; the GELU, ReLU and
// LayerNorm ops keep what their backward reads in bf16 too (core/ops/op_util.h).
#pragma once
#include <cstdint>
#include <string>

#include "core/tensor/enum_names.h"

namespace st {

enum class Precision : uint8_t { FP32, BF16 };
inline constexpr EnumNames<Precision, 2> kPrecisionNames{{{{"fp32", Precision::FP32}, {"bf16", Precision::BF16}}}};

Precision compute_precision();
const char* precision_name(Precision p);         // "fp32" | "bf16"
Precision parse_precision(const std::string& s);  // throws, naming s, for anything else

// Sets the calling thread's precision for the scope's lifetime (restores the previous one).
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision p);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision previous_;
};

}  // namespace st
