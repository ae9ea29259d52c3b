// st-train: the main program.
//   st-train CONFIG.yaml [--set key=value]... [--resume RUN_DIR|auto] [--allow-change KEY]... [--dry-run]
//   st-train SUITE.yaml [--skip-missing] (every task's data checked before the first starts)
//   st-train --resume RUN_DIR        (the run's stored config)
//   st-train --config-docs           (prints docs/config.md)
//   st-train --force-unlock RUN_DIR  (clears the lock of a run directory whose holder is gone)
// Runs under mpirun, under srun (PMIx) or without a launcher. CONFIG may be a suite config
// (configs/lra.yaml) naming several task configs. A job owns its run directory (and a suite its
// directory) for its whole life (launch/run_lock.h). Errors that every rank meets together
// (a config error, data that cannot be used, a run directory held by another job) are printed
// once by rank 0, and every rank exits with their code (distributed/exit_codes.h); an error of
// one rank alone prints "rank R: message" and, in a multi-process job, the failing rank aborts
// the others (exit code 65 for a data error, 2 for a config error, 1 otherwise).
#include <cstdio>
#include <filesystem>
#include <map>

#include "distributed/exit_codes.h"
#include "distributed/mpi_communicator.h"
#include "launch/cli.h"
#include "launch/config/schema.h"
#include "launch/device.h"
#include "launch/preflight.h"
#include "launch/run_lock.h"
#include "launch/suite.h"
#include "launch/trainer.h"

