// The CPU backend: OpenMP loops over the shared per-element functors of core/math, BLAS for
// GEMM. Parallel loops split work so that every output element is computed by one thread in a
// fixed order: results are bitwise identical for any thread count.
#pragma once
#include "core/backend/backend.h"

namespace st {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu(); }

  void fill(const Tensor& dst, double value) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void copy_from_host(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;
  void synchronize() override {}

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
};

}  // namespace st
