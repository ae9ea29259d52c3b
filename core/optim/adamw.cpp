// AdamW and gradient clipping; the per-element update is core/math/adamw.h.
#include "core/optim/adamw.h"

#include <algorithm>
#include <cmath>

#include "core/backend/backend.h"
#include "core/ops/ops.h"

namespace st {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool is_layernorm(const std::string& name) {
  for (const char* part : {".ln1.", ".ln2.", "final_ln.", "embed.ln."})
    if (name.find(part) != std::string::npos) return true;
  return false;
}
}  // namespace

bool decays(const std::string& name, const AdamWConfig& cfg) {
  if (is_layernorm(name)) return cfg.decay_layernorm;
  if (ends_with(name, ".bias")) return cfg.decay_biases;
  if (name.rfind("embed.", 0) == 0) return cfg.decay_embeddings;
  return true;
}

AdamW::AdamW(std::vector<std::pair<std::string, Tensor>> params, const AdamWConfig& cfg) : cfg_(cfg) {
  ST_CHECK(cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1,
           "optimizer: betas must be in [0, 1), got ", cfg.beta1, ", ", cfg.beta2);
  ST_CHECK(cfg.eps > 0, "optimizer.eps: must be positive, got ", cfg.eps);
  ST_CHECK(cfg.weight_decay >= 0, "optimizer.weight_decay: must not be negative, got ", cfg.weight_decay);
  for (auto& [name, p] : params) {
    ST_CHECK(p.dtype() == DType::F32 && p.is_contiguous(), "optimizer: parameter '", name,
             "' must be contiguous f32, got ", p.dtype(), " ", p.shape());
    slots_.push_back({name, p, Tensor::zeros(p.shape(), DType::F32, p.device()),
                      Tensor::zeros(p.shape(), DType::F32, p.device()), decays(name, cfg)});
  }
}

void AdamW::step(double lr) {
  std::vector<Tensor> grads;
  grads.reserve(slots_.size());
  for (const Slot& slot : slots_) grads.push_back(slot.param.grad());
  step(lr, grads);
}

void AdamW::step(double lr, const std::vector<Tensor>& grads) {
  ST_CHECK(grads.size() == slots_.size(), "AdamW::step: ", grads.size(), " gradients for ", slots_.size(),
           " parameters");
  ++step_;
  AdamWStep s;
  s.lr = static_cast<float>(lr);
  s.beta1 = static_cast<float>(cfg_.beta1);
  s.beta2 = static_cast<float>(cfg_.beta2);
  s.eps = static_cast<float>(cfg_.eps);
  s.bias_correction1 = static_cast<float>(1.0 - std::pow(cfg_.beta1, static_cast<double>(step_)));
  s.bias_correction2 = static_cast<float>(1.0 - std::pow(cfg_.beta2, static_cast<double>(step_)));
  // One multi-tensor update per device (in practice one), parameters in slot order.
  std::vector<std::pair<Device, std::vector<Backend::AdamWTensor>>> per_device;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    const Tensor& g = grads[i];
    if (!g.defined()) continue;
    ST_CHECK(g.numel() == slot.param.numel(), "AdamW::step: gradient of ", g.numel(), " elements for parameter '",
             slot.name, "' of ", slot.param.numel());
    s.weight_decay = slot.decay ? static_cast<float>(cfg_.weight_decay) : 0.0f;
    Device d = slot.param.device();
    auto it = std::find_if(per_device.begin(), per_device.end(),
                           [&](const auto& e) { return e.first == d; });
    if (it == per_device.end()) it = per_device.insert(per_device.end(), {d, {}});
    it->second.push_back({slot.param, slot.m, slot.v, g.contiguous(), s});
  }
  for (auto& [device, list] : per_device) backend_for(device).adamw_update_many(list);
}

int64_t AdamWState::find(const std::string& name) const {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<int64_t>(i);
  return -1;
}

void skip_rest(MomentStream& stream) {
  while (stream.next([](const std::string&, const Tensor&, const Tensor&) {})) {
  }
}

namespace {
class WholeStateStream final : public MomentStream {
 public:
  explicit WholeStateStream(AdamWState state) : state_(std::move(state)) {}
  int64_t step() const override { return state_.step; }
  bool next(const Take& take) override {
    if (at_ >= state_.names.size()) return false;
    take(state_.names[at_], state_.m[at_], state_.v[at_]);
    ++at_;
    return true;
  }

