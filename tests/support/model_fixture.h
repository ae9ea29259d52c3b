// One PyTorch model fixture (tests/fixtures/model_<name>.h5, written by
// tests/reference/make_model_fixtures.py) run on a device in a compute precision: the model is
// built from the fixture's config and weights on the CPU, optionally altered, moved with
// Module::to, and one forward and backward pass on the fixture's batch (inputs copied to the
// device) is compared with the fixture. Errors are relative to the largest reference magnitude:
// max |ours - ref| / max |ref|, as in test_model_reference. A gradient that vanishes in the
// reference (max below 1e-6 of the model's largest gradient) has no meaningful relative error;
// for it the error reported is max |ours| / largest reference gradient.
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/nn/model.h"
#include "core/ops/precision.h"
#include "tests/support/h5_fixture.h"

namespace st::testing {

// The fixtures that test_model_reference checks on the CPU.
inline const std::vector<std::string>& model_fixture_names() {
  static const std::vector<std::string> names = {
      "simpletron_pad_preln", "simpletron_postln_mean", "simpletron_scale_n_relu",
      "simpletron_causal_lm", "simpletron_causal_lm_tied", "softmax_pad",
      "softmax_lm",           "linear_elu_pad",         "retrieval",
      "simpletron_sinusoidal_lm"};
  return names;
}

// max |ours - ref| / max |ref| (max |ours - ref| when ref is all zero).
inline double fixture_rel(const Tensor& ours, const Tensor& ref) {
  auto a = ours.to_vector<double>(), b = ref.to_vector<double>();
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return den > 0 ? num / den : num;
}

inline double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::fabs(v));
  return m;
}

inline ModelConfig fixture_config(const std::map<std::string, std::string>& c) {
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
  if (c.count("positions")) m.positions = kPositionKindNames.parse(c.at("positions"), "fixture positions");
  m.dropout = 0.0f;
  return m;
}

// The reference's parameter names, in its order (the attribute param_names, ';'-separated).
inline std::vector<std::string> fixture_param_names(const H5Fixture& fx) {
  std::vector<std::string> names;
  std::stringstream ss(fx.attribute("param_names"));
  std::string n;
  while (std::getline(ss, n, ';')) names.push_back(n);
  return names;
}

struct FixtureErrors {
  double logits = 0, loss = 0;
  double grads = 0;           // worst relative error over the non-vanishing gradients
  std::string worst_grad;     // its parameter
  // Worst max |ours - ref| of any gradient (vanishing ones included) / largest reference
  // gradient of the model: the measure for bf16, whose noise scales with the magnitudes summed
  // rather than with one parameter's (possibly cancelling) total.
  double grads_global = 0;
  double vanishing = 0;       // worst max |ours| / largest reference gradient, vanishing ones
  std::string missing_grads;  // parameters that got no gradient (space separated)
};

// Alters the CPU model after the fixture's weights are loaded (e.g. a deliberate error).
using ModelEdit = std::function<void(SimpleTronModel&)>;

