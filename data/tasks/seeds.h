// Per-example random streams: every generated example draws from its own std::mt19937_64,
// seeded from (--seed, stream, example index, retry), so output does not depend on how many
// threads generate it or in which order.
#pragma once
#include <cstdint>
#include <random>

namespace st::tasks {

// SplitMix64 finaliser: a bijective mix of 64 bits.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t example_seed(uint64_t seed, uint64_t stream, uint64_t index, uint64_t retry = 0) {
  return mix64(mix64(mix64(mix64(seed) ^ stream) ^ index) ^ retry);
}

inline std::mt19937_64 example_rng(uint64_t seed, uint64_t stream, uint64_t index, uint64_t retry = 0) {
  return std::mt19937_64(example_seed(seed, stream, index, retry));
}

// Uniform draws with a fixed algorithm (the std distributions are implementation-defined, so
// the same seed could give different data with another standard library).
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Uniform integer in [lo, hi] (inclusive), by rejection: no modulo bias.
inline int64_t uniform_int(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
  if (range == 0) return static_cast<int64_t>(rng());
  uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t r;
  do r = rng();
  while (r >= limit);
  return lo + static_cast<int64_t>(r % range);
}

}  // namespace st::tasks
