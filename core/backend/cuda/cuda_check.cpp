// Error reporting behind ST_CUDA_CHECK / ST_CUBLAS_CHECK: builds the st::Error message with the
// expression, location, error string and the device that was current when the call failed.
#include "core/backend/cuda/cuda_check.h"

namespace st::cuda {

namespace {
int current_device() {
  int d = -1;
  if (cudaGetDevice(&d) != cudaSuccess) return -1;
  return d;
}
}  // namespace

void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  int dev = current_device();
  cudaGetLastError();  // clear a non-sticky error so later calls can proceed
  ST_THROW("CUDA error in ", expr, " at ", file, ":", line, " on cuda:", dev, ": ",
           cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
}

void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line) {
  ST_THROW("cuBLAS error in ", expr, " at ", file, ":", line, " on cuda:", current_device(), ": ",
           cublasGetStatusName(status), " (", cublasGetStatusString(status), ")");
}

void throw_cublas_error_for(cublasStatus_t status, const char* expr, const char* file, int line,
                            const std::string& context) {
  ST_THROW("cuBLAS error in ", expr, " at ", file, ":", line, " on cuda:", current_device(), ": ",
           cublasGetStatusName(status), " (", cublasGetStatusString(status), ") for ", context);
}

}  // namespace st::cuda
