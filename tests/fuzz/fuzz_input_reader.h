// Decodes a fuzz input into typed choices (structure-aware targets): integers, picks among
// alternatives and strings, read from the front of the bytes. An exhausted input reads as zeros,
// so every input decodes to something.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace st::fuzz {

class InputReader {
 public:
  InputReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <class T>
  T take() {
    T v{};
    size_t n = std::min(sizeof(T), size_ - pos_);
    std::memcpy(&v, data_ + pos_, n);
    pos_ += n;
    return v;
  }
  // One of 0..n-1.
  uint32_t pick(uint32_t n) { return n == 0 ? 0 : take<uint8_t>() % n; }
  bool flip() { return take<uint8_t>() & 1; }
  // 0..max_len bytes.
  std::string text(size_t max_len) {
    size_t n = std::min<size_t>(take<uint16_t>() % (max_len + 1), size_ - pos_);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  // Either a value from `interesting` (boundaries, limits) or raw bits.
  template <class T, size_t N>
  T value(const T (&interesting)[N]) {
    return flip() ? interesting[pick(N)] : take<T>();
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace st::fuzz
