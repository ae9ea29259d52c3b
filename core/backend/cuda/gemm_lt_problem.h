// Host-only side of the CUDA GEMM: checks a row-major GemmArgs, translates it into the
// column-major problem handed to cuBLASLt, and builds the key under which the backend caches
// the algorithm chosen for it. Row-major C (m, n) = op(A) op(B) is column-major
// C^T (n, m) = op(B)^T op(A)^T: the operands swap places and a row-major (r, c) matrix with row
// stride ld is a column-major (c, r) matrix with the same ld. No CUDA headers, so the
// translation is tested on machines without a GPU.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <sstream>
#include <string>

#include "core/backend/backend.h"
#include "core/tensor/error.h"

namespace st::cuda {

// One operand as cuBLASLt sees it: a column-major (rows, cols) matrix as stored (before op),
// column stride ld, `batch_stride` elements between batch items (0: shared by all items).
struct LtMatrix {
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
  int64_t batch_stride = 0;
  bool trans = false;  // op = transpose
  bool operator==(const LtMatrix&) const = default;
};

// D (m, n) = alpha op(A) (m, k) op(B) (k, n) + beta C, column-major, `batch` items; C = D.
struct LtProblem {
  uint64_t m = 0, n = 0, k = 0;
  LtMatrix a, b, c;
  int32_t batch = 1;
};

// The problem in words, for error messages: dtypes, sizes, transposes, lds and strides.
inline std::string describe_gemm(const GemmArgs& g) {
  std::ostringstream os;
  os << "gemm " << dtype_name(g.dtype) << " x " << dtype_name(g.dtype) << " -> "
     << (g.c_f32 ? "f32" : dtype_name(g.dtype)) << ": C (" << g.m << ", " << g.n
     << ") = " << (g.trans_a ? "A^T" : "A") << " (" << g.m << ", " << g.k << ") @ "
     << (g.trans_b ? "B^T" : "B") << " (" << g.k << ", " << g.n << "), batch " << g.batch
     << ", lda " << g.lda << " ldb " << g.ldb << " ldc " << g.ldc << ", strides " << g.stride_a
     << " " << g.stride_b << " " << g.stride_c << ", beta " << g.beta;
  return os.str();
}

// Throws unless g is a problem the CUDA GEMM accepts: sizes >= 0 (checked first, also for
// empty problems), c_f32 only with bf16 operands, and for a non-empty problem: row strides that
// hold a row (>= max(1, columns as stored)), batch strides >= 0, distinct C per batch item, and
// a batch count that fits cuBLASLt's int32 field.
inline void check_gemm_args(const GemmArgs& g) {
  ST_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0 && g.batch >= 0, "gemm: negative size m ", g.m, " n ",
           g.n, " k ", g.k, " batch ", g.batch);
  ST_CHECK(!g.c_f32 || g.dtype == DType::BF16,
           "gemm: an f32 output (c_f32) needs bf16 operands, got ", dtype_name(g.dtype));
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  ST_CHECK(g.ldc >= g.n, "gemm: ldc ", g.ldc, " is smaller than n ", g.n, " (", describe_gemm(g),
           ")");
  int64_t a_cols = g.trans_a ? g.m : g.k, b_cols = g.trans_b ? g.k : g.n;
  ST_CHECK(g.lda >= std::max<int64_t>(a_cols, 1), "gemm: lda ", g.lda, " is smaller than the ",
           a_cols, " columns of A as stored (", describe_gemm(g), ")");
  ST_CHECK(g.ldb >= std::max<int64_t>(b_cols, 1), "gemm: ldb ", g.ldb, " is smaller than the ",
           b_cols, " columns of B as stored (", describe_gemm(g), ")");
  ST_CHECK(g.batch <= std::numeric_limits<int32_t>::max(), "gemm: batch ", g.batch,
           " exceeds the int32 batch count of cuBLASLt (", describe_gemm(g), ")");
  if (g.batch > 1) {
    ST_CHECK(g.stride_a >= 0 && g.stride_b >= 0 && g.stride_c >= 0, "gemm: negative batch stride (",
             describe_gemm(g), ")");
    ST_CHECK(g.stride_c != 0, "gemm: stride_c 0 would make all ", g.batch,
             " batch items write the same C (", describe_gemm(g), ")");
  }
}

