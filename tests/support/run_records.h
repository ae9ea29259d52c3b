// What a finished st-train run left behind, read back for tests: the values of one metric from
// RUN/metrics.jsonl, every parameter of a checkpoint flattened to fp64 (parameter-name order, as
// the model registers them), and the error measure two runs are compared with.
#pragma once
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
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

// max |got - want| / max(1, max |want|); infinite when either side has a non-finite value.
inline double run_rel_error(const std::vector<double>& got, const std::vector<double>& want) {
  EXPECT_EQ(got.size(), want.size());
  double num = 0, den = 1;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return INFINITY;
    num = std::max(num, std::fabs(got[i] - want[i]));
    den = std::max(den, std::fabs(want[i]));
  }
  return num / den;
}

}  // namespace st::testing
