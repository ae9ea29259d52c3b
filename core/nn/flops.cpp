// Nominal training FLOPs of a step (flops.h).
#include "core/nn/flops.h"

namespace st {

double training_flops(const ModelConfig& cfg, int64_t batch, int64_t positions) {
  const double B = static_cast<double>(batch), P = static_cast<double>(positions), T = B * P;
  const double d = static_cast<double>(cfg.d_model), dq = static_cast<double>(cfg.qkv_dim());
  const double dh = static_cast<double>(cfg.head_dim()), ff = static_cast<double>(cfg.d_ff);
  // Multiply-adds of one block's forward.
  double projections = T * (3 * d * dq + (cfg.out_proj ? dq * d : 0));
  double ffn = T * 2 * d * ff;
  double attention = cfg.attention == AttentionKind::Softmax ? 2 * B * P * P * dq  // H heads of P^2 d_h, twice
                                                              : 2 * T * dq * dh;   // H heads of P d_h^2, twice
  double macs = static_cast<double>(cfg.layers) * (projections + ffn + attention);
  if (cfg.task == TaskKind::LanguageModel) macs += T * d * static_cast<double>(cfg.vocab_size);
  return 3 * 2 * macs;  // forward 2 per multiply-add; backward twice the forward
}

}  // namespace st
