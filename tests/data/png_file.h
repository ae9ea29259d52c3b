// Writes a PNG file for tests that decode images (libpng's simplified API): `data` holds
// w x h pixels in `format` (PNG_FORMAT_GRAY, PNG_FORMAT_RGB, ...), row by row. Creates the folder.
#pragma once
#include <gtest/gtest.h>
#include <png.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace st::testing {

inline void write_png(const std::string& path, int w, int h, uint32_t format, const std::vector<uint8_t>& data) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(w);
  image.height = static_cast<png_uint_32>(h);
  image.format = format;
  ASSERT_TRUE(png_image_write_to_file(&image, path.c_str(), 0, data.data(), 0, nullptr)) << image.message;
}

}  // namespace st::testing
