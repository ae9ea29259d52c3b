// Fuzz target: the Pathfinder PNG converter's inputs. Even first byte: the rest is one PNG file,
// decoded to gray (read_png_gray). Odd first byte: the rest is a listing ("path<TAB>label"
// lines) read by read_png_listing. Refusals must be st::Error.
#include <cstdint>

#include "data/tasks/pathfinder_png.h"
#include "data/tasks/png_gray.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto& scratch = st::fuzz::Scratch::get();
  if (data[0] % 2 == 0) {
    std::string path = scratch.write("image.png", data + 1, size - 1);
    st::fuzz::refusals_are_errors([&] { st::tasks::read_png_gray(path); });
  } else {
    std::string path = scratch.write("listing.tsv", data + 1, size - 1);
    st::fuzz::refusals_are_errors([&] { st::tasks::read_png_listing(path, scratch.dir()); });
  }
  return 0;
}
