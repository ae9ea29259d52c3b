// The CUDA backend: one CudaBackend per device, created on first use and kept for the process.
// It owns a stream, a cuBLAS handle bound to that stream and the device's stream-ordered
// allocator; every kernel is enqueued on the stream and only host copies and synchronize() wait.
// Kernels write their outputs (=) unless the Backend interface says they accumulate (+=).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <memory>

#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_check.h"
#include "core/backend/cuda/cuda_gemm_plan.h"

namespace st {

namespace cuda {
// Makes `index` the current device for the guard's lifetime (restores the previous one).
class DeviceGuard {
 public:
  explicit DeviceGuard(int index) : index_(index) {
    ST_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != index_) ST_CUDA_CHECK(cudaSetDevice(index_));
  }
  ~DeviceGuard() {
    if (previous_ != index_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int index_;
  int previous_ = -1;
};
}  // namespace cuda

// Stream-ordered device memory: cudaMallocAsync / cudaFreeAsync on the backend's stream, from the
// device's default pool with an unbounded release threshold so freed blocks are reused rather
// than returned to the driver. Statistics count the bytes requested.
class CudaAllocator final : public Allocator {
 public:
  CudaAllocator(int index, cudaStream_t stream);
  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;  // never throws (called from destructors)
  Device device() const override { return Device::cuda(index_); }

 private:
  int index_;
  cudaStream_t stream_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index);
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::cuda(index_); }
  int index() const { return index_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  cublasLtHandle_t cublas_lt() const { return lt_.get(); }
  // Workspace shared by cuBLAS and cuBLASLt (both run on stream_, so never at the same time).
  static constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;
  CudaAllocator& allocator() { return *allocator_; }

  void fill(const Tensor& dst, double value) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void copy_from_host(void* dst, const void* host_src, size_t bytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override;
  void synchronize() override;

  void unary(UnaryOp op, const Tensor& x, const Tensor& y) override;
  void unary_grad(UnaryGradOp op, const Tensor& x_or_y, const Tensor& dy,
                  const Tensor& dx) override;
  void affine(const Tensor& x, double alpha, double beta, const Tensor& y) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void masked_fill(const Tensor& x, const Tensor& mask, double value, const Tensor& out) override;
  void accumulate(const Tensor& dst, const Tensor& src) override;

  void sum_axis(const Tensor& x, int64_t outer, int64_t r, int64_t inner,
                const Tensor& out) override;
  void cumsum_axis(const Tensor& x, int64_t outer, int64_t r, int64_t inner, bool exclusive,
                   bool reverse, const Tensor& out) override;
  void gemm(const GemmArgs& args) override;

  void layer_norm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                          const Tensor& y, const Tensor& mean, const Tensor& rstd,
                          const Tensor& xhat) override;
  void layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean,
                           const Tensor& rstd, const Tensor& dy, const Tensor& dx,
                           const Tensor& dw, const Tensor& db) override;
  void softmax_forward(SoftmaxKind kind, const Tensor& x, const Tensor& y) override;
  void softmax_backward(SoftmaxKind kind, const Tensor& y, const Tensor& dy,
                        const Tensor& dx) override;
  void cross_entropy_forward(const Tensor& logits, const Tensor& labels, int32_t ignore_index,
                             double smoothing, const Tensor& loss, const Tensor& lse) override;
  void cross_entropy_backward(const Tensor& logits, const Tensor& labels, const Tensor& lse,
                              const Tensor& dloss, int32_t ignore_index, double smoothing,
                              const Tensor& dlogits) override;

  void embedding_forward(const Tensor& table, const Tensor& ids, const Tensor& out) override;
  void embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) override;
  int64_t find_out_of_range(const Tensor& ids, int64_t rows) override;
  void compare_scalar(CompareOp op, const Tensor& x, int32_t value, const Tensor& out) override;
  void check_range(const Tensor& x, int64_t lo, int64_t hi, int64_t allowed, const RangeCheck& msg) override;
  void attention_scale(const Tensor& n, ScaleMode mode, double head_dim, const Tensor& out) override;
  void argmax_hit_rows(const Tensor& logits, const Tensor& labels, int32_t ignore,
                       const Tensor& out) override;

  void adamw_update(const Tensor& p, const Tensor& m, const Tensor& v, const Tensor& g,
                    const AdamWStep& step) override;

  void dropout(const Tensor& x, float p, const RngKey& key, const GlobalIndexMap& map,
               const Tensor& y) override;
  void fill_random_normal(const Tensor& dst, const RngKey& key, double stddev) override;
  void fill_random_uniform(const Tensor& dst, const RngKey& key, double lo, double hi) override;

  void bias_act_forward(UnaryOp act, const Tensor& h, const Tensor& b, const Tensor& y) override;
  void bias_act_backward(UnaryOp act, const Tensor& h, const Tensor& b, const Tensor& dy,
                         const Tensor& dh, const Tensor& db) override;
  void dropout_add(const Tensor& x, const Tensor& residual, float p, const RngKey& key,
                   const GlobalIndexMap& map, const Tensor& out) override;

  void adamw_update_many(const std::vector<AdamWTensor>& list) override;
  void sum_of_squares_into(const std::vector<Tensor>& xs, const Tensor& out) override;
  void scale_many(const std::vector<Tensor>& xs, double alpha) override;

 private:
  int index_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  cuda::LtHandle lt_;
  cuda::GemmPlanCache gemm_plans_;  // cuBLASLt plans by problem (cuda_gemm.cpp)
  void gemm_cublas(const GemmArgs& g);  // the legacy cuBLAS path of gemm()
  std::unique_ptr<CudaAllocator> allocator_;
  // Deferred range checks (check_range): per pending check, the first bad position (ULLONG_MAX:
  // none) and its value in device memory, and the message parts on the host. Raised by
  // raise_deferred_failures() once the stream is synchronised (copy_to_host).
  static constexpr size_t kMaxDeferredChecks = 64;
  unsigned long long* deferred_first_ = nullptr;  // (kMaxDeferredChecks)
  long long* deferred_value_ = nullptr;           // (kMaxDeferredChecks)
  std::vector<RangeCheck> deferred_checks_;
  void raise_deferred_failures();
};

}  // namespace st
