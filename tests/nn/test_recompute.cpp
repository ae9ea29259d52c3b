// Activation recompute (train.recompute: block; autograd.h, checkpoint()): the gradients of
// every parameter are bitwise those of the unscoped graph, for every attention kind, causal and
// non-causal, pre- and post-LN, every task, with dropout and padding, in f32 and under bf16
// products, with two backward passes accumulating (+=) into the same gradients. The checkpoint
// scope itself passes an fp64 gradient check, and recompute keeps less memory (the allocator's
// peak over one forward and backward).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "core/autograd/gradcheck.h"
#include "core/nn/memory_estimate.h"
#include "core/nn/model.h"
#include "core/ops/precision.h"
#include "core/tensor/allocator.h"

namespace st {
namespace {

struct Variant {
  const char* name;
  AttentionKind kind;
  TaskKind task;
  Pooling pooling;
  bool causal;
  NormPlacement norm;
  Precision precision;
};

ModelConfig config_for(const Variant& v) {
  ModelConfig c;
  c.task = v.task;
  c.pooling = v.pooling;
  c.causal = v.causal;
  c.attention = v.kind;
  c.norm = v.norm;
  c.out_proj = v.norm == NormPlacement::PostLN;
  c.vocab_size = 23;
  c.max_len = 40;
  c.num_classes = 3;
  c.d_model = 16;
  c.heads = 2;
  c.layers = 3;
  c.d_ff = 24;
  c.chunk = 5;
  c.dropout = 0.2f;
  c.state_dropout = v.kind == AttentionKind::SimpleTron && !v.causal ? 0.1f : 0.0f;
  return c;
}

constexpr int64_t kBatch = 3, kLen = 29;

// Tokens with trailing padding in two rows.
Tensor make_ids(uint64_t seed) {
  auto v = Tensor::uniform({kBatch, kLen}, seed, 1, 23, DType::I32).to_vector<int32_t>();
  for (int64_t t = 20; t < kLen; ++t) v[kLen + t] = 0;
  for (int64_t t = 26; t < kLen; ++t) v[2 * kLen + t] = 0;
  return Tensor::from_vector(v, {kBatch, kLen});
}

// Two micro-batches' forward and backward (gradients accumulate); returns the losses and leaves
// the gradients in the model.
std::vector<double> two_micro_batches(const SimpleTronModel& model, const Variant& v, Recompute recompute) {
  std::vector<double> losses;
  for (uint32_t step = 1; step <= 2; ++step) {
    Tensor ids = make_ids(10 + step), ids2;
    if (v.task == TaskKind::Retrieval) ids2 = make_ids(20 + step);
    Tensor targets = v.task == TaskKind::LanguageModel
                         ? SimpleTronModel::next_token_targets(ids)
                         : Tensor::uniform({kBatch}, 30 + step, 0, v.task == TaskKind::Retrieval ? 2 : 3, DType::I32);
    RunContext ctx{.seed = 7, .step = step};
    ctx.recompute = recompute;
    Tensor count;
    Tensor loss = model.loss_sum(model.forward(ids, ids2, ctx), targets, &count);
    loss.backward();
    losses.push_back(loss.item());
  }
  return losses;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  auto va = a.contiguous().to_vector<float>(), vb = b.contiguous().to_vector<float>();
  return va.size() == vb.size() && std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

class Recompute_ : public ::testing::TestWithParam<Variant> {};

TEST_P(Recompute_, BlockGradientsAreBitwiseEqual) {
  const Variant v = GetParam();
  PrecisionScope precision(v.precision);
  ModelConfig cfg = config_for(v);
  SimpleTronModel plain(cfg), recomputed(cfg);
  std::vector<double> loss_plain = two_micro_batches(plain, v, Recompute::None);
  std::vector<double> loss_rec = two_micro_batches(recomputed, v, Recompute::Block);
  ASSERT_EQ(loss_plain.size(), loss_rec.size());
  for (size_t i = 0; i < loss_plain.size(); ++i) EXPECT_EQ(loss_plain[i], loss_rec[i]) << "micro-batch " << i;
  auto p = plain.named_parameters(), r = recomputed.named_parameters();
  ASSERT_EQ(p.size(), r.size());
  int compared = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    Tensor gp = p[k].second.grad(), gr = r[k].second.grad();
    ASSERT_EQ(gp.defined(), gr.defined()) << p[k].first;
    if (!gp.defined()) continue;
    EXPECT_TRUE(bitwise_equal(gp, gr)) << p[k].first;
    ++compared;
  }
  EXPECT_GE(compared, static_cast<int>(cfg.layers) * 8);  // every block's parameters got gradients
}

INSTANTIATE_TEST_SUITE_P(
    Recompute, Recompute_,
    ::testing::Values(
        Variant{"simpletron_cls", AttentionKind::SimpleTron, TaskKind::Classification, Pooling::Cls, false, NormPlacement::PreLN, Precision::FP32},
        Variant{"simpletron_mean_postln", AttentionKind::SimpleTron, TaskKind::Classification, Pooling::Mean, false, NormPlacement::PostLN, Precision::FP32},
        Variant{"simpletron_retrieval", AttentionKind::SimpleTron, TaskKind::Retrieval, Pooling::Cls, false, NormPlacement::PreLN, Precision::FP32},
        Variant{"simpletron_causal_lm", AttentionKind::SimpleTron, TaskKind::LanguageModel, Pooling::Cls, true, NormPlacement::PreLN, Precision::FP32},
        Variant{"simpletron_causal_lm_bf16", AttentionKind::SimpleTron, TaskKind::LanguageModel, Pooling::Cls, true, NormPlacement::PreLN, Precision::BF16},
        Variant{"simpletron_cls_bf16", AttentionKind::SimpleTron, TaskKind::Classification, Pooling::Cls, false, NormPlacement::PostLN, Precision::BF16},
        Variant{"softmax_cls", AttentionKind::Softmax, TaskKind::Classification, Pooling::Cls, false, NormPlacement::PreLN, Precision::FP32},
        Variant{"softmax_mean_postln", AttentionKind::Softmax, TaskKind::Classification, Pooling::Mean, false, NormPlacement::PostLN, Precision::FP32},
        Variant{"softmax_causal_lm", AttentionKind::Softmax, TaskKind::LanguageModel, Pooling::Cls, true, NormPlacement::PreLN, Precision::FP32},
        Variant{"linear_elu_cls", AttentionKind::LinearElu, TaskKind::Classification, Pooling::Cls, false, NormPlacement::PreLN, Precision::FP32},
        Variant{"linear_elu_mean_postln", AttentionKind::LinearElu, TaskKind::Classification, Pooling::Mean, false, NormPlacement::PostLN, Precision::FP32}),
    [](const auto& info) { return std::string(info.param.name); });

// The scope on its own: f(x, w) = tanh(x w) w^T, checkpointed, in fp64 against central
// differences, with the input requiring grad and with only the parameter requiring grad.
TEST(Recompute, CheckpointScopePassesGradcheck) {
  for (bool input_requires_grad : {true, false}) {
    Tensor x = Tensor::randn({4, 3}, 1, 1.0, DType::F64);
    Tensor w = Tensor::randn({3, 5}, 2, 1.0, DType::F64);
    x.set_requires_grad(input_requires_grad);
    w.set_requires_grad(true);
    auto f = [](const std::vector<Tensor>& in) {
      Tensor w = in[1];
      return checkpoint("test", {in[0]}, {w},
                        [w](const std::vector<Tensor>& a) { return matmul(tanh(matmul(a[0], w)), w.transpose(0, 1)); },
                        false);
    };
    GradcheckResult r = gradcheck(f, {x, w});
    EXPECT_TRUE(r.ok) << r.message;
  }
}

TEST(Recompute, OutsideGradModeItIsAPlainCall) {
  Tensor x = Tensor::randn({2, 3}, 3);
  x.set_requires_grad(true);
  NoGradGuard no_grad;
  Tensor y = checkpoint("test", {x}, {}, [](const std::vector<Tensor>& a) { return scale(a[0], 2.0); }, false);
  EXPECT_FALSE(y.requires_grad());
}

// Long enough that the FFN sublayer runs in slices (kFfnSliceRows): recompute is bitwise equal
// there too, and the slices' dropout masks are those of the whole sequence: row 1 of a batch of 2
// (two slices of 8192 positions) equals the same row run alone as batch row 1 of 2 (one slice).
TEST(Recompute, FfnSlicesKeepMasksAndBitwiseEquality) {
  ModelConfig c = config_for({"", AttentionKind::SimpleTron, TaskKind::Classification, Pooling::Mean, false,
                              NormPlacement::PreLN, Precision::FP32});
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 16;
  c.layers = 2;
  const int64_t N = 8300;
  c.max_len = N;
  SimpleTronModel plain(c), recomputed(c);
  Tensor ids = Tensor::uniform({2, N}, 9, 1, 23, DType::I32);
  Tensor labels = Tensor::from_vector<int32_t>({1, 2}, {2});
  for (auto [model, rc] : {std::pair{&plain, Recompute::None}, std::pair{&recomputed, Recompute::Block}}) {
    RunContext ctx{.seed = 3, .step = 1};
    ctx.recompute = rc;
    model->loss(model->forward(ids, Tensor(), ctx), labels).backward();
  }
  auto p = plain.named_parameters(), r = recomputed.named_parameters();
  for (size_t k = 0; k < p.size(); ++k) EXPECT_TRUE(bitwise_equal(p[k].second.grad(), r[k].second.grad())) << p[k].first;

  NoGradGuard no_grad;
  RunContext both{.seed = 3, .step = 1};
  Tensor full = plain.encode(ids, both);  // (2, N + 1, d): CLS first
  RunContext alone{.seed = 3, .step = 1};
  alone.batch_offset = 1;
  alone.batch_global = 2;
  Tensor row = plain.encode(ids.narrow(0, 1, 1).contiguous(), alone);
  auto a = full.narrow(0, 1, 1).contiguous().to_vector<float>(), b = row.to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  EXPECT_LT(worst, 1e-4) << "the slices' dropout masks differ from the whole sequence's";
}

// One forward and backward at d 32, 4 layers, N 256: the blocks keep only their inputs, so the
// allocator's peak falls; and the estimate (core/nn/memory_estimate.h) falls with it.
TEST(Recompute, KeepsLessMemory) {
  ModelConfig c = config_for({"", AttentionKind::SimpleTron, TaskKind::Classification, Pooling::Cls, false,
                              NormPlacement::PreLN, Precision::FP32});
  c.d_model = 32;
  c.d_ff = 128;
  c.layers = 4;
  c.max_len = 256;
  SimpleTronModel model(c);
  Tensor ids = Tensor::uniform({2, 256}, 4, 1, 23, DType::I32);
  Tensor labels = Tensor::from_vector<int32_t>({0, 2}, {2});
  std::map<Recompute, int64_t> peak;
  for (Recompute rc : {Recompute::None, Recompute::Block}) {
    model.zero_grad();
    int64_t before = memory_stats().bytes_in_use;
    reset_peak_memory();
    RunContext ctx{.seed = 1, .step = 1};
    ctx.recompute = rc;
    model.loss(model.forward(ids, Tensor(), ctx), labels).backward();
    peak[rc] = memory_stats().peak_bytes - before;
  }
  EXPECT_LT(peak[Recompute::Block] * 2, peak[Recompute::None])
      << "peak with recompute " << peak[Recompute::Block] << " bytes, without " << peak[Recompute::None];
  EXPECT_LT(estimate_activations(c, 2, 257, 1, {}, Recompute::Block).total() * 2,
            estimate_activations(c, 2, 257, 1, {}, Recompute::None).total());
}

}  // namespace
}  // namespace st
