// AdamW with decoupled weight decay (torch.optim.AdamW semantics), global-norm gradient
// clipping, and the parameter groups that exclude biases, LayerNorm and embeddings from decay.
// Moments m, v are f32 tensors shaped like their parameters; step() updates in place.
#pragma once
#include <functional>
#include <memory>
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

// AdamW's state as a checkpoint stores it, independent of how a run holds it: the step count and,
// per parameter in parameter order, the moments at the parameter's full shape.
struct AdamWState {
  int64_t step = 0;
  std::vector<std::string> names;
  std::vector<Tensor> m, v;
  // The index of `name`, or -1.
  int64_t find(const std::string& name) const;
};

// AdamW's moments handed over a group of parameters at a time, so that whoever writes them
// need not hold them all at once (a sharded optimizer gathers one gradient bucket at a time).
class MomentStream {
 public:
  using Take = std::function<void(const std::string& name, const Tensor& m, const Tensor& v)>;
  virtual ~MomentStream() = default;
  virtual int64_t step() const = 0;  // the optimizer's step count
  // Hands the next group to `take`, full-size moments per parameter (valid during the call);
  // false once every group has been handed over. Collective for a sharded optimizer: every rank
  // calls it the same number of times (ranks that keep nothing pass a `take` that ignores them).
  virtual bool next(const Take& take) = 0;
};
// Runs a stream to its end, keeping nothing: the calls a rank still owes the others after it
// stopped reading (a failed write), or on a rank that does not write.
void skip_rest(MomentStream& stream);
// A stream over a state held whole (one parameter per call).
std::unique_ptr<MomentStream> stream_of(AdamWState state);

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, Tensor>> params, const AdamWConfig& cfg);
  // One update with learning rate lr from the parameters' current .grad (a parameter without a
  // gradient is left unchanged, its moments too): one multi-tensor kernel over all parameters
  // (Backend::adamw_update_many). Increments step_count() first.
  void step(double lr);
  // The same update from the given gradients, one per slot in slot order (an undefined one
  // leaves its slot unchanged), instead of the parameters' .grad: for parameters that are views
  // of a larger one, whose gradient lives elsewhere (distributed/zero1.h).
  void step(double lr, const std::vector<Tensor>& grads);
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

  // The state a checkpoint holds (views of the moments, nothing copied), and its load: the
  // moments are copied in by slot name, and every slot must be present with its shape.
  AdamWState state() const;
  void load_state(const AdamWState& state);

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
// The same two on a list of gradient tensors (undefined ones skipped) instead of parameters' .grad.
Tensor sum_of_squares(const std::vector<Tensor>& tensors);
void scale_to_norm(const std::vector<Tensor>& tensors, double norm, double max_norm);

}  // namespace st
