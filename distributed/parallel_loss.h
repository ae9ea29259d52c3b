// The loss of one micro-batch under a process grid, normalised so that the synchronised
// gradients (summed over SP, averaged over DP by GradientSync) equal those of the mean loss
// over the whole global batch: each rank's root is its summed cross-entropy x dp / (number of
// counted targets over all ranks). Ranks without logits (SP ranks other than the first, for
// classification) use the model's zero_loss so that their share of backward still runs.
// Everything stays on the model's device: the sums and counts are all-reduced there over `world`
// (a communicator of the whole grid that takes the device's tensors: the run's gradient
// communicator) and nothing is read back (core/tensor/host_reads.h); read `mean` when the value
// is needed.
#pragma once
#include "core/nn/model.h"
#include "distributed/process_grid.h"

namespace st {

struct ParallelLoss {
  Tensor root;     // call backward() on this, on every rank
  Tensor mean;     // () f64: the global mean loss (same on every rank; 0 when nothing is counted)
  Tensor counted;  // () f64: targets counted over all ranks
  // (2) f64, this rank's [targets whose first largest logit is theirs, counted targets], from the
  // loss's own pass (classification, retrieval, language models); undefined for the embedding
  // task and on ranks without output.
  Tensor local_hits;
};

ParallelLoss parallel_loss(const SimpleTronModel& model, const ModelOutput& out, const Tensor& targets,
                           const ProcessGrid& grid, Communicator& world);

}  // namespace st