 private:
  AdamWState state_;
  size_t at_ = 0;
};
}  // namespace

std::unique_ptr<MomentStream> stream_of(AdamWState state) {
  return std::make_unique<WholeStateStream>(std::move(state));
}

AdamWState AdamW::state() const {
  AdamWState st;
  st.step = step_;
  for (const Slot& slot : slots_) {
    st.names.push_back(slot.name);
    st.m.push_back(slot.m);
    st.v.push_back(slot.v);
  }
  return st;
}

void AdamW::load_state(const AdamWState& st) {
  // Everything is checked before anything changes.
  std::vector<size_t> at;
  for (const Slot& slot : slots_) {
    int64_t i = st.find(slot.name);
    ST_CHECK(i >= 0, "optimizer state: no moments for parameter '", slot.name, "'");
    ST_CHECK(st.m[static_cast<size_t>(i)].shape() == slot.param.shape() &&
                 st.v[static_cast<size_t>(i)].shape() == slot.param.shape(),
             "optimizer state: moments of '", slot.name, "' are ", st.m[static_cast<size_t>(i)].shape(), ", not ",
             slot.param.shape());
    at.push_back(static_cast<size_t>(i));
  }
  NoGradGuard ng;
  for (size_t k = 0; k < slots_.size(); ++k) {
    copy_into(slots_[k].m, st.m[at[k]].to(slots_[k].m.device()));
    copy_into(slots_[k].v, st.v[at[k]].to(slots_[k].v.device()));
  }
  step_ = st.step;
}

void AdamW::zero_grad() {
  for (Slot& slot : slots_) slot.param.zero_grad();
}

namespace {
// Tensors grouped by (device, dtype) in first-seen order (in practice one group): one
// sum-of-squares kernel and one multi-tensor scale per group.
struct TensorGroup {
  Device device;
  DType dtype;
  std::vector<Tensor> tensors;
};
std::vector<TensorGroup> groups_of(const std::vector<Tensor>& tensors) {
  std::vector<TensorGroup> groups;
  for (const Tensor& g : tensors) {
    if (!g.defined()) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const TensorGroup& e) {
      return e.device == g.device() && e.dtype == g.dtype();
    });
    if (it == groups.end()) it = groups.insert(groups.end(), TensorGroup{g.device(), g.dtype(), {}});
    it->tensors.push_back(g);
  }
  return groups;
}
std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  for (const Tensor& p : params) grads.push_back(p.grad());
  return grads;
}
}  // namespace

Tensor sum_of_squares(const std::vector<Tensor>& tensors) {
  NoGradGuard ng;
  // Each tensor's sum is what sum_all(mul(g, g)) gives; the total adds them in list order,
  // in double, on the device of the first group.
  Tensor total;
  for (const TensorGroup& grp : groups_of(tensors)) {
    std::vector<Tensor> contiguous;
    for (const Tensor& g : grp.tensors) contiguous.push_back(g.contiguous());
    Tensor part = Tensor::empty({}, DType::F64, grp.device);
    backend_for(grp.device).sum_of_squares_into(contiguous, part);
    total = total.defined() ? add(total, part.to(total.device())) : part;
  }
  return total.defined() ? total : Tensor::zeros({}, DType::F64);
}

void scale_to_norm(const std::vector<Tensor>& tensors, double norm, double max_norm) {
  NoGradGuard ng;
  if (!(max_norm > 0 && norm > max_norm)) return;
  double factor = max_norm / (norm + 1e-6);
  for (const TensorGroup& grp : groups_of(tensors)) {
    std::vector<Tensor> in_place;
    for (const Tensor& g : grp.tensors) {
      if (g.is_contiguous()) {
        in_place.push_back(g);
      } else {
        copy_into(g, scale(g, factor));
      }
    }
    backend_for(grp.device).scale_many(in_place, factor);
  }
}

Tensor grad_sum_of_squares(const std::vector<Tensor>& params) { return sum_of_squares(grads_of(params)); }

void clip_grads_to(const std::vector<Tensor>& params, double norm, double max_norm) {
  scale_to_norm(grads_of(params), norm, max_norm);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  double norm = std::sqrt(grad_sum_of_squares(params).item());
  clip_grads_to(params, norm, max_norm);
  return norm;
}

}  // namespace st
