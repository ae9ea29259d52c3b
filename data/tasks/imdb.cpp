// The aclImdb tree to byte-level shards; see imdb.h.
#include "data/tasks/imdb.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/tensor/error.h"
#include "data/io_error.h"
#include "data/tasks/byte_tsv.h"
#include "data/tasks/carved_split.h"
#include "data/tasks/parallel.h"

namespace st::tasks {

namespace fs = std::filesystem;

std::vector<ImdbFile> list_imdb_split(const std::string& split_dir) {
  std::vector<ImdbFile> files;
  const char* classes[] = {"neg", "pos"};  // label = index
  for (int32_t label = 0; label < 2; ++label) {
    fs::path dir = fs::path(split_dir) / classes[label];
    std::error_code ec;
    ST_CHECK(fs::is_directory(dir, ec), dir.string(), ": no such folder (an IMDb split folder holds neg/ and pos/)");
    std::vector<std::string> names;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code file_ec;  // a dangling link is left out, not an error of the listing
      if (it->path().extension() == ".txt" && it->is_regular_file(file_ec)) names.push_back(it->path().string());
    }
    ST_CHECK(!ec, dir.string(), ": cannot list: ", ec.message());
    ST_CHECK(!names.empty(), dir.string(), ": no .txt reviews");
    std::sort(names.begin(), names.end());
    for (std::string& n : names) files.push_back({std::move(n), label});
  }
  return files;
}

ConvertResult convert_imdb_split(const std::string& split_dir, const std::string& out_prefix, int64_t max_len,
                                 const JobOptions& job) {
  ST_CHECK(max_len >= 1, "max_len must be at least 1, got ", max_len);
  std::vector<ImdbFile> files = list_imdb_split(split_dir);
  const ShardMeta meta = byte_meta("text", 2, max_len, false);

  ConvertResult result;
  CarvedSplitWriter writer(out_prefix, meta, job);
  if (job.progress) job.progress->start("text " + fs::path(split_dir).filename().string(),
                                        static_cast<int64_t>(files.size()));
  // Reviews are read in parallel blocks and written in order.
  const int64_t total = static_cast<int64_t>(files.size());
  const int64_t block = 1024;
  std::vector<std::vector<int32_t>> rows(static_cast<size_t>(block));
  std::vector<char> cut(static_cast<size_t>(block));
  for (int64_t b0 = 0; b0 < total; b0 += block) {
    const int64_t n = std::min(block, total - b0);
    parallel_for(n, job.threads, [&](int64_t i) {
      const std::string& path = files[static_cast<size_t>(b0 + i)].path;
      std::ifstream in(path, std::ios::binary);
      ST_CHECK(in.good(), path, ": cannot open: ", errno_message(errno));
      // Only the first max_len + 1 bytes matter (the rest is cut anyway; one more says it was).
      std::string text(static_cast<size_t>(max_len) + 1, '\0');
      in.read(text.data(), static_cast<std::streamsize>(text.size()));
      ST_CHECK(!in.bad(), path, ": read failed: ", errno_message(errno));
      text.resize(static_cast<size_t>(in.gcount()));
      bool truncated = false;
      rows[static_cast<size_t>(i)] = bytes_to_ids(text, max_len, &truncated);
      cut[static_cast<size_t>(i)] = truncated;
    });
    for (int64_t i = 0; i < n; ++i) {
      writer.add(rows[static_cast<size_t>(i)].data(), nullptr, files[static_cast<size_t>(b0 + i)].label);
      result.truncated += cut[static_cast<size_t>(i)];
    }
    if (job.progress) job.progress->advance(n);
  }
  writer.close(result);
  if (job.progress) job.progress->finish();
  return result;
}

}  // namespace st::tasks
