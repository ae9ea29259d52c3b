// CUDA GEMM: C = alpha op(A) op(B) + beta C (row-major, batched with strides; stride 0 shares a
// matrix). f32 and bf16 operands go through cublasLtMatmul: f32 in true fp32
// (CUBLAS_COMPUTE_32F, no TF32); bf16 on tensor cores with fp32 accumulation, C bf16 or f32
// (c_f32). beta != 0 accumulates in place (cuBLASLt's C and D are the same matrix). The
// algorithm of each distinct problem is chosen once (cuda_gemm_plan.h). f64, k == 0 (C = beta C,
// as BLAS defines it) and problems cuBLASLt has no algorithm for use the cuBLAS strided-batched
// calls (64-bit API). Row-major is column-major with the operands swapped (gemm_lt_problem.h).
#include "core/backend/cuda/cuda_backend.h"

namespace st {

void CudaBackend::gemm(const GemmArgs& g) {
  cuda::check_gemm_args(g);
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  cuda::DeviceGuard guard(index_);
  if (g.dtype == DType::F64 || g.k == 0) return gemm_cublas(g);
  ST_CHECK(g.dtype == DType::F32 || g.dtype == DType::BF16, "gemm: dtype ", dtype_name(g.dtype),
           " is not supported on cuda (f32, f64 or bf16): ", cuda::describe_gemm(g));

  cuda::GemmPlanKey key = cuda::gemm_plan_key(g);
  const cuda::GemmPlan* plan = gemm_plans_.find(key);
  std::unique_ptr<cuda::GemmPlan> built;
  if (!plan) {
    built = cuda::make_gemm_plan(lt_.get(), g, key, kCublasWorkspaceBytes);
    plan = gemm_plans_.insert(key, built);
    if (!plan) plan = built.get();  // cache full: this call uses its own plan
  }
  if (!plan->has_algo) return gemm_cublas(g);

  float alpha = static_cast<float>(g.alpha), beta = static_cast<float>(g.beta);
  // cublasLtMatmul only reads the descriptors; its signature takes them as non-const.
  auto* desc = const_cast<cublasLtMatmulDescOpaque_t*>(&plan->desc);
  auto* la = const_cast<cublasLtMatrixLayoutOpaque_t*>(&plan->a);
  auto* lb = const_cast<cublasLtMatrixLayoutOpaque_t*>(&plan->b);
  auto* lc = const_cast<cublasLtMatrixLayoutOpaque_t*>(&plan->c);
  // cuBLASLt's A is our B, its B our A; D = C (in place).
  ST_CUBLAS_CHECK_FOR(
      cublasLtMatmul(lt_.get(), desc, &alpha, g.b, la, g.a, lb, &beta, g.c, lc, g.c, lc,
                     &plan->algo, cublas_workspace_, kCublasWorkspaceBytes, stream_),
      cuda::describe_gemm(g));
}

void CudaBackend::gemm_cublas(const GemmArgs& g) {
  cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  switch (g.dtype) {
    case DType::F32: {
      float alpha = static_cast<float>(g.alpha), beta = static_cast<float>(g.beta);
      ST_CUBLAS_CHECK_FOR(
          cublasSgemmStridedBatched_64(cublas_, op_b, op_a, g.n, g.m, g.k, &alpha,
                                       static_cast<const float*>(g.b), g.ldb, g.stride_b,
                                       static_cast<const float*>(g.a), g.lda, g.stride_a, &beta,
                                       static_cast<float*>(g.c), g.ldc, g.stride_c, g.batch),
          cuda::describe_gemm(g));
      break;
    }
    case DType::F64: {
      double alpha = g.alpha, beta = g.beta;
      ST_CUBLAS_CHECK_FOR(
          cublasDgemmStridedBatched_64(cublas_, op_b, op_a, g.n, g.m, g.k, &alpha,
                                       static_cast<const double*>(g.b), g.ldb, g.stride_b,
                                       static_cast<const double*>(g.a), g.lda, g.stride_a, &beta,
                                       static_cast<double*>(g.c), g.ldc, g.stride_c, g.batch),
          cuda::describe_gemm(g));
      break;
    }
    case DType::BF16: {
      float alpha = static_cast<float>(g.alpha), beta = static_cast<float>(g.beta);
      cudaDataType_t c_type = g.c_f32 ? CUDA_R_32F : CUDA_R_16BF;
      ST_CUBLAS_CHECK_FOR(cublasGemmStridedBatchedEx_64(
                              cublas_, op_b, op_a, g.n, g.m, g.k, &alpha, g.b, CUDA_R_16BF, g.ldb,
                              g.stride_b, g.a, CUDA_R_16BF, g.lda, g.stride_a, &beta, g.c, c_type,
                              g.ldc, g.stride_c, g.batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                          cuda::describe_gemm(g));
      break;
    }
    default:
      ST_THROW("gemm: dtype ", dtype_name(g.dtype),
               " is not supported on cuda (f32, f64 or bf16): ", cuda::describe_gemm(g));
  }
}

}  // namespace st
