// Fuzz target: the TSV converters of st-data (listops-tsv, text-tsv, retrieval-tsv). The first
// byte picks the converter, the rest is the file. Shards are written to a scratch directory
// with small lengths so that every input runs quickly. Refusals must be st::Error.
#include <cstdint>

#include "data/tasks/byte_tsv.h"
#include "data/tasks/listops_tsv.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto& scratch = st::fuzz::Scratch::get();
  std::string input = scratch.write("input.tsv", data + 1, size - 1);
  std::string out = scratch.fresh_subdir("out") + "/train";
  st::tasks::JobOptions job;
  job.threads = 1;
  job.shard_size = 16;
  st::fuzz::refusals_are_errors([&] {
    switch (data[0] % 3) {
      case 0: {
        st::tasks::ListOpsTsvOptions opt;
        opt.max_len = 48;
        st::tasks::convert_listops_tsv(input, out, opt, job);
        break;
      }
      case 1: {
        st::tasks::ByteTsvOptions opt;
        opt.max_len = 48;
        opt.skip_header = (data[0] & 4) != 0;
        st::tasks::convert_text_tsv(input, out, opt, job);
        break;
      }
      default: {
        st::tasks::ByteTsvOptions opt;
        opt.max_len = 32;
        opt.classes = (data[0] & 8) ? 2 : 0;
        st::tasks::convert_retrieval_tsv(input, out, opt, job);
        break;
      }
    }
  });
  return 0;
}
