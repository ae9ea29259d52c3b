// The pre-flight check of a suite; see preflight.h.
#include "launch/preflight.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/tensor/error.h"
#include "data/shard.h"
#include "launch/config/schema.h"
#include "launch/trainer.h"

namespace st {

std::vector<TaskCheck> check_suite_tasks(const Suite& suite, const std::vector<std::string>& sets) {
  std::vector<TaskCheck> checks;
  for (const SuiteTask& t : suite.tasks) {
    if (std::filesystem::exists(suite.run_dir + "/" + t.name + "/results.json")) continue;
    TaskCheck c;
    c.task = t.name;
    c.config = t.config;
    TrainConfig cfg;
    try {
      cfg = load_train_config(t.config, sets);
      c.prepare = cfg.data.prepare;
    } catch (const Error& e) {
      c.config_error = true;
      c.message = e.what();
      checks.push_back(c);
      continue;
    }
    for (const auto& [key, glob] : {std::pair{"data.train", cfg.data.train}, std::pair{"data.val", cfg.data.val},
                                    std::pair{"data.test", cfg.data.test}}) {
      if (glob.empty() || !split_files(glob).empty()) continue;
      c.missing = c.data_error = true;
      c.message += std::string(c.message.empty() ? "" : "; ") + key + " '" + glob + "' matches no shard files";
    }
    if (!c.missing) {
      try {
        resolve_against_data(cfg, ShardCheck::Headers);  // each task checks its values when it starts
        cfg.model.validate();
      } catch (const DataError& e) {
        c.data_error = true;
        c.message = e.what();
      } catch (const Error& e) {  // the data does not fit the config
        c.message = e.what();
      }
    }
    checks.push_back(c);
  }
  return checks;
}

std::map<std::string, std::string> skipped_by_rank0(Communicator& comm, const std::map<std::string, std::string>& mine) {
  if (comm.size() == 1) return mine;
  nlohmann::json j = mine;
  return nlohmann::json::parse(broadcast_text(comm, comm.rank() == 0 ? j.dump() : "", 0))
      .get<std::map<std::string, std::string>>();
}

std::string how_to_make(const TaskCheck& check) {
  return check.prepare.empty() ? "see the comment at the top of " + check.config : check.prepare;
}

std::map<std::string, std::string> require_suite_data(const std::vector<TaskCheck>& checks, bool skip_missing) {
  std::map<std::string, std::string> skipped;
  std::ostringstream faults;
  int n = 0;
  bool config_error = false;
  for (const TaskCheck& c : checks) {
    if (c.message.empty()) continue;
    if (skip_missing && c.missing) {
      skipped[c.task] = how_to_make(c);
      continue;
    }
    ++n;
    config_error |= !c.data_error;
    faults << "\n  " << c.task << " (" << c.config << "): " << c.message;
    if (c.config_error) continue;
    faults << "\n    make its data: " << how_to_make(c);
  }
  if (n == 0) return skipped;
  std::string message = "pre-flight: " + std::to_string(n) + (n == 1 ? " task" : " tasks") +
                        " of the suite cannot run; nothing was trained:" + faults.str();
  bool any_missing = false;
  for (const TaskCheck& c : checks) any_missing |= c.missing;
  if (any_missing && !skip_missing)
    message += "\n  (--skip-missing runs the tasks that have their data and marks the others \"no data\")";
  if (config_error) throw ConfigError(message);
  throw DataError(message);
}

}  // namespace st
