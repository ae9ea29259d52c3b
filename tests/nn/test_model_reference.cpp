// The model against the PyTorch reference (tests/reference/make_model_fixtures.py): same
// weights and batch -> logits and loss (relative error <= 1e-5), every parameter gradient
// (<= 1e-4), and the parameters after three AdamW steps (<= 1e-5). Relative error of a tensor:
// max |ours - reference| / max |reference|. A gradient that is zero up to rounding in the
// reference (max below 1e-6 of the model's largest gradient: e.g. the key bias under softmax
// attention, which cancels in the softmax) has no meaningful relative error; ours must then be
// at that noise floor too.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "core/nn/model.h"
#include "core/optim/adamw.h"
#include "tests/support/h5_fixture.h"
#include "tests/support/model_fixture.h"

namespace st {
namespace {

using testing::fixture_config;
using testing::fixture_rel;

class ModelReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelReference, MatchesPyTorch) {
  testing::H5Fixture fx(testing::fixtures_dir() + "/model_" + GetParam() + ".h5");
  ModelConfig cfg = fixture_config(fx.attribute_map("config"));
  SimpleTronModel model(cfg);

  // Parameter names and order must be those of the reference.
  std::vector<std::string> names = testing::fixture_param_names(fx);
  auto ours = model.named_parameters();
  ASSERT_EQ(ours.size(), names.size());
  for (size_t k = 0; k < names.size(); ++k) EXPECT_EQ(ours[k].first, names[k]);
  std::map<std::string, Tensor> state;
  for (auto& n : names) state[n] = fx.read("params/" + n);
  model.load_state(state);

  Tensor ids = fx.read("inputs/ids");
  Tensor ids2 = fx.has("inputs/ids2") ? fx.read("inputs/ids2") : Tensor();
  Tensor labels = cfg.task == TaskKind::LanguageModel ? ids : fx.read("inputs/labels");
  RunContext ctx;
  Tensor logits = model.forward(ids, ids2, ctx);
  Tensor loss = model.loss(logits, labels);
  double e_logits = fixture_rel(logits, fx.read("expected/logits"));
  double e_loss = fixture_rel(loss, fx.read("expected/loss"));
  EXPECT_LE(e_logits, 1e-5);
  EXPECT_LE(e_loss, 1e-5);

  loss.backward();
  double largest = 0;
  for (auto& n : names) {
    for (double g : fx.read("grads/" + n).to_vector<double>()) largest = std::max(largest, std::fabs(g));
  }
  double e_grad = 0;
  std::string worst, null_grads;
  for (auto& [n, p] : model.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << n << " got no gradient";
    Tensor ref = fx.read("grads/" + n);
    double ref_max = 0, ours_max = 0;
    for (double g : ref.to_vector<double>()) ref_max = std::max(ref_max, std::fabs(g));
    for (double g : p.grad().to_vector<double>()) ours_max = std::max(ours_max, std::fabs(g));
    if (ref_max < 1e-6 * largest) {
      EXPECT_LT(ours_max, 1e-6 * largest) << "gradient of " << n << " should vanish";
      null_grads += " " + n;
      continue;
    }
    double e = fixture_rel(p.grad(), ref);
    EXPECT_LE(e, 1e-4) << "gradient of " << n;
    if (e > e_grad) { e_grad = e; worst = n; }
  }

  auto o = fx.attribute_map("optimizer");
  AdamWConfig oc;
  oc.beta1 = std::stod(o.at("beta1"));
  oc.beta2 = std::stod(o.at("beta2"));
  oc.eps = std::stod(o.at("eps"));
  oc.weight_decay = std::stod(o.at("weight_decay"));
  AdamW opt(model.named_parameters(), oc);
  model.zero_grad();
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    model.loss(model.forward(ids, ids2, ctx), labels).backward();
    opt.step(std::stod(o.at("lr")));
  }
  double e_after = 0;
  for (auto& [n, p] : model.named_parameters()) {
    double e = fixture_rel(p, fx.read("after/" + n));
    EXPECT_LE(e, 1e-5) << "parameter " << n << " after 3 steps";
    e_after = std::max(e_after, e);
  }
  std::printf("[ reference ] %-26s logits %.1e  loss %.1e  grads %.1e (%s)  after 3 steps %.1e%s%s\n",
              GetParam().c_str(), e_logits, e_loss, e_grad, worst.c_str(), e_after,
              null_grads.empty() ? "" : "  vanishing:", null_grads.c_str());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelReference, ::testing::ValuesIn(testing::model_fixture_names()));

}  // namespace
}  // namespace st
