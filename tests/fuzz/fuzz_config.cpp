// Fuzz target: a training config in YAML. A config that parses must survive a round trip: its
// resolved YAML (to_yaml) parses again to the same resolved YAML. Refusals must be st::Error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "launch/config/schema.h"
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
  return 0;
}
