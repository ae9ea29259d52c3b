// ZeRO-1 in every dp x sp layout under mpirun (label mpi; compiled into the equivalence tests,
// whose main() reads --sp): five training steps with dropout and active gradient clipping give
// the same gradient norms, parameters and AdamW moments with the moments sharded over the ranks
// (GradReduce::ReduceScatter + ShardedAdamW) as unsharded (all-reduce + AdamW), to fp32
// rounding; each rank holds its share of the moments; the gathered moments load back exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/nn/model.h"
#include "core/optim/adamw.h"
#include "distributed/data_parallel.h"
#include "distributed/mpi_communicator.h"
#include "distributed/parallel_loss.h"
#include "distributed/zero1.h"
#include "tests/distributed/layout_fixtures.h"

namespace st {
namespace {

// max |a - b| / max |b| over two lists of equally shaped tensors.
double relative_error(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double diff = 0, scale = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    auto x = a[k].to_vector<double>(), y = b[k].to_vector<double>();
    EXPECT_EQ(x.size(), y.size());
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
      diff = std::max(diff, std::fabs(x[i] - y[i]));
      scale = std::max(scale, std::fabs(y[i]));
    }
  }
  return scale > 0 ? diff / scale : diff;
}

bool bitwise_equal(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    auto x = a[k].to_vector<float>(), y = b[k].to_vector<float>();
    if (x.size() != y.size() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) != 0) return false;
  }
  return true;
}

class Zero1 : public ::testing::TestWithParam<Variant> {};

