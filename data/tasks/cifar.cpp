// CIFAR-10 binary converter; see cifar.h.
#include "data/tasks/cifar.h"

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "core/tensor/error.h"
#include "data/tasks/carved_split.h"
#include "data/io_error.h"
#include "data/tasks/line_reader.h"
#include "data/tasks/vocab.h"

namespace st::tasks {

ConvertResult convert_cifar10(const std::vector<std::string>& inputs, const std::string& out_prefix,
                              const JobOptions& job) {
  ST_CHECK(!inputs.empty(), "--input: no CIFAR-10 batch files given");
  int64_t records = 0;
  for (const auto& path : inputs) {
    require_readable(path, "--input");
    auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
    ST_CHECK(bytes > 0 && bytes % kCifarRecordBytes == 0, path, ": size ", bytes,
             " bytes is not a whole number of CIFAR-10 records of ", kCifarRecordBytes,
             " bytes (1 label + 3072 pixels); CIFAR-100 and the Python pickles are not supported");
    records += bytes / kCifarRecordBytes;
  }
  ShardMeta meta;
  meta.task = "image";
  meta.vocab_size = kPixelVocabSize;
  meta.num_classes = 10;
  meta.seq_len = kCifarPixels;
  meta.vocabulary = pixel_vocabulary();

  ConvertResult result;
  CarvedSplitWriter writer(out_prefix, meta, job);
  if (job.progress) job.progress->start("image", records);
  std::vector<unsigned char> rec(static_cast<size_t>(kCifarRecordBytes));
  std::vector<int32_t> ids(static_cast<size_t>(kCifarPixels));
  for (const auto& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    ST_CHECK(in.good(), path, ": cannot open: ", errno_message(errno));
    for (int64_t r = 0; in.read(reinterpret_cast<char*>(rec.data()), kCifarRecordBytes); ++r) {
      int label = rec[0];
      ST_CHECK(label < 10, path, ": record ", r, " has label ", label,
               ", CIFAR-10 labels are 0-9 (is this a CIFAR-100 file?)");
      const unsigned char* red = rec.data() + 1;
      const unsigned char* green = red + kCifarPixels;
      const unsigned char* blue = green + kCifarPixels;
      for (int64_t p = 0; p < kCifarPixels; ++p)
        ids[static_cast<size_t>(p)] = pixel_id(bt601_gray(red[p], green[p], blue[p]));
      writer.add(ids.data(), nullptr, label);
      if (job.progress) job.progress->advance(1);
    }
  }
  writer.close(result);
  if (job.progress) job.progress->finish();
  return result;
}

}  // namespace st::tasks
