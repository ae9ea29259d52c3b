// Graph recording, the backward engine, and the Tensor methods that touch autograd state.
#include "core/autograd/autograd.h"
#include "core/autograd/part_times.h"

#include <atomic>
#include <map>
#include <queue>
#include <unordered_map>

#include "core/backend/backend.h"
#include "core/ops/ops.h"

namespace st {

namespace {
thread_local bool g_grad_enabled = true;
std::atomic<uint64_t> g_sequence{0};

AutogradMeta& meta_of(const Tensor& t) {
  auto& impl = t.impl();
  if (!impl.autograd) impl.autograd = std::make_shared<AutogradMeta>();
  return *impl.autograd;
}

std::shared_ptr<Node> edge_of(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  AutogradMeta& m = *t.impl().autograd;
  if (m.grad_fn) return m.grad_fn;
  if (!m.accumulator) {
    m.accumulator = std::make_shared<Node>();
    m.accumulator->name = "accumulate_grad";
    m.accumulator->input_shapes = {t.shape()};
    m.accumulator->accumulates = true;
    m.accumulator->leaf = t.impl().autograd;
  }
  return m.accumulator;
}

std::vector<Tensor> gradients_from(const std::shared_ptr<Node>& start, const Tensor& grad,
                                   const std::vector<Tensor>& leaves);

void accumulate_into_leaf(AutogradMeta& leaf, const Tensor& g) {
  NoGradGuard no_grad;
  if (!leaf.grad.defined()) {
    leaf.grad = g.contiguous().clone();
  } else {
    backend_for(leaf.grad.device()).accumulate(leaf.grad, g.contiguous());
  }
  for (auto& hook : leaf.hooks) hook(leaf.grad);
}
}  // namespace

bool grad_mode_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
GradModeGuard::GradModeGuard(bool enabled) : previous_(g_grad_enabled) { g_grad_enabled = enabled; }
GradModeGuard::~GradModeGuard() { g_grad_enabled = previous_; }

Tensor record(Tensor output, const char* name, const std::vector<Tensor>& inputs,
              BackwardFn fn) {
  if (!g_grad_enabled) return output;
  bool any = false;
  for (const Tensor& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any) return output;
  auto node = std::make_shared<Node>();
  node->sequence = ++g_sequence;
  node->name = name;
  node->part = static_cast<uint8_t>(current_model_part());
  node->backward = std::move(fn);
  for (const Tensor& t : inputs) {
    node->next.push_back(edge_of(t));
    node->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
  }
  // The output must not share autograd state with an input (views get fresh impls).
  node->output_shape = output.shape();
  node->output_dtype = output.dtype();
  node->output_device = output.device();
  auto fresh = std::make_shared<TensorImpl>(output.impl());
  fresh->autograd = std::make_shared<AutogradMeta>();
  fresh->autograd->requires_grad = true;
  fresh->autograd->grad_fn = std::move(node);
  return Tensor(std::move(fresh));
}

Tensor record_collective(Tensor output, const char* name, const std::vector<Tensor>& inputs,
                         BackwardFn fn) {
  Tensor out = record(std::move(output), name, inputs, std::move(fn));
  if (out.impl().autograd && out.impl().autograd->grad_fn) out.impl().autograd->grad_fn->collective = true;
  return out;
}

Tensor checkpoint(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& params,
                  CheckpointFn fn, bool collective) {
  bool any = false;
  for (const Tensor& t : inputs) any = any || (t.defined() && t.requires_grad());
  for (const Tensor& p : params) any = any || (p.defined() && p.requires_grad());
  if (!g_grad_enabled || !any) return fn(inputs);
  std::vector<Tensor> saved;  // detached: the node must not own the graph that produced them
  std::vector<bool> wants;    // which inputs get a gradient
  for (const Tensor& t : inputs) {
    saved.push_back(t.defined() ? t.detach() : t);
    wants.push_back(t.defined() && t.requires_grad());
  }
  Tensor y;
  {
    NoGradGuard no_grad;
    y = fn(saved);
  }
  // The node's inputs are `inputs` then `params`: the parameters' gradients leave the rerun as
  // the node's gradients, so the engine sums them into their accumulators exactly as it sums
  // the gradients of the unscoped graph (a parameter used by several scopes, or by a scope and
  // other ops, gets the same sum in the same order).
  std::vector<Tensor> node_inputs = inputs;
  node_inputs.insert(node_inputs.end(), params.begin(), params.end());
  BackwardFn back = [fn, saved, wants, params](const Tensor& g) {
    std::vector<Tensor> leaves;  // fresh leaves per rerun
    for (size_t i = 0; i < saved.size(); ++i) {
      Tensor leaf = saved[i].defined() ? saved[i].detach() : saved[i];
      if (wants[i]) leaf.set_requires_grad(true);
      leaves.push_back(leaf);
    }
    Tensor out;
    {
      GradModeGuard recording(true);
      out = fn(leaves);
    }
    ST_CHECK(out.shape() == g.shape(), "checkpoint: the rerun produced shape ", out.shape(),
             ", the first run ", g.shape());
    std::vector<Tensor> wrt = leaves;
    wrt.insert(wrt.end(), params.begin(), params.end());
    if (!out.requires_grad()) return std::vector<Tensor>(wrt.size());
    return gradients(out, g, wrt);
  };
  return collective ? record_collective(y, name, node_inputs, back) : record(y, name, node_inputs, back);
}

Tensor map_slices(const char* name, const Tensor& x, int axis, int64_t len, const std::vector<Tensor>& params,
                  SliceFn fn, bool recompute) {
  ST_CHECK(len >= 1, "map_slices: slice length must be positive, got ", len);
  const int64_t n = x.size(axis);
  struct Slice {
    int64_t start = 0, size = 0;
    Tensor leaf;                // without recompute: the slice's input leaf
    std::shared_ptr<Node> root;  // and the node of its output (the output's values are not kept)
  };
  auto slices = std::make_shared<std::vector<Slice>>();
  for (int64_t s = 0; s < n || (n == 0 && s == 0); s += len) slices->push_back({s, std::min(len, n - s), {}, {}});
  bool any = x.requires_grad();
  for (const Tensor& p : params) any = any || (p.defined() && p.requires_grad());
  const bool record_graph = g_grad_enabled && any;
  const bool x_wants = x.requires_grad();
  Tensor xd = x.detach();
  std::vector<Tensor> outs;
  for (Slice& sl : *slices) {
    Tensor piece = slices->size() == 1 ? xd : xd.narrow(axis, sl.start, sl.size);
    if (!record_graph || recompute) {
      NoGradGuard no_grad;
      outs.push_back(fn(piece, sl.start));
    } else {
      sl.leaf = piece.detach();
      if (x_wants) sl.leaf.set_requires_grad(true);
      Tensor out = fn(sl.leaf, sl.start);
      if (out.requires_grad()) sl.root = edge_of(out);
      outs.push_back(out.detach());
    }
  }
  Tensor y;
  {
    NoGradGuard no_grad;
    y = outs.size() == 1 ? outs[0] : concat(outs, axis);
  }
  if (!record_graph) return y;
  std::vector<Tensor> node_inputs{x};
  node_inputs.insert(node_inputs.end(), params.begin(), params.end());
  BackwardFn back = [slices, fn, xd, axis, params, recompute, x_wants, label = std::string(name)](const Tensor& g) {
    std::vector<Tensor> grads(1 + params.size());
    Tensor gx;
    if (x_wants) {
      NoGradGuard no_grad;
      gx = slices->size() == 1 ? Tensor() : Tensor::zeros(xd.shape(), g.dtype(), g.device());
    }
    for (size_t c = slices->size(); c-- > 0;) {
      Slice& sl = (*slices)[c];
      Tensor leaf = std::move(sl.leaf);  // released with this slice
      std::shared_ptr<Node> root = std::move(sl.root);
      if (recompute) {
        leaf = (slices->size() == 1 ? xd : xd.narrow(axis, sl.start, sl.size)).detach();
        if (x_wants) leaf.set_requires_grad(true);
        GradModeGuard recording(true);
        Tensor out = fn(leaf, sl.start);
        if (out.requires_grad()) root = edge_of(out);
      } else {
        ST_CHECK(leaf.defined(), "backward: the graph through '", label, "' was already freed");
      }
      if (!root) continue;  // the slice's output does not depend on anything that needs a gradient
      Tensor g_slice = slices->size() == 1 ? g : g.narrow(axis, sl.start, sl.size).contiguous();
      std::vector<Tensor> wrt{leaf};
      wrt.insert(wrt.end(), params.begin(), params.end());
      std::vector<Tensor> gs = gradients_from(root, g_slice, wrt);
      NoGradGuard no_grad;
      if (x_wants && gs[0].defined()) {
        if (slices->size() == 1) gx = gs[0];
        else copy_into(gx.narrow(axis, sl.start, sl.size), gs[0]);
      }
      for (size_t i = 0; i < params.size(); ++i) {
        const Tensor& gp = gs[i + 1];
        if (!gp.defined()) continue;
        grads[i + 1] = grads[i + 1].defined() ? add(grads[i + 1], gp) : gp;
      }
    }
    grads[0] = gx;
    return grads;
  };
  return record(y, name, node_inputs, back);
}

namespace {
// The backward engine. captured: null, or the leaves whose gradients are returned (in
// (*captured)[leaf]) instead of accumulated into their .grad.
void check_root(const Tensor& root, const Tensor& grad) {
  ST_CHECK(root.requires_grad(), "backward: the tensor of shape ", root.shape(),
           " does not require grad (no input of its graph requires grad)");
  ST_CHECK(grad.shape() == root.shape(), "backward: gradient shape ", grad.shape(),
           " differs from the tensor's shape ", root.shape());
}

// start: the node that produced the root (its grad_fn, or a leaf's accumulator); grad has the
// root's shape.
void run_engine(const std::shared_ptr<Node>& start, const Tensor& grad, bool retain_graph,
                std::unordered_map<AutogradMeta*, Tensor>* captured) {
  NoGradGuard no_grad;

  // Count, for every reachable node, how many edges lead into it.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack{start.get()};
  pending[start.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& nx : n->next) {
      if (!nx) continue;
      auto [it, inserted] = pending.try_emplace(nx.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(nx.get());
    }
  }

  std::unordered_map<Node*, Tensor> buffers;
  auto cmp = [](Node* a, Node* b) { return a->sequence < b->sequence; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(cmp)> ready(cmp);
  std::map<Node*, std::shared_ptr<Node>> keep_alive;  // nodes may be freed by released closures

  auto deliver = [&](Node* n, const Tensor& g) {
    if (!g.defined()) return;
    auto it = buffers.find(n);
    if (it == buffers.end() || !it->second.defined()) {
      buffers[n] = g;
    } else {
      it->second = add(it->second, g);
    }
  };

  std::function<void(Node*)> on_ready = [&](Node* n) {
    if (n->accumulates) {  // leaf accumulators run at once: their gradient is final now
      auto it = buffers.find(n);
      std::shared_ptr<AutogradMeta> leaf = n->leaf.lock();  // null: the leaf tensor is gone
      bool has = it != buffers.end() && it->second.defined();
      auto slot = captured && leaf ? captured->find(leaf.get()) : decltype(captured->end()){};
      if (captured && leaf && slot != captured->end()) {
        if (has) slot->second = it->second;
      } else if (leaf && has) {
        accumulate_into_leaf(*leaf, it->second);
      }
      buffers.erase(n);
    } else {
      ready.push(n);
    }
  };

  deliver(start.get(), grad);
  keep_alive[start.get()] = start;
  on_ready(start.get());
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    Tensor g = buffers[n];
    buffers.erase(n);
    if (!g.defined() && n->collective)
      g = Tensor::zeros(n->output_shape, n->output_dtype, n->output_device);
    std::vector<Tensor> grads;
    if (g.defined()) {
      ST_CHECK(n->backward, "backward: the graph through '", n->name,
               "' was already freed; pass retain_graph=true to backward twice");
      {
        PassScope timed(Pass::Backward, static_cast<ModelPart>(n->part));
        grads = n->backward(g);
      }
      ST_CHECK(grads.size() == n->next.size(), "backward of '", n->name, "' returned ",
               grads.size(), " gradients for ", n->next.size(), " inputs");
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* nx = n->next[i].get();
      if (!nx) continue;
      keep_alive[nx] = n->next[i];
      if (i < grads.size() && grads[i].defined()) {
        ST_CHECK(grads[i].shape() == n->input_shapes[i], "backward of '", n->name,
                 "': gradient of input ", i, " has shape ", grads[i].shape(), ", expected ",
                 n->input_shapes[i]);
        deliver(nx, grads[i]);
      }
      if (--pending[nx] == 0) on_ready(nx);
    }
    if (!retain_graph) n->backward = nullptr;
  }
}
}  // namespace

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  PassScope backward_pass(Pass::Backward, ModelPart::Other);  // the engine's own work: backward, other
  check_root(root, grad);
  run_engine(edge_of(root), grad, retain_graph, nullptr);
}

