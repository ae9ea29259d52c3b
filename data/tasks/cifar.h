// `st-data image`: CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin) to LRA's
// "image" task. A record is 1 label byte then 3072 bytes: the R, G and B planes, 32x32 each, row
// by row. Each pixel becomes its ITU-R BT.601 luma round(0.299 R + 0.587 G + 0.114 B), as token
// gray + 1: 1024 tokens per image, 10 classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/tasks/job.h"
#include "data/tasks/luma.h"

namespace st::tasks {

constexpr int64_t kCifarSide = 32;
constexpr int64_t kCifarPixels = kCifarSide * kCifarSide;
constexpr int64_t kCifarRecordBytes = 1 + 3 * kCifarPixels;

ConvertResult convert_cifar10(const std::vector<std::string>& inputs, const std::string& out_prefix,
                              const JobOptions& job);

}  // namespace st::tasks
