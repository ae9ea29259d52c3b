// Differentiable collectives over a Communicator (sequence parallelism).
//   all_reduce_sum:        y = sum_r x_r;              dx = sum_r dy_r
//   exclusive_prefix_sum:  y_r = sum_{r' < r} x_r';    dx_r = sum_{r' > r} dy_r'
// Both are recorded as collective nodes: their backward runs on every rank even without a
// local gradient, so the ranks' collective calls stay matched.
#include "core/comm/communicator.h"
#include "core/ops/op_util.h"

namespace st {

Tensor all_reduce_sum(const Tensor& x, Communicator& comm) {
  Tensor y = x.detach().contiguous().clone();
  if (comm.size() > 1) comm.all_reduce_sum(y);
  Communicator* c = &comm;
  return record_collective(y, "all_reduce_sum", {x}, [c](const Tensor& g) {
    Tensor gc = g.contiguous().clone();
    if (c->size() > 1) c->all_reduce_sum(gc);
    return std::vector<Tensor>{gc};
  });
}

namespace {
// Sum of rows [lo, hi) of gathered (P, ...) -> (...).
Tensor sum_rows(const Tensor& gathered, int64_t lo, int64_t hi, const Shape& shape) {
  if (hi <= lo) return Tensor::zeros(shape, gathered.dtype(), gathered.device());
  return sum(gathered.narrow(0, lo, hi - lo), {0});
}
}  // namespace

Tensor exclusive_prefix_sum(const Tensor& x, Communicator& comm) {
  int P = comm.size(), r = comm.rank();
  Shape shape = x.shape();
  Tensor y;
  {
    NoGradGuard ng;
    Shape gs = shape;
    gs.insert(gs.begin(), P);
    Tensor gathered = Tensor::empty(gs, x.dtype(), x.device());
    comm.all_gather(x.detach().contiguous(), gathered);
    y = sum_rows(gathered, 0, r, shape).contiguous();
  }
  Communicator* c = &comm;
  return record_collective(y, "exclusive_prefix_sum", {x}, [c, P, r, shape](const Tensor& g) {
    Shape gs = shape;
    gs.insert(gs.begin(), P);
    Tensor gathered = Tensor::empty(gs, g.dtype(), g.device());
    c->all_gather(g.contiguous(), gathered);
    return std::vector<Tensor>{sum_rows(gathered, r + 1, P, shape).contiguous()};
  });
}

}  // namespace st