inline FixtureErrors run_model_fixture(const std::string& name, Device dev, Precision precision,
                                       const ModelEdit& edit = {}) {
  H5Fixture fx(fixtures_dir() + "/model_" + name + ".h5");
  ModelConfig cfg = fixture_config(fx.attribute_map("config"));
  SimpleTronModel model(cfg);
  std::vector<std::string> names = fixture_param_names(fx);
  std::map<std::string, Tensor> state;
  for (auto& n : names) state[n] = fx.read("params/" + n);
  model.load_state(state);
  if (edit) edit(model);
  model.to(dev);

  Tensor ids = fx.read("inputs/ids").to(dev);
  Tensor ids2 = fx.has("inputs/ids2") ? fx.read("inputs/ids2").to(dev) : Tensor();
  Tensor labels = cfg.task == TaskKind::LanguageModel ? ids : fx.read("inputs/labels").to(dev);
  FixtureErrors e;
  Tensor logits, loss;
  {
    PrecisionScope scope(precision);
    RunContext ctx;
    logits = model.forward(ids, ids2, ctx);
    loss = model.loss(logits, labels);
    loss.backward();
  }
  e.logits = fixture_rel(logits, fx.read("expected/logits"));
  e.loss = fixture_rel(loss, fx.read("expected/loss"));

  double largest = 0;
  for (auto& n : names) largest = std::max(largest, max_abs(fx.read("grads/" + n)));
  for (auto& [n, p] : model.named_parameters()) {
    if (!p.grad().defined()) {
      e.missing_grads += " " + n;
      continue;
    }
    Tensor ref = fx.read("grads/" + n);
    {
      auto a = p.grad().to_vector<double>(), b = ref.to_vector<double>();
      double m = a.size() == b.size() ? 0 : INFINITY;
      for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
      e.grads_global = std::max(e.grads_global, m / largest);
    }
    if (max_abs(ref) < 1e-6 * largest) {
      e.vanishing = std::max(e.vanishing, max_abs(p.grad()) / largest);
      continue;
    }
    double r = fixture_rel(p.grad(), ref);
    if (r >= e.grads) {
      e.grads = r;
      e.worst_grad = n;
    }

  }
  return e;
}

// Multiplies the named parameter by `factor` (for deliberate errors).
inline ModelEdit scale_parameter(const std::string& name, double factor) {
  return [name, factor](SimpleTronModel& m) {
    for (auto& [n, p] : m.named_parameters()) {
      if (n != name) continue;
      std::vector<double> v = p.to_vector<double>();
      for (double& x : v) x *= factor;
      copy_into(p.detach(), Tensor::from_vector(v, p.shape()).to(p.dtype()));
      return;
    }
    ST_THROW("scale_parameter: no parameter named '", name, "'");
  };
}

// ---- bf16 against the f32 fixture ------------------------------------------------------------
// Under PrecisionScope(BF16) every matrix product rounds its operands to bf16 (8 significant
// bits: relative rounding error <= 2^-9) and accumulates in f32. A product's terms then carry
// relative errors up to 2^-8 with random signs, so an output element is off by ~2^-9 sqrt(2)
// ~ 2.8e-3 of its typical size. A fixture's forward pass runs ~10 products in series (per block
// q/k/v, the state K^T V, Q S, [Wo], fc1, fc2; then the head) with independent errors:
// sqrt(10) * 2.8e-3 ~ 9e-3 of the activations' scale, which LayerNorm keeps from growing with
// depth. Measured on the CPU emulation: logits 2.5e-3 .. 1.3e-2 (max |ours - ref| / max |ref|),
// the loss <= 1.8e-3. Tolerances: logits 3e-2 (3x the estimate), loss 1e-2.
// Gradients pass through the forward's products and as many again in backward: ~sqrt(2) * 9e-3
// ~ 1.3e-2, measured against the model's largest gradient (grads_global), since the rounding
// noise scales with the magnitudes summed: a gradient that nearly cancels (a LayerNorm weight,
// a key bias) is off by up to 1e-1 of its own size. Measured 4.8e-3 .. 2.1e-2; tolerance 5e-2.
// A deliberate error far smaller than a wrong kernel (test_model_bf16: the first block's
// attention output doubled, i.e. a missing factor 1/2 in the attention scale) moves the logits
// by >= 7.8e-2 and the gradients by >= 0.2 on these fixtures: above both tolerances, and more
// than 4x the bf16 error of every fixture.
struct Bf16ModelTolerance {
  double logits = 3e-2, loss = 1e-2, grads_global = 5e-2;
};
inline constexpr Bf16ModelTolerance kBf16Model{};

inline void expect_within_bf16_tolerance(const FixtureErrors& e) {
  EXPECT_LE(e.logits, kBf16Model.logits);
  EXPECT_LE(e.loss, kBf16Model.loss);
  EXPECT_LE(e.grads_global, kBf16Model.grads_global)
      << "largest gradient error relative to the model's largest gradient";
  EXPECT_EQ(e.missing_grads, "") << "parameters without a gradient";
}

}  // namespace st::testing
