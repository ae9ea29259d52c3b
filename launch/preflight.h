// The pre-flight check of a suite (st-train SUITE.yaml): before the first step of the first
// task, every task still to run has its config read and its data checked against it (shards
// present for data.train, data.val and data.test, and readable; vocabulary, sequence length,
// classes and pairing as the config says: resolve_against_data in trainer.h). Reads only the
// shards' headers: token and label values are checked when each task starts.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "launch/suite.h"

namespace st {

struct TaskCheck {
  std::string task, config;
  bool config_error = false;  // the task's config cannot be read (no data command is shown)
  bool missing = false;       // a split's glob matches no shard file
  bool data_error = false;    // missing or unreadable shards (exit 65); else a config fault (exit 2)
  std::string message;        // empty: the task can run
  std::string prepare;        // the config's data.prepare: the command that makes its data
};

// Checks the tasks of `suite` that are not done (RUN_DIR/<task>/results.json absent).
std::vector<TaskCheck> check_suite_tasks(const Suite& suite, const std::vector<std::string>& sets);

// Throws one error listing every task at fault, with the command that makes its data, when
// any is: a DataError when every fault is missing or unreadable data, else a ConfigError (as a
// single run decides: data that does not fit its config is a config error). With skip_missing, tasks
// whose only fault is missing data are not faults: they are returned, to be skipped, each with
// the command that makes its data.
std::map<std::string, std::string> require_suite_data(const std::vector<TaskCheck>& checks, bool skip_missing);

// Rank 0's skipped tasks, on every rank of `comm` (ranks whose file systems differ still skip
// the same tasks). A collective.
std::map<std::string, std::string> skipped_by_rank0(Communicator& comm, const std::map<std::string, std::string>& mine);

// How a task's data is made: its data.prepare, or where to read about it.
std::string how_to_make(const TaskCheck& check);

}  // namespace st