TEST_P(Zero1, StepsMatchUnshardedUpdate) {
  const Variant v = GetParam();
  auto world = MpiCommunicator::world(120.0);
  ProcessGrid grid(world, g_sp);
  ModelConfig cfg = config_for(v);
  grid.validate(cfg, kLen);
  SimpleTronModel plain(cfg), zero(cfg);  // the same initialisation
  // eps 1e-6 as in the equivalence tests: Adam turns rounding-level differences of a gradient
  // that is near zero through cancellation into full-size steps when sqrt(v) << eps.
  AdamWConfig oc{.eps = 1e-6, .weight_decay = 0.01};
  // Small buckets: parameters straddle the ranks' slices, and some ranks own no part of some.
  constexpr int64_t kBucketBytes = 1000;
  GradientSync sync_plain(plain.named_parameters(), grid.world(), grid.dp_size(), kBucketBytes);
  GradientSync sync_zero(zero.named_parameters(), grid.world(), grid.dp_size(), kBucketBytes,
                         GradReduce::ReduceScatter);
  AdamW opt_plain(plain.named_parameters(), oc);
  ShardedAdamW opt_zero(zero.named_parameters(), sync_zero, oc);

  // Each rank holds its share of the moments: all of them once over the world, about 1 / W each.
  int64_t params = plain.parameter_count(), w = grid.world_size();
  Tensor held = Tensor::from_vector<double>({static_cast<double>(opt_zero.state_bytes())}, {1});
  grid.world().all_reduce_sum(held);
  EXPECT_EQ(static_cast<int64_t>(held.item()), 8 * params);
  EXPECT_LE(opt_zero.state_bytes(), 8 * (params / w + static_cast<int64_t>(sync_zero.bucket_count())));

  double worst_norm = 0, worst_param = 0;
  for (uint32_t step = 1; step <= 5; ++step) {
    LayoutBatch batch = layout_batch(v, grid, 700 + step);
    double norms[2] = {0, 0};
    for (int which = 0; which < 2; ++which) {
      SimpleTronModel& m = which ? zero : plain;
      GradientSync& sync = which ? sync_zero : sync_plain;
      RunContext ctx = grid.context(9, step, kBatch, kLen, cfg.uses_cls());
      m.zero_grad();
      ParallelLoss pl = parallel_loss(m, m.run(batch.my_ids, batch.my_ids2, ctx), batch.my_targets, grid, grid.world());
      sync.set_overlap(step % 2 == 1);  // odd steps launch inside backward, even ones in finish()
      sync.begin_backward(true);
      pl.root.backward();
      sync.finish();
      norms[which] = std::sqrt(which ? opt_zero.grad_sum_of_squares().item()
                                     : grad_sum_of_squares(plain.parameters()).item());
      // Half the norm: clipping scales every step's gradient.
      double max_norm = 0.5 * norms[which];
      if (which) {
        opt_zero.clip_grads_to(norms[which], max_norm);
        opt_zero.step(1e-2);
      } else {
        clip_grads_to(plain.parameters(), norms[which], max_norm);
        opt_plain.step(1e-2);
      }
    }
    double e_norm = std::fabs(norms[1] - norms[0]) / norms[0];
    EXPECT_LE(e_norm, 1e-6) << "step " << step << " gradient norm " << norms[1] << " vs " << norms[0];
    double e_param = relative_error(zero.parameters(), plain.parameters());
    EXPECT_LE(e_param, 1e-6) << "step " << step << " parameters";
    worst_norm = std::max(worst_norm, e_norm);
    worst_param = std::max(worst_param, e_param);
  }
  EXPECT_EQ(opt_zero.step_count(), 5);

  // The gathered moments are the unsharded ones; loaded into a fresh sharded optimizer (and
  // into an unsharded one), they come back bitwise.
  AdamWState gathered = opt_zero.gathered_state(/*keep=*/true), ref = opt_plain.state();
  ASSERT_EQ(gathered.names, ref.names);
  EXPECT_EQ(gathered.step, 5);
  double e_m = relative_error(gathered.m, ref.m), e_v = relative_error(gathered.v, ref.v);
  EXPECT_LE(e_m, 1e-6);
  EXPECT_LE(e_v, 1e-5);
  SimpleTronModel other(cfg);
  GradientSync sync_other(other.named_parameters(), grid.world(), grid.dp_size(), kBucketBytes,
                          GradReduce::ReduceScatter);
  ShardedAdamW reloaded(other.named_parameters(), sync_other, oc);
  reloaded.load_state(gathered);
  EXPECT_EQ(reloaded.step_count(), 5);
  AdamWState again = reloaded.gathered_state(/*keep=*/grid.world_rank() == 0);
  if (grid.world_rank() == 0) {
    EXPECT_TRUE(bitwise_equal(again.m, gathered.m));
    EXPECT_TRUE(bitwise_equal(again.v, gathered.v));
  } else {
    EXPECT_TRUE(again.names.empty() && again.m.empty());  // nothing kept off the writer
  }
  AdamW unsharded(other.named_parameters(), oc);
  unsharded.load_state(gathered);
  EXPECT_TRUE(bitwise_equal(unsharded.state().m, gathered.m));
  if (grid.world_rank() == 0)
    std::printf("[ zero1 ] %-12s dp %d x sp %d: moments %lld of %lld bytes on rank 0; gradient norm error %.1e, "
                "parameter error %.1e, moments %.1e / %.1e\n",
                v.name, grid.dp_size(), grid.sp_size(), static_cast<long long>(opt_zero.state_bytes()),
                static_cast<long long>(8 * params), worst_norm, worst_param, e_m, e_v);
}

INSTANTIATE_TEST_SUITE_P(
    Tasks, Zero1,
    ::testing::Values(Variant{"classify_cls", TaskKind::Classification, Pooling::Cls, false},
                      Variant{"retrieval", TaskKind::Retrieval, Pooling::Cls, false},
                      Variant{"causal_lm", TaskKind::LanguageModel, Pooling::Cls, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Zero1Errors, ShardedOptimizerNeedsAReduceScatterSync) {
  auto world = MpiCommunicator::world(120.0);
  ProcessGrid grid(world, g_sp);
  SimpleTronModel m(config_for({"", TaskKind::Classification, Pooling::Cls, false}));
  GradientSync all_reduce(m.named_parameters(), grid.world(), grid.dp_size());
  EXPECT_THROW(ShardedAdamW(m.named_parameters(), all_reduce, AdamWConfig{}), Error);
  GradientSync sharded(m.named_parameters(), grid.world(), grid.dp_size(), 1000, GradReduce::ReduceScatter);
  ShardedAdamW opt(m.named_parameters(), sharded, AdamWConfig{});
  AdamWState missing = opt.gathered_state(true);
  missing.names.back() = "no.such.parameter";
  EXPECT_THROW(opt.load_state(missing), Error);
}

}  // namespace
}  // namespace st
