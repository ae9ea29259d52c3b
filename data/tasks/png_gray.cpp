// libpng-based gray PNG reader; see png_gray.h. libpng reports errors by longjmp, so the
// decoding runs in a function that holds only plain C state.
#include "data/tasks/png_gray.h"

#include <png.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/tensor/error.h"
#include "data/io_error.h"
#include "data/tasks/luma.h"

namespace st::tasks {

namespace {

struct PngState {
  char message[256] = "unknown libpng error";
  png_uint_32 width = 0, height = 0;
  int channels = 0;
  size_t row_bytes = 0;
  unsigned char* data = nullptr;
  png_bytep* rows = nullptr;
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof st->message, "%s", msg);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

constexpr png_uint_32 kMaxSide = 1u << 14;

// Decodes to 8-bit samples with 1-4 channels; false on error (message in st).
bool decode_png(std::FILE* fp, PngState* st) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, st, on_png_error, on_png_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_init_io(png, fp);
  png_set_sig_bytes(png, 8);
  png_set_user_limits(png, kMaxSide, kMaxSide);
  png_read_info(png, info);
  png_set_expand(png);  // palette -> RGB, gray < 8 bits -> 8 bits, tRNS -> alpha
  png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  st->width = png_get_image_width(png, info);
  st->height = png_get_image_height(png, info);
  st->channels = png_get_channels(png, info);
  st->row_bytes = png_get_rowbytes(png, info);
  st->data = static_cast<unsigned char*>(std::malloc(st->row_bytes * st->height));
  st->rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * st->height));
  if (!st->data || !st->rows) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < st->height; ++y) st->rows[y] = st->data + y * st->row_bytes;
  png_read_image(png, st->rows);
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace

GrayImage read_png_gray(const std::string& path) {
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  ST_CHECK(fp, path, ": cannot open: ", errno_message(errno));
  unsigned char sig[8];
  bool is_png = std::fread(sig, 1, 8, fp) == 8 && png_sig_cmp(sig, 0, 8) == 0;
  if (!is_png) {
    std::fclose(fp);
    ST_THROW(path, ": not a PNG file");
  }
  PngState st;
  bool ok = decode_png(fp, &st);
  std::fclose(fp);
  if (!ok) {
    std::free(st.data);
    std::free(st.rows);
    ST_THROW(path, ": cannot decode PNG: ", st.message);
  }
  GrayImage img;
  img.width = st.width;
  img.height = st.height;
  img.pixels.resize(static_cast<size_t>(img.width * img.height));
  for (png_uint_32 y = 0; y < st.height; ++y) {
    const unsigned char* row = st.rows[y];
    uint8_t* out = img.pixels.data() + static_cast<size_t>(y) * st.width;
    for (png_uint_32 x = 0; x < st.width; ++x) {
      const unsigned char* p = row + static_cast<size_t>(x) * st.channels;
      switch (st.channels) {
        case 1: out[x] = p[0]; break;
        case 2: out[x] = over_black(p[0], p[1]); break;
        case 3: out[x] = bt601_gray(p[0], p[1], p[2]); break;
        default: out[x] = over_black(bt601_gray(p[0], p[1], p[2]), p[3]); break;
      }
    }
  }
  std::free(st.data);
  std::free(st.rows);
  return img;
}

}  // namespace st::tasks