namespace {
// gradients() from the node that produced the root (the root tensor itself need not be kept).
std::vector<Tensor> gradients_from(const std::shared_ptr<Node>& start, const Tensor& grad,
                                   const std::vector<Tensor>& leaves) {
  std::unordered_map<AutogradMeta*, Tensor> captured;
  for (const Tensor& t : leaves) {
    if (!t.defined() || !t.requires_grad()) continue;
    ST_CHECK(t.is_leaf(), "gradients: only leaf tensors can be asked for (got the output of '",
             t.impl().autograd->grad_fn->name, "')");
    captured.emplace(t.impl().autograd.get(), Tensor());
  }
  run_engine(start, grad, /*retain_graph=*/false, &captured);
  std::vector<Tensor> out;
  for (const Tensor& t : leaves)
    out.push_back(t.defined() && t.requires_grad() ? captured[t.impl().autograd.get()] : Tensor());
  return out;
}
}  // namespace

std::vector<Tensor> gradients(const Tensor& root, const Tensor& grad, const std::vector<Tensor>& leaves) {
  check_root(root, grad);
  return gradients_from(edge_of(root), grad, leaves);
}

// ---- Tensor methods for autograd ----------------------------------------------------------

bool Tensor::requires_grad() const {
  return impl_ && impl_->autograd && impl_->autograd->requires_grad;
}

