// st-import: a BERT-family checkpoint directory (config.json, model.safetensors) to a SimpleTRON
// weights file that st-train (model.init_from, distill.teacher) and st-eval read.
//   st-import --from DIR --out FILE.h5 [--attention softmax|simpletron] [--task embedding|classification]
//             [--pooling mean|first] [--num-classes N] [--dropout P] [--attention-gain G]
// The file holds every parameter of the model described by its stored config (printed at the
// end); parameters BERT does not have (a new classification head) are freshly initialised.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/nn/model.h"
#include "launch/bert_import.h"
#include "launch/checkpoint.h"
#include "launch/config/schema.h"
#include "launch/cli.h"

int main(int argc, char** argv) {
  using namespace st;
  CLI::App app{"st-import: BERT-family checkpoint (HuggingFace directory) -> SimpleTRON weights"};
  std::string from, out, attention = "softmax", task = "embedding", pooling = "mean";
  int64_t num_classes = 2;
  float dropout = -1;
  app.add_option("--from", from, "Model directory with config.json and model.safetensors")->required();
  app.add_option("--out", out, "Weights file to write (HDF5)")->required();
  app.add_option("--attention", attention, "Attention of the SimpleTRON model: softmax (exact) or simpletron")
      ->check(CLI::IsMember(kAttentionKindNames.names()));
  app.add_option("--task", task, "embedding (pooled, normalised vector) or classification (new head)")
      ->check(CLI::IsMember({"embedding", "classification"}));
  app.add_option("--pooling", pooling, "mean over tokens (sentence-transformers) or first ([CLS], with the pooler)")
      ->check(CLI::IsMember({"mean", "first"}));
  app.add_option("--num-classes", num_classes, "Classes of a classification head")->check(CLI::Range(2, 1 << 20));
  app.add_option("--dropout", dropout, "Dropout of the model (default: the checkpoint's hidden_dropout_prob)")
      ->check(CLI::Range(0.0, 0.999));
  double attention_gain = 1.0;
  app.add_option("--attention-gain", attention_gain,
                 "Multiply each attention output projection Wo by this (0: a SimpleTRON student starts with its "
                 "attention branches off and learns them back)")
      ->check(CLI::Range(0.0, 1e6));
  if (int code = parse_command_line(app, argc, argv, "st-import"); code >= 0) return code;
  try {
    BertImportOptions opt;
    opt.attention = parse_attention(attention);
    opt.task = parse_task(task);
    opt.pooling = parse_pooling(pooling);
    opt.num_classes = num_classes;
    opt.dropout = dropout;
    opt.attention_gain = attention_gain;
    BertImport imp = import_bert(from, opt);
    SimpleTronModel model(imp.config);
    std::vector<std::string> fresh;
    {
      NoGradGuard ng;
      for (auto& [name, p] : model.named_parameters()) {
        auto it = imp.params.find(name);
        if (it == imp.params.end()) {
          fresh.push_back(name);
          continue;
        }
        copy_into(p, it->second);
      }
    }
    for (auto& [name, _] : imp.params) {
      bool known = false;
      for (auto& [n, p] : model.named_parameters()) known = known || n == name;
      ST_CHECK(known, "st-import: internal error: imported parameter ", name, " is not in the model");
    }
    TrainConfig cfg;
    cfg.model = imp.config;
    std::string yaml = to_yaml(cfg);
    save_weights(out, model, yaml);
    std::printf("st-import: %s -> %s: %lld parameters (%zu tensors imported, %zu new)\n", from.c_str(), out.c_str(),
                static_cast<long long>(model.parameter_count()), imp.params.size(), fresh.size());
    for (const std::string& n : imp.notes) std::printf("  %s\n", n.c_str());
    for (const std::string& n : fresh) std::printf("  new (fresh initialisation): %s\n", n.c_str());
    std::printf("model section of the stored config:\n");
    bool in_model = false;
    size_t start = 0;
    while (start < yaml.size()) {
      size_t end = yaml.find('\n', start);
      std::string line = yaml.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!line.empty() && line[0] != ' ') in_model = line.rfind("model:", 0) == 0;
      if (in_model) std::printf("  %s\n", line.c_str());
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "st-import: error: %s\n", e.what());
    return 1;
  }
}
