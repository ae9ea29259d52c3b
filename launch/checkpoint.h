// Checkpoints: one HDF5 file per save (docs/design.md, "Runs and checkpoints") holding the parameters, the AdamW
// moments and step, the training-loader cursor, counters and the resolved config:
//   /params/<name>, /optim/m/<name>, /optim/v/<name>  f32, shaped like the parameter
//   attributes: format = "simpletron-checkpoint", version = 2, step, optimizer_step,
//   loader_epoch, loader_position, loader_dp, loader_micro_batch, skipped_steps, best_metric,
//   best_step, seed, config (YAML text), checksums ("DATASET CRC32C-HEX" per line)
// Writes go to a temporary name in the same directory, synced, and are renamed into place, so a
// crash or a full disk never replaces a good checkpoint. Loads verify every dataset read against
// its checksum (version 1 files have none and are still read) and refuse non-finite values.
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/nn/model.h"
#include "core/optim/adamw.h"
#include "data/loader.h"

namespace st {

struct CheckpointState {
  int64_t step = 0;                 // optimizer steps completed
  LoaderCursor cursor;              // next training batch
  int64_t loader_dp = 1;            // data-parallel size the cursor counts in
  int64_t loader_micro_batch = 1;   // examples per rank per batch the cursor counts in
  int64_t skipped_steps = 0;
  double best_metric = -std::numeric_limits<double>::infinity();
  int64_t best_step = 0;
  uint64_t seed = 0;
  std::string config_yaml;
};

// The moments are stored at each parameter's full shape whatever the run's layout, so a
// checkpoint of a sharded optimizer (distributed.zero 1) resumes unsharded and the other way round.
// They are written as the stream hands them over (stream_of(AdamW::state()), or
// ShardedAdamW::moment_stream(), whose other ranks run it alongside); the stream is run to its end
// unless the write fails, after which the caller owes the other ranks skip_rest().
void save_checkpoint(const std::string& path, const SimpleTronModel& model, MomentStream& optimizer,
                     const CheckpointState& state);

// Reads the state; when model is given, loads its parameters, and when optimizer is given too,
// reads the AdamW moments of every model parameter and the optimizer step into it, for the caller
// to load (AdamW::load_state, ShardedAdamW::load_state). Everything is checked before the model
// changes: a checkpoint of another model is an error naming the mismatched parameters.
CheckpointState load_checkpoint(const std::string& path, SimpleTronModel* model, AdamWState* optimizer);

// Weights only (no optimizer state), e.g. written by st-import: /params/<name> and the same
// attributes as a checkpoint at step 0. load_checkpoint(path, nullptr, nullptr) reads its config.
void save_weights(const std::string& path, const SimpleTronModel& model, const std::string& config_yaml);

// Initialisation from another run's checkpoint or an imported file (model.init_from): every
// parameter of `model` whose name is in the file is loaded (shapes must agree; a mismatch is an
// error naming the parameter); the others keep their fresh initialisation. With require_all a
// parameter missing from the file is an error.
struct WeightsReport {
  std::vector<std::string> loaded, fresh, unused;  // unused: in the file, not in the model
};
WeightsReport load_weights(const std::string& path, SimpleTronModel& model, bool require_all);

// The model a checkpoint or weights file describes: rebuilt from its stored config, every
// parameter loaded, in evaluation mode (teachers, st-eval).
std::unique_ptr<SimpleTronModel> load_model(const std::string& path);

// Reads every dataset of a checkpoint and checks it (checksums, finite values, a parsable
// config): "" when it verifies, else what is wrong (resume falls back past such a file).
std::string verify_checkpoint(const std::string& path);

// Step checkpoints in a run directory: RUN/checkpoints/step-<000123>.h5, plus best.h5.
std::string checkpoint_dir(const std::string& run_dir);
std::string step_checkpoint_path(const std::string& run_dir, int64_t step);
std::string best_checkpoint_path(const std::string& run_dir);
std::vector<std::string> step_checkpoints(const std::string& run_dir);  // oldest first
void prune_step_checkpoints(const std::string& run_dir, int64_t keep);

}  // namespace st
