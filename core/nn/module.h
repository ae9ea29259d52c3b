// Module: a named tree of parameters. Parameters are listed in a fixed order (registration
// order, depth first) with dotted names ("blocks.0.attn.q.weight"), which checkpoints, the
// optimizer and gradient bucketing rely on. train()/eval() switch dropout on and off.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor/tensor.h"

namespace st {

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  int64_t parameter_count() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  // name -> tensor sharing the parameter's storage.
  std::map<std::string, Tensor> state() const;
  // Copies values in; every parameter must be present with its shape, and no extra names
  // (the error lists missing, unexpected and mismatched names).
  void load_state(const std::map<std::string, Tensor>& state);
  void zero_grad();
  // Moves every parameter to device d in place: each parameter's storage is replaced by a
  // contiguous copy on d, so every handle to it (members, optimizer slots made later) sees the
  // move. Accumulated gradients are dropped. A no-op for parameters already on d.
  void to(Device d);

 protected:
  // Registers a leaf that requires grad; returns the stored handle.
  Tensor register_parameter(const std::string& name, Tensor value);
  template <class M>
  M* register_module(const std::string& name, std::unique_ptr<M> child) {
    M* raw = child.get();
    children_.emplace_back(name, std::move(child));
    return raw;
  }

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace st
