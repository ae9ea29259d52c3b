// Fuzz target: a training config in YAML. A config that parses must survive a round trip: its
// resolved YAML (to_yaml) parses again to the same resolved YAML. The same text is also read as
// a suite config (a list of training configs) when it looks like one. Refusals must be st::Error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "launch/config/schema.h"
#include "launch/suite.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  st::fuzz::refusals_are_errors([&] {
    std::string resolved = st::to_yaml(st::train_config_from_yaml(text, "fuzz input"));
    std::string again = st::to_yaml(st::train_config_from_yaml(resolved, "resolved config"));
    if (again != resolved) {
      std::fprintf(stderr, "round trip changed the config:\n%s\n---\n%s\n", resolved.c_str(),
                   again.c_str());
      std::abort();
    }
  });
  std::string path = st::fuzz::Scratch::get().write("suite.yaml", data, size);
  if (st::is_suite_config(path)) st::fuzz::refusals_are_errors([&] { st::load_suite(path); });
  return 0;
}
