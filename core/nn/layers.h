// Basic layers: Linear (weight [out, in] as in PyTorch), LayerNorm, Dropout sites and the
// Transformer FFN. Shapes: x (..., in) -> (..., out).
#pragma once
#include <cstdint>

#include "core/nn/context.h"
#include "core/nn/module.h"
#include "core/ops/ops.h"
#include "core/tensor/enum_names.h"

namespace st {

// Deterministic initialisation: each call hands out the next seed of a base seed, so a model
// built from the same config and seed has the same weights.
class InitStream {
 public:
  explicit InitStream(uint64_t seed) : seed_(seed) {}
  uint64_t next() { return seed_ * 1000003ull + ++count_; }
  // Dropout sites get consecutive ids in construction order.
  uint32_t next_site() { return ++sites_; }

 private:
  uint64_t seed_;
  uint64_t count_ = 0;
  uint32_t sites_ = 0;
};

constexpr double kInitStd = 0.02;

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, InitStream& init);
  Tensor forward(const Tensor& x) const;  // (..., in) -> (..., out)
  Tensor weight, bias;                    // (out, in), (out) or undefined
};

class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, double eps);
  Tensor forward(const Tensor& x) const;  // (..., dim)
  Tensor weight, bias;
  double eps;
};

// A dropout site: its id makes its random stream distinct from every other site's.
class Dropout {
 public:
  Dropout(float p, InitStream& init) : p_(p), site_(init.next_site()) {}
  // x (B, N, ...): the sequence axis 1 is mapped to global positions under sequence parallelism.
  Tensor forward(const Tensor& x, const RunContext& ctx, bool training, bool sequence_axis = true) const;
  // residual + forward(x, ctx, training) in one kernel (dropout_add), with the same mask.
  Tensor forward_add(const Tensor& x, const Tensor& residual, const RunContext& ctx,
                     bool training) const;
  float p() const { return p_; }

 private:
  RngKey key(const RunContext& ctx) const { return RngKey{ctx.seed, ctx.step, site_}; }
  // The global numbering of x's elements under data / sequence parallelism (identity when the
  // batch and the sequence are not split).
  GlobalIndexMap index_map(const Tensor& x, const RunContext& ctx, bool sequence_axis) const;

  float p_;
  uint32_t site_;
};

enum class FfnActivation : uint8_t { GeluTanh, GeluErf, Relu, Tanh };
// Config names (model.activation, model.head_activation): "gelu" is the erf form.
inline constexpr EnumNames<FfnActivation, 4> kFfnActivationNames{{{{"gelu", FfnActivation::GeluErf},
                                                                   {"gelu_tanh", FfnActivation::GeluTanh},
                                                                   {"relu", FfnActivation::Relu},
                                                                   {"tanh", FfnActivation::Tanh}}}};

class FeedForward : public Module {
 public:
  FeedForward(int64_t d, int64_t d_ff, float dropout, FfnActivation act, InitStream& init);
  Tensor forward(const Tensor& x, const RunContext& ctx) const;  // (B, N, d)
  Linear* fc1;
  Linear* fc2;

 private:
  Dropout drop_;
  FfnActivation act_;
};

Tensor activate(const Tensor& x, FfnActivation act);

}  // namespace st
