// st-train: the main program.
//   st-train CONFIG.yaml [--set key=value]... [--resume RUN_DIR] [--dry-run]
//   st-train --config-docs           (prints docs/config.md)
// Runs under mpirun, under srun (PMIx) or without a launcher. CONFIG may be a suite config
// (configs/lra.yaml) naming several task configs. Errors print one line "rank R: message" and
// exit non-zero; in a multi-process job a failing rank aborts the others.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "distributed/mpi_communicator.h"
#include "launch/config/schema.h"
#include "launch/device.h"
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

RunResult train_one(const std::string& config, const std::vector<std::string>& sets, const std::string& run_dir,
                    bool resume, bool dry_run) {
  TrainConfig cfg = load_train_config(config, sets);
  if (!run_dir.empty()) cfg.run_dir = run_dir;
  auto world = MpiCommunicator::world(cfg.dist.timeout_seconds);
  ProcessGrid grid(world, cfg.dist.sp);
  TrainOptions options{resume, dry_run};
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
  std::string config, resume_dir;
  std::vector<std::string> sets;
  bool dry_run = false, docs = false;
  app.add_option("config", config, "Run config (YAML), or a suite config naming several");
  app.add_option("--set", sets, "Override a key: --set model.layers=4 (repeatable)")->take_all();
  app.add_option("--resume", resume_dir, "Continue the run in RUN_DIR from its newest checkpoint");
  app.add_flag("--dry-run", dry_run, "Print the resolved config, parameter count, memory estimate and layout");
  app.add_flag("--config-docs", docs, "Print the documentation of every config key (Markdown)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc;
  }
  try {
    if (docs) {
      if (world_rank() == 0) std::printf("%s", config_docs_markdown().c_str());
      return 0;
    }
    if (config.empty()) throw CLI::RequiredError("config");
    install_preemption_handlers();
    if (is_suite_config(config)) {
      Suite suite = load_suite(config);
      std::filesystem::create_directories(suite.run_dir);
      for (const SuiteTask& t : suite.tasks) {
        std::string dir = suite.run_dir + "/" + t.name;
        if (std::filesystem::exists(dir + "/results.json")) {
          if (world_rank() == 0) std::printf("suite: %s already done (%s/results.json)\n", t.name.c_str(), dir.c_str());
          continue;
        }
        bool resume = std::filesystem::exists(dir + "/checkpoints") &&
                      !std::filesystem::is_empty(dir + "/checkpoints");
        if (world_rank() == 0) std::printf("suite: %s %s (%s)\n", resume ? "resuming" : "starting", t.name.c_str(), t.config.c_str());
        RunResult r = train_one(t.config, sets, dir, resume, dry_run);
        if (r.preempted) return 0;
      }
      if (world_rank() == 0 && !dry_run) std::printf("\n%s\nwritten to %s/results.md and results.csv\n",
                                                   write_suite_results(suite).c_str(), suite.run_dir.c_str());
      return 0;
    }
    RunResult r = train_one(config, sets, resume_dir, !resume_dir.empty(), dry_run);
    (void)r;
    return 0;
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", world_rank(), e.what());
    std::fflush(stderr);
    if (world_size() > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
}