// The column-major problem of a checked, non-empty g: cuBLASLt's A is our B and its B our A.
// With one batch item the batch strides are irrelevant and set to 0 (as in the plan key).
inline LtProblem lt_problem(const GemmArgs& g) {
  bool batched = g.batch > 1;
  LtProblem p;
  p.m = static_cast<uint64_t>(g.n);
  p.n = static_cast<uint64_t>(g.m);
  p.k = static_cast<uint64_t>(g.k);
  // Our B is stored row-major (k, n), or (n, k) with trans_b: column-major (n, k) or (k, n).
  p.a.rows = static_cast<uint64_t>(g.trans_b ? g.k : g.n);
  p.a.cols = static_cast<uint64_t>(g.trans_b ? g.n : g.k);
  p.a.ld = g.ldb;
  p.a.batch_stride = batched ? g.stride_b : 0;
  p.a.trans = g.trans_b;
  // Our A is stored row-major (m, k), or (k, m) with trans_a: column-major (k, m) or (m, k).
  p.b.rows = static_cast<uint64_t>(g.trans_a ? g.m : g.k);
  p.b.cols = static_cast<uint64_t>(g.trans_a ? g.k : g.m);
  p.b.ld = g.lda;
  p.b.batch_stride = batched ? g.stride_a : 0;
  p.b.trans = g.trans_a;
  // Our C (m, n) row-major is column-major (n, m).
  p.c.rows = static_cast<uint64_t>(g.n);
  p.c.cols = static_cast<uint64_t>(g.m);
  p.c.ld = g.ldc;
  p.c.batch_stride = batched ? g.stride_c : 0;
  p.batch = static_cast<int32_t>(g.batch);
  return p;
}

// The largest power of two (at most 256 bytes, cuBLASLt's default assumption) dividing p's
// address; 256 for a null pointer.
inline uint32_t pointer_alignment(const void* p) {
  auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 1;
  while (align < 256 && (a & (uintptr_t(align) * 2 - 1)) == 0) align *= 2;
  return align;
}

// Everything the algorithm choice depends on. Pointers enter only through their alignment, so
// a steady training step (same shapes, fresh buffers) hits the cache.
struct GemmPlanKey {
  DType dtype = DType::F32;
  bool c_f32 = false, trans_a = false, trans_b = false, beta_nonzero = false;
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0, batch = 0;
  uint32_t align_a = 0, align_b = 0, align_c = 0;
  bool operator==(const GemmPlanKey&) const = default;
};

inline GemmPlanKey gemm_plan_key(const GemmArgs& g) {
  GemmPlanKey key;
  key.dtype = g.dtype;
  key.c_f32 = g.c_f32;
  key.trans_a = g.trans_a;
  key.trans_b = g.trans_b;
  key.beta_nonzero = g.beta != 0.0;
  key.m = g.m;
  key.n = g.n;
  key.k = g.k;
  key.lda = g.lda;
  key.ldb = g.ldb;
  key.ldc = g.ldc;
  // A stride is irrelevant (and 0 is the canonical value) when there is one batch item.
  key.stride_a = g.batch > 1 ? g.stride_a : 0;
  key.stride_b = g.batch > 1 ? g.stride_b : 0;
  key.stride_c = g.batch > 1 ? g.stride_c : 0;
  key.batch = g.batch;
  key.align_a = pointer_alignment(g.a);
  key.align_b = pointer_alignment(g.b);
  key.align_c = pointer_alignment(g.c);
  return key;
}

struct GemmPlanKeyHash {
  size_t operator()(const GemmPlanKey& k) const {
    size_t h = 0;
    auto mix = [&h](uint64_t v) {
      h ^= std::hash<uint64_t>{}(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    };
    mix(static_cast<uint64_t>(k.dtype));
    mix(uint64_t(k.c_f32) | uint64_t(k.trans_a) << 1 | uint64_t(k.trans_b) << 2 |
        uint64_t(k.beta_nonzero) << 3);
    for (int64_t v :
         {k.m, k.n, k.k, k.lda, k.ldb, k.ldc, k.stride_a, k.stride_b, k.stride_c, k.batch})
      mix(static_cast<uint64_t>(v));
    mix(uint64_t(k.align_a) | uint64_t(k.align_b) << 16 | uint64_t(k.align_c) << 32);
    return h;
  }
};

}  // namespace st::cuda
