// Module parameter registry, state export/import and train/eval switching.
#include "core/nn/module.h"

#include <set>
#include <sstream>

#include "core/autograd/autograd.h"

namespace st {

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  for (auto& [n, _] : params_) ST_CHECK(n != name, "module: parameter '", name, "' registered twice");
  Tensor leaf = value.detach();
  leaf.set_requires_grad(true);
  params_.emplace_back(name, leaf);
  return leaf;
}

void Module::collect(const std::string& prefix,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  for (auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  for (auto& [n, c] : children_) c->collect(prefix + n + ".", out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (auto& [_, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, c] : children_) c->train(on);
}

std::map<std::string, Tensor> Module::state() const {
  std::map<std::string, Tensor> out;
  for (auto& [n, t] : named_parameters()) out[n] = t.detach();
  return out;
}

void Module::load_state(const std::map<std::string, Tensor>& state) {
  auto params = named_parameters();
  std::ostringstream problems;
  std::set<std::string> known;
  for (auto& [n, t] : params) {
    known.insert(n);
    auto it = state.find(n);
    if (it == state.end()) {
      problems << " missing '" << n << "';";
    } else if (it->second.shape() != t.shape()) {
      problems << " '" << n << "' has shape " << it->second.shape() << ", expected " << t.shape()
               << ";";
    }
  }
  for (auto& [n, _] : state)
    if (!known.count(n)) problems << " unexpected '" << n << "';";
  std::string p = problems.str();
  ST_CHECK(p.empty(), "load_state: the state does not fit this model:", p);
  NoGradGuard ng;
  for (auto& [n, t] : params) copy_into(t, state.at(n));
}

void Module::to(Device d) {
  NoGradGuard ng;
  for (auto& [n, t] : named_parameters()) {
    if (t.device() == d) continue;
    Tensor moved = Tensor::empty(t.shape(), t.dtype(), d);
    copy_into(moved, t.detach());
    t.zero_grad();
    TensorImpl& impl = t.impl();  // shared by every handle to this parameter
    impl.storage = moved.impl().storage;
    impl.offset = 0;
    impl.strides = moved.strides();
  }
}

void Module::zero_grad() {
  for (auto& [_, t] : named_parameters()) t.zero_grad();
}

}  // namespace st
