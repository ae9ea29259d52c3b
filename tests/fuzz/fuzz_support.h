// What every fuzz target shares: the input written to a file (the code under test reads files,
// as it does in use), a scratch directory for what a converter writes, and the rule that an
// input may be refused only with st::Error. Any other exception (std::bad_alloc, a JSON
// library's type error, std::length_error) escapes as an uncaught exception and so counts as a
// crash: a refusal must name the file and the problem, as st::Error messages do.
//
// A target defines LLVMFuzzerTestOneInput. Built with clang and ST_FUZZ=ON it links libFuzzer
// (scripts/fuzz.sh runs a timed session); otherwise it links replay_main.cpp, which runs each
// file of the committed corpus once (ctest label fuzz).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/tensor/error.h"

namespace st::fuzz {

// One directory per process, removed at exit: /dev/shm when it exists (an input is written for
// every run), else the temporary directory.
class Scratch {
 public:
  static Scratch& get() {
    static Scratch s;
    return s;
  }
  // Writes the input to NAME in the scratch directory and returns its path.
  std::string write(const std::string& name, const uint8_t* data, size_t size) {
    std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
      std::perror(path.c_str());
      std::abort();  // the harness itself failed, not the code under test
    }
    return path;
  }
  // An empty directory for outputs, cleared on every call.
  std::string fresh_subdir(const std::string& name) {
    std::string path = dir_ + "/" + name;
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
    return path;
  }
  const std::string& dir() const { return dir_; }

 private:
  Scratch() {
    std::filesystem::path base = std::filesystem::exists("/dev/shm")
                                     ? std::filesystem::path("/dev/shm")
                                     : std::filesystem::temp_directory_path();
    std::string tmpl = (base / "st-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    dir_ = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

// True when refusals are printed (ST_FUZZ_VERBOSE is set; the corpus replay sets it).
inline bool verbose() {
  static const bool on = std::getenv("ST_FUZZ_VERBOSE") != nullptr;
  return on;
}

// Runs `body`; st::Error is an accepted refusal, anything else propagates (a crash). With
// ST_FUZZ_VERBOSE set (the corpus replay sets it), each refusal is printed.
template <class F>
void refusals_are_errors(F&& body) {
  try {
    body();
  } catch (const st::Error& e) {
    if (verbose()) std::fprintf(stderr, "  refused: %s\n", e.what());
  }
}

}  // namespace st::fuzz
