// BERT checkpoint import; see bert_import.h.
#include "launch/bert_import.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "core/tensor/error.h"
#include "data/io_error.h"
#include "data/json_limits.h"
#include "data/safetensors.h"

namespace st {

namespace {

// The config.json keys the import depends on, checked and read with errors naming file and key.
struct BertJson {
  const nlohmann::json& j;
  const std::string& file;

  int64_t integer(const char* key) const {
    ST_CHECK(j.contains(key) && j[key].is_number_integer(), file, ": key '", key, "' missing or not an integer");
    return j[key].get<int64_t>();
  }
  double number(const char* key, double fallback) const {
    if (!j.contains(key)) return fallback;
    ST_CHECK(j[key].is_number(), file, ": key '", key, "' is not a number");
    return j[key].get<double>();
  }
  std::string text(const char* key, const std::string& fallback) const {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    ST_CHECK(j[key].is_string(), file, ": key '", key, "' is not a string");
    return j[key].get<std::string>();
  }
};

FfnActivation activation_of(const std::string& act, const std::string& file) {
  if (act == "gelu") return FfnActivation::GeluErf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh") return FfnActivation::GeluTanh;
  if (act == "relu") return FfnActivation::Relu;
  ST_THROW(file, ": hidden_act '", act, "' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)");
}

}  // namespace

BertImport import_bert(const std::string& dir, const BertImportOptions& opt) {
  namespace fs = std::filesystem;
  std::string config_path = (fs::path(dir) / "config.json").string();
  std::string weights_path = (fs::path(dir) / "model.safetensors").string();
  ST_CHECK(fs::is_directory(dir), dir, ": not a directory (expected a model directory with config.json and "
           "model.safetensors)");
  std::ifstream cin(config_path);
  ST_CHECK(cin.good(), config_path, ": cannot open: ", errno_message(errno));
  std::string text((std::istreambuf_iterator<char>(cin)), std::istreambuf_iterator<char>());
  check_json_depth(text, 16, config_path);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  ST_CHECK(j.is_object(), config_path, ": not a JSON object");
  BertJson c{j, config_path};
  std::string type = c.text("model_type", "bert");
  ST_CHECK(type == "bert", config_path, ": model_type '", type, "' is not supported (bert)");
  std::string pos = c.text("position_embedding_type", "absolute");
  ST_CHECK(pos == "absolute", config_path, ": position_embedding_type '", pos, "' is not supported (absolute)");
  ST_CHECK(opt.task == TaskKind::Embedding || opt.task == TaskKind::Classification,
           "st-import: the task must be embedding or classification");
  ST_CHECK(opt.pooling == Pooling::Mean || opt.pooling == Pooling::First,
           "st-import: pooling must be mean or first (BERT's [CLS] is the first token)");

  BertImport out;
  ModelConfig& m = out.config;
  m.task = opt.task;
  m.num_classes = opt.task == TaskKind::Classification ? opt.num_classes : 2;
  m.vocab_size = c.integer("vocab_size");
  m.max_len = c.integer("max_position_embeddings");
  m.d_model = c.integer("hidden_size");
  m.heads = c.integer("num_attention_heads");
  m.layers = c.integer("num_hidden_layers");
  m.d_ff = c.integer("intermediate_size");
  m.d_qkv = 0;
  m.d_mlp = 0;
  m.attention = opt.attention;
  m.scale = ScaleMode::SqrtN;
  m.causal = false;
  m.out_proj = true;
  m.norm = NormPlacement::PostLN;
  m.ln_eps = c.number("layer_norm_eps", 1e-12);
  m.activation = activation_of(c.text("hidden_act", "gelu"), config_path);
  m.dropout = opt.dropout >= 0 ? opt.dropout : static_cast<float>(c.number("hidden_dropout_prob", 0.1));
  m.pooling = opt.pooling;
  m.validate();
  int64_t pad = static_cast<int64_t>(c.number("pad_token_id", 0));
  ST_CHECK(pad == 0, config_path, ": pad_token_id is ", pad, "; the model treats id 0 as padding");

  SafeTensorsFile st(weights_path);
  std::string prefix = st.has("bert.embeddings.word_embeddings.weight") ? "bert." : "";
  std::set<std::string> used;
  auto get = [&](const std::string& name, const Shape& shape) {
    std::string full = prefix + name;
    // Old TF-converted checkpoints name LayerNorm parameters gamma / beta.
    if (!st.has(full) && full.size() > 7 && full.substr(full.size() - 7) == ".weight" && full.find("LayerNorm") != std::string::npos)
      full = full.substr(0, full.size() - 7) + ".gamma";
    if (!st.has(full) && full.size() > 5 && full.substr(full.size() - 5) == ".bias" && full.find("LayerNorm") != std::string::npos &&
        st.has(full.substr(0, full.size() - 5) + ".beta"))
      full = full.substr(0, full.size() - 5) + ".beta";
    const SafeTensorsFile::Entry& e = st.entry(full);
    Shape got(e.shape.begin(), e.shape.end());
    ST_CHECK(got == shape, weights_path, ": tensor '", full, "' has shape ", got, ", config.json implies ", shape);
    used.insert(full);
    return Tensor::from_vector(st.read_f32(full), shape);
  };
  auto linear = [&](const std::string& ours, const std::string& theirs, int64_t out_f, int64_t in_f) {
    out.params[ours + ".weight"] = get(theirs + ".weight", {out_f, in_f});
    out.params[ours + ".bias"] = get(theirs + ".bias", {out_f});
  };
  auto norm = [&](const std::string& ours, const std::string& theirs) {
    out.params[ours + ".weight"] = get(theirs + ".weight", {m.d_model});
    out.params[ours + ".bias"] = get(theirs + ".bias", {m.d_model});
  };

  int64_t d = m.d_model;
  out.params["embed.tokens"] = get("embeddings.word_embeddings.weight", {m.vocab_size, d});
  Tensor positions = get("embeddings.position_embeddings.weight", {m.max_len, d});
  std::string tt = "embeddings.token_type_embeddings.weight";
  if (st.has(prefix + tt)) {
    int64_t types = st.entry(prefix + tt).shape.at(0);
    Tensor type0 = get(tt, {types, d}).narrow(0, 0, 1);  // (1, d)
    positions = add(positions, type0).contiguous();
    out.notes.push_back("token-type embedding 0 folded into embed.positions (" + std::to_string(types) +
                        " types in the checkpoint; every token has type 0)");
  }
  out.params["embed.positions"] = positions;
  norm("embed.ln", "embeddings.LayerNorm");
  for (int64_t i = 0; i < m.layers; ++i) {
    std::string b = "blocks." + std::to_string(i), l = "encoder.layer." + std::to_string(i);
    linear(b + ".attn.q", l + ".attention.self.query", d, d);
    linear(b + ".attn.k", l + ".attention.self.key", d, d);
    linear(b + ".attn.v", l + ".attention.self.value", d, d);
    linear(b + ".attn.o", l + ".attention.output.dense", d, d);
    if (opt.attention_gain != 1.0) {
      Tensor& wo = out.params[b + ".attn.o.weight"];
      wo = scale(wo, opt.attention_gain).contiguous();
    }
    norm(b + ".ln1", l + ".attention.output.LayerNorm");
    linear(b + ".ffn.fc1", l + ".intermediate.dense", m.d_ff, d);
    linear(b + ".ffn.fc2", l + ".output.dense", d, m.d_ff);
    norm(b + ".ln2", l + ".output.LayerNorm");
  }
  if (opt.attention_gain != 1.0)
    out.notes.push_back("attention output projections (blocks.*.attn.o.weight) multiplied by " +
                        std::to_string(opt.attention_gain));
  bool has_pooler = st.has(prefix + "pooler.dense.weight");
  if (m.task == TaskKind::Classification) {
    if (m.pooling == Pooling::First && has_pooler) {
      linear("head.fc1", "pooler.dense", d, d);
      m.head_activation = FfnActivation::Tanh;
      out.notes.push_back("pooler.dense imported as head.fc1 with tanh (BERT's pooler); head.fc2 is new");
    } else {
      out.notes.push_back("head.fc1 and head.fc2 are new (freshly initialised)");
    }
  }
  for (const std::string& n : st.names())
    if (!used.count(n)) out.notes.push_back("not imported: " + n);
  return out;
}

}  // namespace st
