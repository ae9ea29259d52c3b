// AdamW with decoupled weight decay (torch.optim.AdamW semantics), global-norm gradient
// clipping, and the parameter groups that exclude biases, LayerNorm and embeddings from decay.
// Moments m, v are f32 tensors shaped like their parameters; step() updates in place.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/tensor/tensor.h"

namespace st {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;
  bool decay_biases = false;      // parameters named *.bias
  bool decay_layernorm = false;   // LayerNorm weights (ln1, ln2, final_ln, embed.ln)
  bool decay_embeddings = false;  // embed.tokens, embed.positions, embed.cls
};

// Whether weight decay applies to a parameter of this name under cfg.
bool decays(const std::string& name, const AdamWConfig& cfg);

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, Tensor>> params, const AdamWConfig& cfg);
  // One update with learning rate lr from the parameters' current .grad (a parameter without a
  // gradient is left unchanged, its moments too): one multi-tensor kernel over all parameters
  // (Backend::adamw_update_many). Increments step_count() first.
  void step(double lr);
  void zero_grad();
  int64_t step_count() const { return step_; }
  const AdamWConfig& config() const { return cfg_; }

  // State for checkpoints: (name, m, v) per parameter, in parameter order.
  struct Slot {
    std::string name;
    Tensor param, m, v;
    bool decay;
  };
  const std::vector<Slot>& slots() const { return slots_; }
  void set_step_count(int64_t s) { step_ = s; }

 private:
  std::vector<Slot> slots_;
  AdamWConfig cfg_;
  int64_t step_ = 0;
};

// Global L2 norm of all gradients (deterministic order); when above max_norm (> 0), scales
// every gradient by max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_ does. Returns
// the norm before clipping. Parameters without a gradient are skipped. One sum-of-squares
// kernel and one device-to-host read, then one multi-tensor scale (per device and dtype).
// It is grad_sum_of_squares, the read, then clip_grads_to.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);
// The sum of squares of every gradient, () f64 on the first gradient's device (f64 zeros on the
// CPU when there is none); nothing is read back. Its square root is the global norm.
Tensor grad_sum_of_squares(const std::vector<Tensor>& params);
// The clipping of clip_grad_norm for a norm already known on the host.
void clip_grads_to(const std::vector<Tensor>& params, double norm, double max_norm);

}  // namespace st