namespace {

using namespace st;

int world_rank() {
  int r = 0, init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int n = 1, init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// resume: "", a run directory, or "auto" (resume cfg.run_dir when it holds a checkpoint).
RunResult train_one(const std::string& config, const std::vector<std::string>& sets, const std::string& run_dir,
                    const std::string& resume, bool dry_run, const std::vector<std::string>& allow_change) {
  TrainConfig cfg;
  {
    // Every rank reads the same config: its errors are decided together (exit code 2).
    auto early = MpiCommunicator::world(600);
    run_together(*early, [&] { cfg = as_error<ConfigError>([&] { return load_train_config(config, sets); }); });
  }
  if (!run_dir.empty()) cfg.run_dir = run_dir;
  auto world = MpiCommunicator::world(cfg.dist.timeout_seconds);
  ProcessGrid grid(world, cfg.dist.sp);
  TrainOptions options{!resume.empty() && resume != "auto", dry_run};
  options.resume_auto = resume == "auto";
  options.allow_change = allow_change;
  if (cfg.device != "cpu") {  // the CUDA device is local rank % visible devices
    options.local_rank = local_rank_from_env();
    if (options.local_rank < 0) options.local_rank = MpiEnvironment::local_rank();  // every rank calls it
  }
  Trainer trainer(cfg, grid, options);
  return trainer.run();
}

}  // namespace

int main(int argc, char** argv) {
  MpiEnvironment env(&argc, &argv);
  CLI::App app{"st-train: train SimpleTRON models (and baselines) on CPU, GPU or a cluster"};
  std::string config, resume_dir, unlock_dir;
  std::vector<std::string> sets, allow_change;
  bool dry_run = false, docs = false, skip_missing = false;
  app.add_option("config", config, "Run config (YAML), or a suite config naming several");
  app.add_option("--set", sets, "Override a key: --set model.layers=4 (repeatable)")->take_all();
  app.add_option("--resume", resume_dir,
                 "RUN_DIR: continue that run from its newest valid checkpoint (without a CONFIG, with the one stored "
                 "in RUN_DIR/config.yaml). auto: continue the config's run_dir when it holds a checkpoint, else start "
                 "fresh (for requeued jobs)");
  app.add_option("--allow-change", allow_change,
                 "On resume, let KEY differ from the config the run was started with (repeatable); other changes "
                 "are refused, listing them (docs/config.md says which keys may always change)")
      ->take_all();
  app.add_flag("--dry-run", dry_run, "Print the resolved config, parameter count, memory estimate and layout");
  app.add_flag("--skip-missing", skip_missing,
               "Suites: run the tasks that have their data and mark the others \"no data\" in results.md (as "
               "suite.skip_missing: true); without it, a task whose data is missing stops the suite before its start");
  app.add_flag("--config-docs", docs, "Print the documentation of every config key (Markdown)");
  app.add_option("--force-unlock", unlock_dir,
                 "Remove the lock of RUN_DIR left by a job that is gone (refused while its holder runs), then exit");
  if (int code = parse_command_line(app, argc, argv, "st-train", world_rank() == 0); code >= 0) return code;
  try {
    if (docs) {
      if (world_rank() == 0) std::printf("%s", config_docs_markdown().c_str());
      return 0;
    }
    if (!unlock_dir.empty()) {
      if (world_rank() == 0) std::printf("%s\n", force_unlock(unlock_dir).c_str());
      return 0;
    }
    for (const std::string& key : allow_change) {
      try {
        check_config_key(key, "--allow-change");
      } catch (const Error& e) {
        throw CLI::ValidationError(e.what());  // a usage error
      }
    }
    if (config.empty() && !resume_dir.empty() && resume_dir != "auto") {
      // The run's own resolved config; its run_dir is replaced by RUN_DIR (the directory may have moved).
      config = resume_dir + "/config.yaml";
      if (!std::filesystem::exists(config))
        throw CLI::ValidationError("--resume " + resume_dir, "without a CONFIG needs " + config +
                                                                 ", which does not exist; give the config");
    }
    if (config.empty()) throw CLI::RequiredError("config");
    if (skip_missing && !is_suite_config(config))
      throw CLI::ValidationError("--skip-missing", "is for suite configs (a single run needs its data)");
    if (resume_dir == "auto" && is_suite_config(config))
      throw CLI::ValidationError("--resume auto", "a suite resumes its unfinished tasks by itself; drop --resume");
    install_preemption_handlers();
    if (is_suite_config(config)) {
      Suite suite = as_error<ConfigError>([&] { return load_suite(config); });
      // Pre-flight: every task still to run, against its data, before the first step and before
      // anything is written (a dry run plans each task by itself, without the data when its config
      // gives the sizes).
      // The suite's directory is then the suite's for its whole run (each task's run dir has its
      // own lock too); a dry run takes no lock and writes nothing.
      std::map<std::string, std::string> no_data;
      std::unique_ptr<RunDirLock> suite_lock;
      if (!dry_run) {
        auto world = MpiCommunicator::world(600);
        if (world_rank() == 0) {
          std::printf("suite: checking the data of every task against its config\n");
          std::fflush(stdout);
        }
        run_together(*world, [&] {
          no_data = require_suite_data(check_suite_tasks(suite, sets), skip_missing || suite.skip_missing);
        });
        no_data = skipped_by_rank0(*world, no_data);
        std::vector<std::string> notes;
        suite_lock = acquire_run_dir_lock(suite.run_dir, RunLockOptions{}, *world, &notes);
      }
      if (world_rank() == 0)
        for (const auto& [task, prepare] : no_data)
          std::printf("suite: %s has no data and is skipped (--skip-missing); make it: %s\n", task.c_str(),
                      prepare.c_str());
      for (const SuiteTask& t : suite.tasks) {
        std::string dir = suite.run_dir + "/" + t.name;
        if (no_data.count(t.name)) continue;
        if (std::filesystem::exists(dir + "/results.json")) {
          if (world_rank() == 0) std::printf("suite: %s already done (%s/results.json)\n", t.name.c_str(), dir.c_str());
          continue;
        }
        bool resume = std::filesystem::exists(dir + "/checkpoints") &&
                      !std::filesystem::is_empty(dir + "/checkpoints");
        if (world_rank() == 0) std::printf("suite: %s %s (%s)\n", resume ? "resuming" : "starting", t.name.c_str(), t.config.c_str());
        RunResult r = train_one(t.config, sets, dir, resume ? dir : "", dry_run, allow_change);
        if (r.preempted) return kExitPreempted;
      }
      if (world_rank() == 0 && !dry_run) std::printf("\n%s\nwritten to %s/results.md and results.csv\n",
                                                   write_suite_results(suite, no_data).c_str(), suite.run_dir.c_str());
      return 0;
    }
    RunResult r = train_one(config, sets, resume_dir == "auto" ? "" : resume_dir, resume_dir, dry_run, allow_change);
    return r.preempted ? kExitPreempted : kExitOk;
  } catch (const CLI::Error& e) {
    return usage_exit(app, e, world_rank() == 0);
  } catch (const CollectiveError& e) {  // every rank is here with the same message
    if (world_rank() == 0) {
      std::fprintf(stderr, "st-train: %s\n", e.what());
      std::fflush(stderr);
    }
    return e.exit_code();
  } catch (const std::exception& e) {
    if (world_size() > 1) std::fprintf(stderr, "rank %d: %s\n", world_rank(), e.what());
    else std::fprintf(stderr, "st-train: %s\n", e.what());
    std::fflush(stderr);
    int code = exit_code_of(e);
    if (world_size() > 1) MPI_Abort(MPI_COMM_WORLD, code);
    return code;
  }
}
