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

namespace st {
namespace {

double rel(const Tensor& ours, const Tensor& ref) {
  auto a = ours.to_vector<double>(), b = ref.to_vector<double>();
  EXPECT_EQ(a.size(), b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return den > 0 ? num / den : num;
}

ModelConfig config_from(const std::map<std::string, std::string>& c) {
  ModelConfig m;
  auto i = [&](const char* k) { return std::stoll(c.at(k)); };
  m.task = parse_task(c.at("task"));
  m.vocab_size = i("vocab_size");
  m.max_len = i("max_len");
  m.num_classes = i("num_classes");
  m.d_model = i("d_model");
  m.heads = i("heads");
  m.layers = i("layers");
  m.d_ff = i("d_ff");
  m.d_qkv = i("d_qkv");
  m.d_mlp = i("d_mlp");
  m.attention = parse_attention(c.at("attention"));
  m.scale = parse_scale(c.at("scale"));
  m.causal = i("causal") != 0;
  m.chunk = i("chunk");
  m.out_proj = i("out_proj") != 0;
  m.norm = parse_norm(c.at("norm"));
  m.ln_eps = std::stod(c.at("ln_eps"));
  m.activation = parse_activation(c.at("activation"));
  m.pooling = parse_pooling(c.at("pooling"));
  m.tie_embeddings = i("tie_embeddings") != 0;
  m.label_smoothing = std::stod(c.at("label_smoothing"));
  m.dropout = 0.0f;
  return m;
}

class ModelReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelReference, MatchesPyTorch) {
  testing::H5Fixture fx(testing::fixtures_dir() + "/model_" + GetParam() + ".h5");
  ModelConfig cfg = config_from(fx.attribute_map("config"));
  SimpleTronModel model(cfg);

  // Parameter names and order must be those of the reference.
  std::vector<std::string> names;
  {
    std::stringstream ss(fx.attribute("param_names"));
    std::string n;
    while (std::getline(ss, n, ';')) names.push_back(n);
  }
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
  double e_logits = rel(logits, fx.read("expected/logits"));
  double e_loss = rel(loss, fx.read("expected/loss"));
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
    double e = rel(p.grad(), ref);
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
    double e = rel(p, fx.read("after/" + n));
    EXPECT_LE(e, 1e-5) << "parameter " << n << " after 3 steps";
    e_after = std::max(e_after, e);
  }
  std::printf("[ reference ] %-26s logits %.1e  loss %.1e  grads %.1e (%s)  after 3 steps %.1e%s%s\n",
              GetParam().c_str(), e_logits, e_loss, e_grad, worst.c_str(), e_after,
              null_grads.empty() ? "" : "  vanishing:", null_grads.c_str());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelReference,
                         ::testing::Values("simpletron_pad_preln", "simpletron_postln_mean",
                                           "simpletron_scale_n_relu", "simpletron_causal_lm",
                                           "simpletron_causal_lm_tied", "softmax_pad",
                                           "softmax_lm", "linear_elu_pad", "retrieval"));

}  // namespace
}  // namespace st
