// Linear, LayerNorm, Dropout sites and the FFN.
#include "core/nn/layers.h"

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

Tensor Dropout::forward(const Tensor& x, const RunContext& ctx, bool training,
                        bool sequence_axis) const {
  if (!training || p_ == 0.0f) return x;
  RngKey key{ctx.seed, ctx.step, site_};
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
  return dropout(x, p_, key, true, map);
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
  Tensor h = drop_.forward(activate(fc1->forward(x), act_), ctx, training());
  return fc2->forward(h);
}

}  // namespace st
