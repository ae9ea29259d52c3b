// Shape and strides: small vectors of int64 sizes (elements, not bytes), row-major by default.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <vector>

namespace st {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

inline Strides contiguous_strides(const Shape& s) {
  Strides st(s.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

// operator<< for Shape is in core/tensor/error.h (messages need it).


}  // namespace st
