// CarvedSplitWriter: a validation share carved from a converted split (carved_split.h).
#include "data/tasks/carved_split.h"

#include <filesystem>

#include "core/tensor/error.h"
#include "data/tasks/seeds.h"

namespace st::tasks {

std::string default_val_prefix(const std::string& prefix) {
  std::filesystem::path parent = std::filesystem::path(prefix).parent_path();
  return (parent / "val").string();
}

bool carved_to_validation(uint64_t seed, int64_t index, double fraction) {
  // The top 53 bits as a double in [0, 1).
  double u = static_cast<double>(example_seed(seed, 0x76616c /* "val" */, static_cast<uint64_t>(index)) >> 11) *
             0x1.0p-53;
  return u < fraction;
}

CarvedSplitWriter::CarvedSplitWriter(const std::string& prefix, const ShardMeta& meta, const JobOptions& job)
    : fraction_(job.val_fraction), seed_(job.seed) {
  ST_CHECK(fraction_ >= 0 && fraction_ < 1, "--val-fraction must be in [0, 1), got ", fraction_);
  if (fraction_ > 0) {
    std::string val_prefix = job.val_prefix.empty() ? default_val_prefix(prefix) : job.val_prefix;
    ST_CHECK(val_prefix != prefix, "--val-out ", val_prefix, " is the --out prefix itself");
    check_outputs_free({prefix, val_prefix}, job.overwrite);  // both, before either is touched
    val_ = std::make_unique<SplitWriter>(val_prefix, meta, job.shard_size, job.overwrite);
  }
  main_ = std::make_unique<SplitWriter>(prefix, meta, job.shard_size, job.overwrite);
}

SplitWriter& CarvedSplitWriter::next_writer() {
  bool to_val = val_ && carved_to_validation(seed_, index_, fraction_);
  ++index_;
  return to_val ? *val_ : *main_;
}

void CarvedSplitWriter::add(const Example& e) { next_writer().add(e); }

void CarvedSplitWriter::add(const int32_t* inputs, const int32_t* inputs2, int32_t label) {
  next_writer().add(inputs, inputs2, label);
}

void CarvedSplitWriter::close(ConvertResult& result) {
  if (val_) {
    // An empty side would be a split that st-train cannot open: refuse (the unclosed writers
    // remove what they wrote).
    ST_CHECK(val_->examples() > 0 && main_->examples() > 0, "--val-fraction ", fraction_, " of ", index_,
             " examples left ", main_->examples(), " for training and ", val_->examples(),
             " for validation; each needs at least one (choose another fraction or --seed)");
    result.val_files = val_->close();
    result.val_examples = val_->examples();
  }
  result.files = main_->close();
  result.examples = main_->examples();
}

}  // namespace st::tasks
