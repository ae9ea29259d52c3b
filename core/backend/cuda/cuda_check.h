// Error checks for CUDA runtime and cuBLAS calls: ST_CUDA_CHECK / ST_CUBLAS_CHECK throw st::Error
// naming the failed expression, file:line, the library's error string and the current device.
// Private to backend/cuda and distributed/nccl (the only places that include CUDA headers).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "core/tensor/error.h"

namespace st::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file,
                                     int line);
// Also names the problem (e.g. a GEMM's shapes and dtypes): `context`.
[[noreturn]] void throw_cublas_error_for(cublasStatus_t status, const char* expr, const char* file,
                                         int line, const std::string& context);

}  // namespace st::cuda

#define ST_CUDA_CHECK(expr)                                                           \
  do {                                                                                \
    cudaError_t st_cuda_err_ = (expr);                                                \
    if (st_cuda_err_ != cudaSuccess)                                                  \
      ::st::cuda::throw_cuda_error(st_cuda_err_, #expr, __FILE__, __LINE__);          \
  } while (0)

#define ST_CUBLAS_CHECK(expr)                                                         \
  do {                                                                                \
    cublasStatus_t st_cublas_status_ = (expr);                                        \
    if (st_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                   \
      ::st::cuda::throw_cublas_error(st_cublas_status_, #expr, __FILE__, __LINE__);   \
  } while (0)

// ST_CUBLAS_CHECK for cuBLAS and cuBLASLt calls whose error should name what was computed;
// `context` (a std::string expression) is evaluated only on failure.
#define ST_CUBLAS_CHECK_FOR(expr, context)                                                 \
  do {                                                                                     \
    cublasStatus_t st_cublas_status_ = (expr);                                             \
    if (st_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                        \
      ::st::cuda::throw_cublas_error_for(st_cublas_status_, #expr, __FILE__, __LINE__,     \
                                         (context));                                       \
  } while (0)

// After a kernel launch: reports invalid configurations and earlier asynchronous faults.
#define ST_CUDA_CHECK_LAUNCH() ST_CUDA_CHECK(cudaGetLastError())
