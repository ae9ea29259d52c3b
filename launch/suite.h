// A suite config (configs/lra.yaml) names task configs that st-train runs one after another in
// RUN_DIR/<name>; a task whose results.json exists is done, one with checkpoints is resumed.
// At the end the results table (per-task test accuracy and the average, beside published
// numbers) is written as RUN_DIR/results.md and RUN_DIR/results.csv.
//   suite:
//     run_dir: runs/lra
//     tasks:
//       - {name: listops, config: configs/lra/listops.yaml, published: 36.37}
//     skip_missing: false   # true: run the tasks that have their data, mark the others "no data"
#pragma once
#include <map>
#include <string>
#include <vector>

namespace st {

struct SuiteTask {
  std::string name, config;
  double published = -1;  // reference accuracy in %, -1 when none
};

struct Suite {
  std::string run_dir;
  std::string reference;  // where the published numbers come from
  std::vector<SuiteTask> tasks;
  bool skip_missing = false;  // as st-train --skip-missing (launch/preflight.h)
};

bool is_suite_config(const std::string& path);
Suite load_suite(const std::string& path);
// Writes results.md / results.csv from the tasks' results.json files; returns the Markdown. A
// task in `no_data` (task -> the command that makes its data) that has no result is marked
// "no data" (else "not run"), and the commands are listed below the table. The averages cover
// the tasks that have a result ("average (k of n tasks)" when some have none).
std::string write_suite_results(const Suite& suite, const std::map<std::string, std::string>& no_data = {});

}  // namespace st
