// Linear, LayerNorm, Dropout sites and the FFN.
#include "core/nn/layers.h"

#include "core/autograd/part_times.h"

namespace st {

Linear::Linear(int64_t in, int64_t out, bool with_bias, InitStream& init) {
  ST_CHECK(in > 0 && out > 0, "Linear: sizes must be positive, got in ", in, ", out ", out);
  weight = register_parameter("weight", Tensor::randn({out, in}, init.next(), kInitStd));
  if (with_bias) bias = register_parameter("bias", Tensor::zeros({out}));
}

Tensor Linear::forward(const Tensor& x) const {
  ST_CHECK(x.size(-1) == weight.size(1), "Linear: input ", x.shape(), " does not end in ",
           weight.size(1), " features (weight ", weight.shape(), ")");
  return linear(x, weight, bias);  // one GEMM starting from the bias; W^T is a view, no copy
}

LayerNorm::LayerNorm(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", Tensor::ones({dim}));
  bias = register_parameter("bias", Tensor::zeros({dim}));
}

Tensor LayerNorm::forward(const Tensor& x) const { return layer_norm(x, weight, bias, eps); }

GlobalIndexMap Dropout::index_map(const Tensor& x, const RunContext& ctx,
                                  bool sequence_axis) const {
  GlobalIndexMap map;
  bool batch_split = ctx.batch_global >= 0 && x.dim() >= 1;
  bool seq_split = sequence_axis && ctx.seq_global >= 0 && x.dim() >= 2;
  if (batch_split || seq_split) {
    map.ndim = x.dim();
    Shape global = x.shape();
    if (batch_split) {
      global[0] = ctx.batch_global;
      map.offset[0] = ctx.batch_offset;
    }
    if (seq_split) {
      global[1] = ctx.seq_global;
      map.offset[1] = ctx.seq_offset;
    }
    Strides gs = contiguous_strides(global);
    for (int d = 0; d < x.dim(); ++d) map.global_strides[d] = gs[d];
  }
  return map;
}

Tensor Dropout::forward(const Tensor& x, const RunContext& ctx, bool training,
                        bool sequence_axis) const {
  if (!training || p_ == 0.0f) return x;
  return dropout(x, p_, key(ctx), true, index_map(x, ctx, sequence_axis));
}

Tensor Dropout::forward_add(const Tensor& x, const Tensor& residual, const RunContext& ctx,
                            bool training) const {
  if (!training || p_ == 0.0f) return add(residual, x);
  return dropout_add(x, residual, p_, key(ctx), index_map(x, ctx, /*sequence_axis=*/true));
}

Tensor activate(const Tensor& x, FfnActivation act) {
  switch (act) {
    case FfnActivation::GeluTanh: return gelu(x, GeluKind::Tanh);
    case FfnActivation::GeluErf: return gelu(x, GeluKind::Erf);
    case FfnActivation::Relu: return relu(x);
    case FfnActivation::Tanh: return tanh(x);
  }
  return x;
}

FeedForward::FeedForward(int64_t d, int64_t d_ff, float dropout, FfnActivation act,
                         InitStream& init)
    : drop_(dropout, init), act_(act) {
  fc1 = register_module("fc1", std::make_unique<Linear>(d, d_ff, true, init));
  fc2 = register_module("fc2", std::make_unique<Linear>(d_ff, d, true, init));
}

Tensor FeedForward::forward(const Tensor& x, const RunContext& ctx) const {
  PartScope part(ModelPart::Ffn);
  Tensor a;  // (B, N, d_ff)
  if (act_ == FfnActivation::GeluTanh || act_ == FfnActivation::GeluErf) {
    // fc1's product without its bias, then bias + GELU in one kernel (same parameters).
    GeluKind kind = act_ == FfnActivation::GeluTanh ? GeluKind::Tanh : GeluKind::Erf;
    a = bias_gelu(linear(x, fc1->weight, Tensor()), fc1->bias, kind);
  } else {
    a = activate(fc1->forward(x), act_);
  }
  return fc2->forward(drop_.forward(a, ctx, training()));
}

}  // namespace st
