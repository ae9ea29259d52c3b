// parallel_loss; see parallel_loss.h.
#include "distributed/parallel_loss.h"

namespace st {

ParallelLoss parallel_loss(const SimpleTronModel& model, const ModelOutput& out, const Tensor& targets,
                           const ProcessGrid& grid) {
  Tensor local_sum;
  int64_t local_count = 0;
  if (out.logits.defined()) local_sum = model.loss_sum(out.logits, targets, &local_count);
  Tensor totals = Tensor::from_vector<double>(
      {local_sum.defined() ? local_sum.item() : 0.0, static_cast<double>(local_count)}, {2});
  grid.world().all_reduce_sum(totals);
  auto t = totals.to_vector<double>();
  ParallelLoss res;
  res.counted = static_cast<int64_t>(t[1]);
  res.mean = res.counted ? t[0] / t[1] : 0.0;
  double factor = res.counted ? static_cast<double>(grid.dp_size()) / t[1] : 0.0;
  res.root = local_sum.defined() ? scale(local_sum, factor) : out.zero_loss;
  return res;
}

}  // namespace st
