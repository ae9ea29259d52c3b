// st-checkpoint-digest FILE: the CRC32C of every parameter and AdamW moment of a checkpoint, one
// "DATASET CRC" line each, sorted, from its checksums attribute (launch/checkpoint.h). Two
// checkpoints hold bitwise the same state exactly when their digests are equal; the scripted
// tests compare runs with it (the files themselves differ in their stored config and metadata).
#include <cstdio>
#include <exception>
#include <sstream>
#include <string>

#include "data/h5.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: st-checkpoint-digest CHECKPOINT.h5\n");
    return 2;
  }
  try {
    st::h5::File f = st::h5::File::open_read(argv[1]);
    if (!f.has_attribute("checksums")) {
      std::fprintf(stderr, "%s: no checksums attribute (a version 1 checkpoint)\n", argv[1]);
      return 1;
    }
    std::istringstream lines(f.string_attribute("checksums"));
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("params/", 0) == 0 || line.rfind("optim/", 0) == 0) std::printf("%s\n", line.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
