// cuDNN fused (flash) softmax attention on CUDA: the kernels behind softmax_attention_fused.
// Defined in backend/cuda/cuda_fused_attention.cpp when the build has CUDA and the cudnn-frontend
// headers, otherwise by backend/no_fused_attention.cpp (which reports that it was not built), so
// nothing here needs CUDA headers. Layout: Q, K, V, O and their gradients are bf16 (B, H, N, d_h)
// views whose last dimension is contiguous (any other strides; the op passes the (B, N, H, d_h)
// "BSHD" memory order of the projections); stats is f32 (B, H, Nq, 1) contiguous. Every kernel
// writes its outputs (=), except the backward's dk and dv rows past sequence lengths (below).
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
  // Masked keys, one of two ways (or neither):
  Tensor bias;      // bf16 (B, 1, Nq, Nk) contiguous, added to the scaled scores: O(Nq Nk)
  Tensor seq_len_kv;  // i32 (B, 1, 1, 1) contiguous, in [1, Nk]: keys j >= seq_len_kv[b] are
                      // masked (cuDNN's padding mask): O(B). Needs seq_len_q too.
  Tensor seq_len_q;   // i32 (B, 1, 1, 1): Nq for every b (no query is masked)
  bool causal = false;  // key j > query i masked (top-left diagonal; needs Nq == Nk)
  double scale = 1.0;   // scores = scale * q k^T
  // Backward: dQ accumulated in a fixed order, so gradients repeat bitwise (cuDNN's deterministic
  // algorithm). Before cuDNN 9.25 on Hopper, and on other GPUs, cuDNN does this through a dP
  // workspace of B H Nq Nk bf16 (fused_attention_dp_workspace_bytes); false: O(N) workspace,
  // dQ by atomic adds whose order (and so the last bits) varies from run to run.
  bool deterministic = true;
};

// Builds the forward graph and, with `backward`, the backward graph for these arguments (cached
// per shape, strides and flags). Throws FusedAttentionRejected when cuDNN refuses either: the
// refusal is remembered for that shape (and printed once), so the caller can run that shape
// unfused and try again cheaply. Other failures throw Error.
void cuda_fused_attention_prepare(const FusedAttentionArgs& args, const Tensor& o,
                                  const Tensor& stats, bool backward);
// O (B, H, Nq, d_h) bf16 = softmax(scale q k^T + mask [causal]) v, with f32 softmax and
// accumulation; stats (B, H, Nq, 1) f32 = the log-sum-exp of each row's scores (natural log).
void cuda_fused_attention_forward(const FusedAttentionArgs& args, const Tensor& o,
                                  const Tensor& stats);
// dq, dk, dv (bf16, shapes of q, k, v) from o, its gradient d_o and the forward's stats. With
// sequence lengths, the rows of dk and dv past each example's length are not written: the caller
// zeroes them first.
void cuda_fused_attention_backward(const FusedAttentionArgs& args, const Tensor& o,
                                   const Tensor& d_o, const Tensor& stats, const Tensor& dq,
                                   const Tensor& dk, const Tensor& dv);

// Records that cuDNN refuses the graphs of every fused attention whose q has q's shape (any k, v,
// masks and flags), as if it had, with `reason`: tests exercise the per-shape fallback with it.
void refuse_fused_attention_shape_for_testing(const Tensor& q, const std::string& reason);

// The bytes of the dP workspace that cuDNN's deterministic backward takes on `device_index` for
// this shape (B H Nq Nk bf16, rounded up to its tiles), or 0 where it keeps the workspace O(N):
// deterministic false, or cuDNN 9.25 or newer on Hopper (ordered dQ accumulation, which this
// build requests). 0 without a fused attention.
int64_t fused_attention_dp_workspace_bytes(int64_t B, int64_t H, int64_t Nq, int64_t Nk,
                                           bool deterministic, int device_index);

}  // namespace st
