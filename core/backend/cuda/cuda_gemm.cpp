// CUDA GEMM through cuBLAS strided-batched calls (64-bit API): f32 (Sgemm, no TF32), f64
// (Dgemm), bf16 inputs and output with fp32 accumulation (GemmEx, CUBLAS_COMPUTE_32F).
// Row-major C = op(A) op(B) is computed as column-major C^T = op(B)^T op(A)^T, i.e. with the
// operands swapped; C = alpha * op(A) op(B) + beta * C. A batch stride of 0 shares a matrix.
#include "core/backend/cuda/cuda_backend.h"

namespace st {

void CudaBackend::gemm(const GemmArgs& g) {
  ST_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0 && g.batch >= 0, "gemm: negative size m ", g.m,
           " n ", g.n, " k ", g.k, " batch ", g.batch);
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  ST_CHECK(g.ldc >= g.n, "gemm: ldc ", g.ldc, " is smaller than n ", g.n);
  cuda::DeviceGuard guard(index_);
  cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  switch (g.dtype) {
    case DType::F32: {
      float alpha = static_cast<float>(g.alpha), beta = static_cast<float>(g.beta);
      ST_CUBLAS_CHECK(cublasSgemmStridedBatched_64(
          cublas_, op_b, op_a, g.n, g.m, g.k, &alpha, static_cast<const float*>(g.b), g.ldb,
          g.stride_b, static_cast<const float*>(g.a), g.lda, g.stride_a, &beta,
          static_cast<float*>(g.c), g.ldc, g.stride_c, g.batch));
      break;
    }
    case DType::F64: {
      double alpha = g.alpha, beta = g.beta;
      ST_CUBLAS_CHECK(cublasDgemmStridedBatched_64(
          cublas_, op_b, op_a, g.n, g.m, g.k, &alpha, static_cast<const double*>(g.b), g.ldb,
          g.stride_b, static_cast<const double*>(g.a), g.lda, g.stride_a, &beta,
          static_cast<double*>(g.c), g.ldc, g.stride_c, g.batch));
      break;
    }
    case DType::BF16: {
      float alpha = static_cast<float>(g.alpha), beta = static_cast<float>(g.beta);
      ST_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(
          cublas_, op_b, op_a, g.n, g.m, g.k, &alpha, g.b, CUDA_R_16BF, g.ldb, g.stride_b, g.a,
          CUDA_R_16BF, g.lda, g.stride_a, &beta, g.c, CUDA_R_16BF, g.ldc, g.stride_c, g.batch,
          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      break;
    }
    default:
      ST_THROW("gemm: dtype ", g.dtype, " is not supported on cuda (f32, f64 or bf16); got m ",
               g.m, " n ", g.n, " k ", g.k);
  }
}

}  // namespace st
