// The global random-number index of a dropout element (GlobalIndexMap in backend.h), written
// once for both backends: a contiguous tensor of layout `l` is viewed as rows of its last
// dimension (length `len`); element j of row r draws index start + j * step of global_row(r).
// With an identity map (ndim 0) the index is the element's own flat index.
#pragma once
#include <cstdint>

#include "core/backend/backend.h"
#include "core/math/hd.h"

namespace st {

struct GlobalRow {
  int64_t start = 0;  // global index of the row's first element
  int64_t step = 1;   // global distance between neighbours in the row
};

ST_HD GlobalRow global_row(const GlobalIndexMap& map, const StridedLayout& l, int64_t row,
                           int64_t len) {
  GlobalRow g;
  int nd = l.ndim;
  if (map.ndim == 0 || nd == 0) {
    g.start = row * len;
    return g;
  }
  int64_t rem = row;
  for (int d = nd - 2; d >= 0; --d) {
    int64_t i = rem % l.shape[d];
    rem /= l.shape[d];
    g.start += (i + map.offset[d]) * map.global_strides[d];
  }
  g.start += map.offset[nd - 1] * map.global_strides[nd - 1];
  g.step = map.global_strides[nd - 1];
  return g;
}

// Global index of flat element i (row i / len, column i % len).
ST_HD int64_t global_index(const GlobalIndexMap& map, const StridedLayout& l, int64_t i,
                           int64_t len) {
  if (map.ndim == 0) return i;
  int64_t row = i / len, j = i - row * len;
  GlobalRow g = global_row(map, l, row, len);
  return g.start + j * g.step;
}

}  // namespace st
