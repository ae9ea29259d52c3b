// cuBLASLt state of a CudaBackend: the handle (LtHandle, destroyed with the backend) and the
// plans of the GEMM problems seen so far (GemmPlanCache): per distinct GemmPlanKey the matmul
// and layout descriptors and the algorithm chosen once by cublasLtMatmulAlgoGetHeuristic, so a
// steady training step does no heuristic query and creates no descriptor.
#pragma once
#include <cublasLt.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/backend/cuda/gemm_lt_problem.h"

namespace st::cuda {

class LtHandle {
 public:
  LtHandle() = default;
  ~LtHandle();
  LtHandle(const LtHandle&) = delete;
  LtHandle& operator=(const LtHandle&) = delete;
  void create();  // on the current device
  cublasLtHandle_t get() const { return handle_; }

 private:
  cublasLtHandle_t handle_ = nullptr;
};

// Descriptors live inside the plan (cuBLASLt's "Init in pre-allocated space" form), so a plan
// is never copied or moved once built: it is handled through a unique_ptr.
struct GemmPlan {
  cublasLtMatmulDescOpaque_t desc;
  cublasLtMatrixLayoutOpaque_t a, b, c;  // cuBLASLt's A (our B), B (our A), C = D (our C)
  cublasLtMatmulAlgo_t algo;
  size_t workspace_bytes = 0;  // what the algorithm needs (<= the backend's workspace)
  // false: cuBLASLt offered no algorithm; the legacy cuBLAS call computes the same product.
  bool has_algo = false;
};

// Builds the plan of g (f32 or bf16 operands, non-empty, k > 0, already checked): descriptors
// for CUBLAS_COMPUTE_32F with f32 scale and one heuristic query limited to the workspace and
// the operands' pointer alignment.
std::unique_ptr<GemmPlan> make_gemm_plan(cublasLtHandle_t lt, const GemmArgs& g,
                                         const GemmPlanKey& key, size_t workspace_bytes);

// Thread-safe map GemmPlanKey -> plan. Plans are never removed, so a returned pointer stays
// valid for the backend's lifetime. Past kMaxPlans distinct problems new plans are not kept.
class GemmPlanCache {
 public:
  static constexpr size_t kMaxPlans = 4096;
  const GemmPlan* find(const GemmPlanKey& key) const;
  // Stores `plan` under key and returns the stored plan (an earlier one if another thread got
  // there first); returns nullptr and leaves `plan` with the caller when the cache is full.
  const GemmPlan* insert(const GemmPlanKey& key, std::unique_ptr<GemmPlan>& plan);
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<GemmPlanKey, std::unique_ptr<GemmPlan>, GemmPlanKeyHash> plans_;
};

}  // namespace st::cuda
