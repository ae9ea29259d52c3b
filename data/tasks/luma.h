// Colour to gray: the ITU-R BT.601 luma round(0.299 R + 0.587 G + 0.114 B), in exact integer
// arithmetic (halves round up), used for CIFAR-10 images and colour PNGs alike.
#pragma once
#include <cstdint>

namespace st::tasks {

inline uint8_t bt601_gray(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((299u * r + 587u * g + 114u * b + 500u) / 1000u);
}

// A gray value with alpha, composited over black: round(gray * alpha / 255).
inline uint8_t over_black(uint8_t gray, uint8_t alpha) {
  return static_cast<uint8_t>((gray * alpha + 127u) / 255u);
}

}  // namespace st::tasks