Tensor& Tensor::set_requires_grad(bool value) {
  ST_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can change requires_grad");
  ST_CHECK(!value || is_floating(dtype()), "set_requires_grad: ", dtype(),
           " tensors cannot require grad");
  meta_of(*this).requires_grad = value;
  return *this;
}

bool Tensor::is_leaf() const { return !(impl().autograd && impl().autograd->grad_fn); }

Tensor Tensor::grad() const { return impl().autograd ? impl().autograd->grad : Tensor(); }

void Tensor::zero_grad() {
  if (impl().autograd) impl().autograd->grad = Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  ST_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient shape ", g.shape(),
           " differs from the tensor's shape ", shape());
  meta_of(*this).grad = g;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  Tensor g = grad;
  if (!g.defined()) {
    ST_CHECK(numel() == 1, "backward: called without a gradient on a non-scalar tensor of shape ",
             shape(), "; pass a gradient of that shape");
    g = Tensor::ones(shape(), dtype(), device());
  }
  run_backward(*this, g, retain_graph);
}

Tensor Tensor::detach() const {
  auto fresh = std::make_shared<TensorImpl>(impl());
  fresh->autograd = nullptr;
  return Tensor(std::move(fresh));
}

void Tensor::register_grad_ready_hook(std::function<void(const Tensor&)> hook) {
  ST_CHECK(is_leaf() && requires_grad(),
           "register_grad_ready_hook: only leaves that require grad have a final gradient");
  meta_of(*this).hooks.push_back(std::move(hook));
}

}  // namespace st
