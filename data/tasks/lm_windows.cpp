// Language-model window converter; see lm_windows.h.
#include "data/tasks/lm_windows.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include "core/tensor/error.h"
#include "data/tasks/byte_tsv.h"
#include "data/io_error.h"
#include "data/tasks/line_reader.h"
#include "data/tasks/vocab.h"

namespace st::tasks {

namespace {

// Sequential reads over several files as one stream, keeping a window of recent bytes.
class ByteStream {
 public:
  explicit ByteStream(const std::vector<std::string>& paths) : paths_(paths) {}

  // Bytes [begin, end) of the stream (end clipped at the stream's end); begin never decreases.
  std::string_view range(int64_t begin, int64_t end) {
    while (buf_begin_ + static_cast<int64_t>(buf_.size()) < end && refill()) {
    }
    int64_t skip = std::min<int64_t>(begin - buf_begin_, static_cast<int64_t>(buf_.size()));
    if (skip >= (1 << 20)) {  // forget consumed bytes in large steps (amortised copying)
      buf_.erase(0, static_cast<size_t>(skip));
      buf_begin_ += skip;
      skip = 0;
    }
    int64_t have = std::min<int64_t>(end, buf_begin_ + static_cast<int64_t>(buf_.size())) - begin;
    return std::string_view(buf_).substr(static_cast<size_t>(skip),
                                         static_cast<size_t>(std::max<int64_t>(have, 0)));
  }

 private:
  bool refill() {
    while (true) {
      if (!in_.is_open()) {
        if (next_ == paths_.size()) return false;
        in_.open(paths_[next_++], std::ios::binary);
        ST_CHECK(in_.good(), paths_[next_ - 1], ": cannot open: ", errno_message(errno));
      }
      char chunk[1 << 16];
      in_.read(chunk, sizeof chunk);
      std::streamsize got = in_.gcount();
      if (got > 0) {
        buf_.append(chunk, static_cast<size_t>(got));
        return true;
      }
      in_.close();
      in_.clear();
    }
  }

  const std::vector<std::string>& paths_;
  size_t next_ = 0;
  std::ifstream in_;
  std::string buf_;
  int64_t buf_begin_ = 0;
};

}  // namespace

int64_t lm_window_count(int64_t bytes, int64_t seq_len, int64_t stride) {
  if (bytes <= 0) return 0;
  int64_t last = bytes > seq_len ? (bytes - seq_len + stride - 1) / stride : 0;  // reaches the end
  return std::min(last, (bytes - 1) / stride) + 1;  // and starts inside the stream
}

ConvertResult convert_lm(const std::vector<std::string>& inputs, const std::string& out_prefix,
                         const LmOptions& opt, const JobOptions& job) {
  ST_CHECK(opt.seq_len >= 1, "--seq-len must be at least 1, got ", opt.seq_len);
  const int64_t stride = opt.stride > 0 ? opt.stride : opt.seq_len;
  ST_CHECK(opt.stride >= 0, "--stride must be positive, got ", opt.stride);
  ST_CHECK(!inputs.empty(), "--input: no text files given");
  int64_t bytes = 0;
  for (const auto& path : inputs) {
    require_readable(path, "--input");
    bytes += static_cast<int64_t>(std::filesystem::file_size(path));
  }
  ST_CHECK(bytes > 0, "--input: the input files are empty");
  const int64_t windows = lm_window_count(bytes, opt.seq_len, stride);

  const ShardMeta meta = byte_meta("lm", 0, opt.seq_len, false);

  ConvertResult result;
  SplitWriter writer(out_prefix, meta, job.shard_size, job.overwrite);
  if (job.progress) job.progress->start("lm", windows);
  ByteStream stream(inputs);
  std::vector<int32_t> ids(static_cast<size_t>(opt.seq_len));
  for (int64_t k = 0; k < windows; ++k) {
    std::string_view text = stream.range(k * stride, k * stride + opt.seq_len);
    std::fill(ids.begin(), ids.end(), kPadId);
    for (size_t i = 0; i < text.size(); ++i) ids[i] = byte_id(static_cast<unsigned char>(text[i]));
    writer.add(ids.data(), nullptr, 0);
    if (job.progress) job.progress->advance(1);
  }
  result.files = writer.close();
  result.examples = writer.examples();
  if (job.progress) job.progress->finish();
  return result;
}

}  // namespace st::tasks
