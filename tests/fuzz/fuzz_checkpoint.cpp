// Fuzz target: a checkpoint file (st-train --resume, st-eval). The input is the bytes of one
// HDF5 checkpoint; it is verified (structure, sizes against the stored model, checksums,
// finite values) and, when it verifies, the model is built and loaded from it. Refusals must be
// st::Error; sizes claimed by the file must never be trusted before they are checked.
#include <cstdint>
#include <cstdio>

#include "launch/checkpoint.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = st::fuzz::Scratch::get().write("checkpoint.h5", data, size);
  st::fuzz::refusals_are_errors([&] {
    std::string problem = st::verify_checkpoint(path);
    if (problem.empty())
      st::load_model(path);
    else if (st::fuzz::verbose())
      std::fprintf(stderr, "  does not verify: %s\n", problem.c_str());
  });
  return 0;
}
