// The first-row-only last block (encode(..., first_row_only), used by run() when pooling reads
// position 0) against the full encoder: the same position-0 output and the same parameter
// gradients, for every attention kind, pre- and post-LN, with padding and dropout on.
#include <gtest/gtest.h>

#include <cmath>

#include "core/nn/model.h"

namespace st {
namespace {

ModelConfig config(AttentionKind kind, NormPlacement norm) {
  ModelConfig c;
  c.vocab_size = 19;
  c.max_len = 33;
  c.num_classes = 3;
  c.d_model = 12;
  c.heads = 3;
  c.layers = 2;
  c.d_ff = 20;
  c.dropout = 0.2f;
  c.state_dropout = kind == AttentionKind::SimpleTron ? 0.1f : 0.0f;
  c.attention = kind;
  c.norm = norm;
  c.out_proj = norm == NormPlacement::PostLN;
  return c;
}

// ids (3, 33) with padding at the end of two rows.
Tensor batch_ids() {
  std::vector<int32_t> v(3 * 33);
  for (int i = 0; i < 3 * 33; ++i) v[i] = 1 + (i * 7) % 18;
  for (int t = 25; t < 33; ++t) v[33 + t] = 0;
  for (int t = 30; t < 33; ++t) v[66 + t] = 0;
  return Tensor::from_vector(v, {3, 33});
}

double max_rel(const Tensor& a, const Tensor& b) {
  auto va = a.contiguous().to_vector<float>(), vb = b.contiguous().to_vector<float>();
  double num = 0, den = 1e-3;
  for (size_t i = 0; i < va.size(); ++i) {
    num = std::max(num, double(std::fabs(va[i] - vb[i])));
    den = std::max(den, double(std::fabs(vb[i])));
  }
  return num / den;
}

TEST(FirstRowOnly, SameOutputAndGradientsAsTheFullEncoder) {
  for (AttentionKind kind : {AttentionKind::SimpleTron, AttentionKind::Softmax, AttentionKind::LinearElu}) {
    for (NormPlacement norm : {NormPlacement::PreLN, NormPlacement::PostLN}) {
      SCOPED_TRACE(std::string(name_of(kind)) + " " + name_of(norm));
      SimpleTronModel model(config(kind, norm));
      Tensor ids = batch_ids();
      Tensor labels = Tensor::from_vector<int32_t>({0, 2, 1}, {3});
      RunContext ctx{.seed = 5, .step = 3};
      // Full encoder, position 0 taken afterwards.
      Tensor full = model.encode(ids, ctx).narrow(1, 0, 1);
      Tensor loss_full = sum_all(mul(full, full));
      loss_full.backward();
      std::map<std::string, Tensor> g_full;
      for (auto& [name, p] : model.named_parameters())
        if (p.grad().defined()) g_full[name] = p.grad().clone();
      model.zero_grad();
      Tensor first = model.encode(ids, ctx, nullptr, /*first_row_only=*/true);
      ASSERT_EQ(first.shape(), (Shape{3, 1, 12}));
      EXPECT_LT(max_rel(first, full), 1e-6);
      sum_all(mul(first, first)).backward();
      for (auto& [name, p] : model.named_parameters()) {
        auto it = g_full.find(name);
        if (!p.grad().defined()) {  // then the full encoder's gradient must be zero too
          if (it != g_full.end()) {
            EXPECT_EQ(max_rel(it->second, Tensor::zeros(it->second.shape())), 0.0) << name;
          }
          continue;
        }
        ASSERT_NE(it, g_full.end()) << name;
        EXPECT_LT(max_rel(p.grad(), it->second), 1e-5) << name;
      }
      model.zero_grad();
      // run() takes the first-row path for CLS pooling: its loss equals the full path's.
      Tensor logits = model.forward(ids, Tensor(), ctx);
      Tensor z = activate(model.head_fc1->forward(full.reshape({3, 12}).detach()), model.config().head_activation);
      EXPECT_LT(max_rel(logits, model.head_fc2->forward(z)), 1e-6);
    }
  }
}

TEST(FirstRowOnly, RejectedForCausalModels) {
  ModelConfig c = config(AttentionKind::SimpleTron, NormPlacement::PreLN);
  c.task = TaskKind::LanguageModel;
  c.causal = true;
  c.state_dropout = 0.0f;
  SimpleTronModel model(c);
  EXPECT_THROW(model.encode(batch_ids(), RunContext{}, nullptr, true), Error);
}

}  // namespace
}  // namespace st
