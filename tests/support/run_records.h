// What a finished st-train run left behind, read back for tests: the values of one metric from
// RUN/metrics.jsonl, and every parameter of a checkpoint flattened to fp64 (parameter-name
// order, as the model registers them).
#pragma once
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "core/nn/model.h"
#include "launch/checkpoint.h"

namespace st::testing {

// `key` of every record of `split` ("train", "val", "test") in RUN/metrics.jsonl, in file order.
inline std::vector<double> metric_values(const std::string& run_dir, const std::string& split,
                                         const std::string& key) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::vector<double> out;
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.value("split", "") == split && j.contains(key)) out.push_back(j[key].get<double>());
  }
  return out;
}

inline std::vector<double> train_losses(const std::string& run_dir) { return metric_values(run_dir, "train", "loss"); }

inline std::vector<double> checkpoint_params(const std::string& ckpt) {
  std::unique_ptr<SimpleTronModel> m = load_model(ckpt);
  std::vector<double> out;
  for (auto& [n, p] : m->named_parameters()) {
    auto v = p.to(DType::F64).to_vector<double>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace st::testing
