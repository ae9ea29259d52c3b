// Compiled instead of backend/cuda/cuda_fused_attention.cpp when the build has no CUDA backend or
// no cudnn-frontend headers: the fused attention reports that it was not built.
#include "core/backend/backend.h"
#include "core/backend/fused_attention.h"

namespace st {

namespace {
const char* why_not_built() {
  return cuda_built() ? "this build has no cuDNN fused attention: configure with "
                        "-DST_CUDNN_FRONTEND_INCLUDE=$(bash scripts/cudnn_frontend.sh)"
                      : "this build has no CUDA support, so no cuDNN fused attention";
}
}  // namespace

bool cudnn_fused_attention_built() { return false; }

std::string cuda_fused_attention_device_problem(int) { return why_not_built(); }

void cuda_fused_attention_prepare(const FusedAttentionArgs&, const Tensor&, const Tensor&, bool) {
  ST_THROW("fused attention: ", why_not_built());
}

void refuse_fused_attention_shape_for_testing(const Tensor&, const std::string&) {
  ST_THROW("fused attention: ", why_not_built());
}

int64_t fused_attention_dp_workspace_bytes(int64_t, int64_t, int64_t, int64_t, bool, int) { return 0; }

void cuda_fused_attention_forward(const FusedAttentionArgs&, const Tensor&, const Tensor&) {
  ST_THROW("fused attention forward: ", why_not_built());
}

void cuda_fused_attention_backward(const FusedAttentionArgs&, const Tensor&, const Tensor&,
                                   const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  ST_THROW("fused attention backward: ", why_not_built());
}

}  // namespace st
