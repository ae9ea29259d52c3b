// The summation order of the embedding backward, shared by the CPU and CUDA backends so that they
// agree bitwise. Token positions are stably sorted by id, so the positions of one id form a run
// [s, e) of sorted indices, in token order. The sorted index space is cut into pieces of
// kSegmentPiece indices; a run is split where it crosses a cut. Each piece of a run is summed in
// order starting from 0; the run's total is its one piece, or the in-order sum (from 0) of its
// pieces; then dtable[id] += total. A frequent id (the padding id, a common byte) thus spreads
// over tokens / kSegmentPiece parallel pieces instead of one serial loop.
#pragma once
#include <cstdint>

#include "core/math/hd.h"

namespace st {

constexpr int64_t kSegmentPiece = 256;

// The end (exclusive) of the piece of run [s, e) that starts at sorted index s.
ST_HD int64_t segment_piece_end(int64_t s, int64_t e) {
  int64_t cut = (s / kSegmentPiece + 1) * kSegmentPiece;
  return cut < e ? cut : e;
}

// The piece (cut interval) that sorted index s lies in.
ST_HD int64_t segment_piece_of(int64_t s) { return s / kSegmentPiece; }

}  // namespace st
