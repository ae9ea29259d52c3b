// parallel_loss; see parallel_loss.h.
#include "distributed/parallel_loss.h"

namespace st {

ParallelLoss parallel_loss(const SimpleTronModel& model, const ModelOutput& out, const Tensor& targets,
                           const ProcessGrid& grid, Communicator& world) {
  Tensor local_sum, local_count, hits;
  bool embedding = model.config().task == TaskKind::Embedding;
  if (out.has_output()) local_sum = model.loss_sum(out, targets, &local_count, embedding ? nullptr : &hits);
  Device device = local_sum.defined() ? local_sum.device() : out.zero_loss.device();
  // (2) f64 on the device: this rank's [loss sum, counted], then the world's.
  Tensor totals = local_sum.defined()
                      ? concat({local_sum.detach().to(DType::F64).reshape({1}), local_count.reshape({1})}, 0)
                      : Tensor::zeros({2}, DType::F64, device);
  world.all_reduce_sum(totals);
  Tensor sum = totals.narrow(0, 0, 1), count = totals.narrow(0, 1, 1);
  // max(count, 1) for a whole-number count: a batch that counts nothing has a zero sum, so its
  // mean and root are 0.
  Tensor at_least_one = add_scalar(relu(add_scalar(count, -1.0)), 1.0);
  ParallelLoss res;
  res.counted = count.reshape({});
  if (hits.defined()) res.local_hits = concat({hits.reshape({1}), local_count.reshape({1})}, 0);
  res.mean = div(sum, at_least_one).reshape({});
  if (local_sum.defined()) {
    Tensor dp = Tensor::full({1}, static_cast<double>(grid.dp_size()), DType::F64, device);
    Tensor factor = div(dp, at_least_one).to(local_sum.dtype()).reshape({});
    res.root = mul(local_sum, factor);
  } else {
    res.root = out.zero_loss;
  }
  return res;
}

}  // namespace st
