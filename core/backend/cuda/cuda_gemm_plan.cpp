// cuBLASLt handle, GEMM plan construction (descriptors + one heuristic query) and the plan
// cache of a CudaBackend. f32 operands are computed in true fp32 (CUBLAS_COMPUTE_32F, no TF32);
// bf16 operands on tensor cores with fp32 accumulation, C bf16 or f32 (c_f32). Scale type f32.
#include "core/backend/cuda/cuda_gemm_plan.h"

#include "core/backend/cuda/cuda_check.h"

namespace st::cuda {

LtHandle::~LtHandle() {
  if (handle_) cublasLtDestroy(handle_);
}

void LtHandle::create() {
  if (!handle_) ST_CUBLAS_CHECK(cublasLtCreate(&handle_));
}

namespace {

void init_layout(cublasLtMatrixLayoutOpaque_t* layout, cudaDataType_t type, const LtMatrix& m,
                 int32_t batch, const GemmArgs& g) {
  ST_CUBLAS_CHECK_FOR(cublasLtMatrixLayoutInit(layout, type, m.rows, m.cols, m.ld),
                      describe_gemm(g));
  ST_CUBLAS_CHECK_FOR(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &batch, sizeof(batch)),
                      describe_gemm(g));
  int64_t stride = m.batch_stride;
  ST_CUBLAS_CHECK_FOR(
      cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                       sizeof(stride)),
      describe_gemm(g));
}

template <class T>
void set_pref(cublasLtMatmulPreferenceOpaque_t* pref, cublasLtMatmulPreferenceAttributes_t attr,
              T value, const GemmArgs& g) {
  ST_CUBLAS_CHECK_FOR(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)),
                      describe_gemm(g));
}

}  // namespace

std::unique_ptr<GemmPlan> make_gemm_plan(cublasLtHandle_t lt, const GemmArgs& g,
                                         const GemmPlanKey& key, size_t workspace_bytes) {
  ST_CHECK(g.dtype == DType::F32 || g.dtype == DType::BF16, "gemm: cuBLASLt plan for dtype ",
           dtype_name(g.dtype), " (f32 or bf16 only): ", describe_gemm(g));
  LtProblem p = lt_problem(g);
  cudaDataType_t ab_type = g.dtype == DType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
  cudaDataType_t c_type = g.dtype == DType::F32 || g.c_f32 ? CUDA_R_32F : CUDA_R_16BF;

  auto plan = std::make_unique<GemmPlan>();
  ST_CUBLAS_CHECK_FOR(cublasLtMatmulDescInit(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
                      describe_gemm(g));
  int32_t op_a = p.a.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  int32_t op_b = p.b.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  ST_CUBLAS_CHECK_FOR(
      cublasLtMatmulDescSetAttribute(&plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)),
      describe_gemm(g));
  ST_CUBLAS_CHECK_FOR(
      cublasLtMatmulDescSetAttribute(&plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)),
      describe_gemm(g));
  init_layout(&plan->a, ab_type, p.a, p.batch, g);
  init_layout(&plan->b, ab_type, p.b, p.batch, g);
  init_layout(&plan->c, c_type, p.c, p.batch, g);

  cublasLtMatmulPreferenceOpaque_t pref;
  ST_CUBLAS_CHECK_FOR(cublasLtMatmulPreferenceInit(&pref), describe_gemm(g));
  set_pref(&pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t(workspace_bytes), g);
  // cuBLASLt's A is our B and its B our A; C and D are our C.
  set_pref(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_b, g);
  set_pref(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_a, g);
  set_pref(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_c, g);
  set_pref(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_c, g);

  cublasLtMatmulHeuristicResult_t result = {};
  int count = 0;
  cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      lt, &plan->desc, &plan->a, &plan->b, &plan->c, &plan->c, &pref, 1, &result, &count);
  // NOT_SUPPORTED: no heuristic for this configuration; the plan then uses legacy cuBLAS.
  if (status != CUBLAS_STATUS_SUCCESS && status != CUBLAS_STATUS_NOT_SUPPORTED)
    throw_cublas_error_for(status, "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__,
                           describe_gemm(g));
  plan->has_algo = status == CUBLAS_STATUS_SUCCESS && count > 0 &&
                   result.state == CUBLAS_STATUS_SUCCESS && result.workspaceSize <= workspace_bytes;
  if (plan->has_algo) {
    plan->algo = result.algo;
    plan->workspace_bytes = result.workspaceSize;
  }
  return plan;
}

const GemmPlan* GemmPlanCache::find(const GemmPlanKey& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = plans_.find(key);
  return it == plans_.end() ? nullptr : it->second.get();
}

const GemmPlan* GemmPlanCache::insert(const GemmPlanKey& key, std::unique_ptr<GemmPlan>& plan) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second.get();
  if (plans_.size() >= kMaxPlans) return nullptr;
  return plans_.emplace(key, std::move(plan)).first->second.get();
}

size_t GemmPlanCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plans_.size();
}

}  // namespace st::cuda
