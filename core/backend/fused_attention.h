// cuDNN fused (flash) softmax attention on CUDA: the kernels behind softmax_attention_fused.
// Defined in backend/cuda/cuda_fused_attention.cpp when the build has CUDA and the cudnn-frontend
// headers, otherwise by backend/no_fused_attention.cpp (which reports that it was not built), so
// nothing here needs CUDA headers. Layout: Q, K, V, O and their gradients are bf16 (B, H, N, d_h)
// views whose last dimension is contiguous (any other strides; the op passes the (B, N, H, d_h)
// "BSHD" memory order of the projections); stats is f32 (B, H, Nq, 1) contiguous. Every kernel
// writes its outputs (=).
#pragma once
#include <string>

#include "core/tensor/error.h"
#include "core/tensor/tensor.h"

namespace st {

// Added to the scores of masked keys (after scaling) by the additive key bias. Large enough that
// exp(bias + score - max) is 0 in f32 for any score the model produces, small enough to stay
// finite in bf16 (no inf - inf = NaN in a row with no valid key).
constexpr double kFusedAttentionMaskBias = -1e6;
// A query row whose softmax log-sum-exp (stats) is below this had no unmasked key: all its
// scores carried the mask bias. Valid rows have stats >= their largest valid score.
constexpr double kFusedAttentionEmptyRowStats = 0.5 * kFusedAttentionMaskBias;

// Thrown when cuDNN does not support a fused-attention graph (its validation, heuristics or plan
// building refuse it): the caller may run the unfused attention instead.
class FusedAttentionRejected : public Error {
 public:
  using Error::Error;
};

// Whether this build contains the cuDNN fused attention (CUDA with cudnn-frontend).
bool cudnn_fused_attention_built();
// "" when the device can run it (compute capability 8.0 or newer), else the reason.
std::string cuda_fused_attention_device_problem(int device_index);

struct FusedAttentionArgs {
  Tensor q, k, v;   // bf16: q (B, H, Nq, d_h), k and v (B, H, Nk, d_h)
  Tensor bias;      // bf16 (B, 1, Nq, Nk) contiguous, added to the scaled scores; or undefined
  bool causal = false;  // key j > query i masked (top-left diagonal; needs Nq == Nk)
  double scale = 1.0;   // scores = scale * q k^T
};

// O (B, H, Nq, d_h) bf16 = softmax(scale q k^T + bias [causal]) v, with f32 softmax and
// accumulation; stats (B, H, Nq, 1) f32 = the log-sum-exp of each row's scores (natural log).
void cuda_fused_attention_forward(const FusedAttentionArgs& args, const Tensor& o,
                                  const Tensor& stats);
// dq, dk, dv (bf16, shapes of q, k, v) from o, its gradient d_o and the forward's stats.
// Deterministic (no atomics in the reductions over rows).
void cuda_fused_attention_backward(const FusedAttentionArgs& args, const Tensor& o,
                                   const Tensor& d_o, const Tensor& stats, const Tensor& dq,
                                   const Tensor& dk, const Tensor& dv);

}  // namespace st
