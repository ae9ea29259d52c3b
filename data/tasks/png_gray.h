// PNG decoding to 8-bit gray with libpng: gray images are taken as they are; palette and RGB are
// expanded and converted with the BT.601 luma; alpha is composited over black; 16-bit samples
// keep their high byte; no gamma correction is applied (pixel values as stored).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace st::tasks {

struct GrayImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // row-major, width * height
};

// Errors name the path (missing file, not a PNG, corrupt data).
GrayImage read_png_gray(const std::string& path);

}  // namespace st::tasks
