// Define-by-run autograd. An op that produces a tensor from inputs that require grad records a
// Node: a backward closure holding only the tensors it needs (saved detached), plus edges to the
// nodes that produced its inputs. Leaves get an accumulator node that adds (+=) into their .grad
// and then fires their grad-ready hooks. Ownership has no cycles: a tensor owns its metadata,
// the metadata owns its grad_fn or accumulator, a node owns the nodes its edges lead to, and an
// accumulator refers back to its leaf's metadata weakly.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor/tensor.h"

namespace st {

struct Node;

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;                            // leaves: accumulated gradient
  std::shared_ptr<Node> grad_fn;          // non-leaves: the node that produced this tensor
  std::shared_ptr<Node> accumulator;      // leaves: created on first use, owned here
  std::vector<std::function<void(const Tensor&)>> hooks;  // leaves: grad-ready hooks
};

// Maps the gradient of a node's output to gradients of its inputs (undefined = no gradient).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  uint64_t sequence = 0;     // creation order; backward runs later nodes first
  std::string name;          // op name, for error messages
  std::vector<std::shared_ptr<Node>> next;  // one per input; null when that input needs no grad
  std::vector<Shape> input_shapes;
  BackwardFn backward;       // empty for accumulators
  bool accumulates = false;            // an accumulator: adds its gradient into `leaf`
  std::weak_ptr<AutogradMeta> leaf;    // accumulators: the leaf's metadata (not owned)
  // Collective ops must run their backward on every rank, in the same order, even when no
  // gradient reached them here: the engine then passes zeros of the output's shape.
  bool collective = false;
  Shape output_shape;
  DType output_dtype = DType::F32;
  Device output_device;
  uint8_t part = 0;  // the ModelPart current when it was recorded (core/autograd/part_times.h)
};

// Records `fn` as the backward of `output` computed from `inputs` when grad mode is on and some
// input requires grad. Returns output (now carrying the node). fn must save detached tensors.
Tensor record(Tensor output, const char* name, const std::vector<Tensor>& inputs, BackwardFn fn);
// The same for a collective op (see Node::collective).
Tensor record_collective(Tensor output, const char* name, const std::vector<Tensor>& inputs,
                         BackwardFn fn);

bool grad_mode_enabled();

// Sets grad mode to `enabled` in its scope (thread-local), restoring the previous mode after.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled);
  ~GradModeGuard();
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// Disables recording in its scope (thread-local).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// A checkpoint scope (activation recompute): y = fn(inputs) runs without recording a graph, so
// none of fn's intermediate tensors is kept; the scope records one node that saves only
// `inputs`. Its backward runs fn again on them with recording on and backpropagates the incoming
// gradient through that second run: parameters fn reads get their gradients (+=) there, and the
// node returns the gradients of `inputs`. fn must compute the same values both times (dropout
// masks are functions of (seed, step, site, index), not of a running generator), so gradients
// equal those of the unscoped graph bitwise. `params`: every leaf fn reads that needs a gradient
// (e.g. Module::parameters()); their gradients leave the rerun through the node, so the engine
// sums them with the parameters' other uses as it would without the scope. collective:
// fn holds collective ops, so the node runs its backward on every rank (see Node::collective).
using CheckpointFn = std::function<Tensor(const std::vector<Tensor>& inputs)>;
Tensor checkpoint(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& params,
                  CheckpointFn fn, bool collective);

// y = concat over s of fn(x.narrow(axis, s, len_s), s): fn applied to consecutive slices of x
// of `len` along `axis` (the last one shorter), for maps that act on each slice alone (a
// per-token sublayer). One node: its backward runs each slice's backward in turn, last slice
// first, writes the slice's input gradient into one buffer (no full-size tensor per slice), and
// sums the parameters' gradients over the slices in that order, so the working set of the
// backward is one slice's. recompute: no slice keeps its graph; each slice runs again inside the
// backward (as checkpoint() does). With or without recompute the gradients are bitwise the same.
// params as in checkpoint(). Without recompute the first backward frees the slices' graphs
// (retain_graph does not keep them); with recompute every backward reruns them.
using SliceFn = std::function<Tensor(const Tensor& slice, int64_t start)>;
Tensor map_slices(const char* name, const Tensor& x, int axis, int64_t len, const std::vector<Tensor>& params,
                  SliceFn fn, bool recompute);

// Runs backward from `root` with gradient `grad` (same shape as root). Deterministic: nodes run
// in decreasing creation order once all their consumers have run; leaf accumulators run as soon
// as their gradient is final.
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);
// The same backward pass, but the gradients of `leaves` (leaf tensors; undefined for those that
// do not require grad or that the pass did not reach) are returned instead of accumulated into
// their .grad, and their grad-ready hooks do not fire. Other leaves accumulate as usual. The
// graph is freed.
std::vector<Tensor> gradients(const Tensor& root, const Tensor& grad, const std::vector<Tensor>& leaves);

}  // namespace st
