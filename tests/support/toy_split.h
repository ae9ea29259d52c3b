// A tiny labelled split for training tests: n examples of 12 tokens from 1..9 (a fixed pattern),
// label = first token % classes, written as PREFIX-0.h5 (one shard).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/shard.h"

namespace st::testing {

inline void write_toy_split(const std::string& prefix, int64_t n, int64_t vocab = 10, int64_t classes = 3) {
  ShardMeta m;
  m.task = "toy";
  m.vocab_size = vocab;
  m.num_classes = classes;
  m.seq_len = 12;
  ShardWriter w(prefix + "-0.h5", m, 16);
  std::vector<int32_t> in, lab;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < 12; ++j) in.push_back(static_cast<int32_t>((i * 7 + j * 3) % 9 + 1));
    lab.push_back(in[i * 12] % static_cast<int32_t>(classes));
  }
  w.append(in, {}, lab);
  w.close();
}

}  // namespace st::testing
