// Host-side logic of the CUDA GEMM (core/backend/cuda/gemm_lt_problem.h), tested without a GPU:
// the column-major problem handed to cuBLASLt computes the same product as the row-major
// GemmArgs (checked by evaluating both definitions with plain loops), the argument checks name
// what is wrong, and the plan-cache key separates exactly the problems that need another plan.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/backend/cuda/gemm_lt_problem.h"

namespace st {
namespace {

using cuda::GemmPlanKey;
using cuda::LtProblem;

// Row-major definition: C = alpha op(A) op(B) + beta C per batch item (the GemmArgs contract).
void row_major_gemm(const GemmArgs& g, const double* a, const double* b, double* c) {
  for (int64_t i = 0; i < g.batch; ++i)
    for (int64_t r = 0; r < g.m; ++r)
      for (int64_t col = 0; col < g.n; ++col) {
        double sum = 0;
        for (int64_t p = 0; p < g.k; ++p) {
          double av =
              g.trans_a ? a[i * g.stride_a + p * g.lda + r] : a[i * g.stride_a + r * g.lda + p];
          double bv =
              g.trans_b ? b[i * g.stride_b + col * g.ldb + p] : b[i * g.stride_b + p * g.ldb + col];
          sum += av * bv;
        }
        double& out = c[i * g.stride_c + r * g.ldc + col];
        out = g.alpha * sum + g.beta * out;
      }
}

// Column-major definition of the cuBLASLt problem: element (i, j) of a column-major matrix with
// leading dimension ld is at i + j * ld; op transposes the stored matrix.
void column_major_lt(const LtProblem& p, double alpha, double beta, const double* a,
                     const double* b, double* c) {
  auto at = [](const cuda::LtMatrix& m, const double* base, int64_t item, uint64_t i,
               uint64_t j) {  // element (i, j) of op(m)
    uint64_t row = m.trans ? j : i, col = m.trans ? i : j;
    EXPECT_LT(row, m.rows);
    EXPECT_LT(col, m.cols);
    return base[item * m.batch_stride + int64_t(row) + int64_t(col) * m.ld];
  };
  for (int64_t item = 0; item < p.batch; ++item)
    for (uint64_t i = 0; i < p.m; ++i)
      for (uint64_t j = 0; j < p.n; ++j) {
        double sum = 0;
        for (uint64_t q = 0; q < p.k; ++q) sum += at(p.a, a, item, i, q) * at(p.b, b, item, q, j);
        EXPECT_TRUE(i < p.c.rows && j < p.c.cols);
        double& out = c[item * p.c.batch_stride + int64_t(i) + int64_t(j) * p.c.ld];
        out = alpha * sum + beta * out;
      }
}

std::vector<double> pattern(size_t n, double scale) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::sin(scale * double(i + 1));
  return v;
}

GemmArgs make_args(int64_t m, int64_t n, int64_t k, bool ta, bool tb, int64_t batch, bool shared_b,
                   int64_t pad) {
  GemmArgs g;
  g.trans_a = ta;
  g.trans_b = tb;
  g.m = m;
  g.n = n;
  g.k = k;
  g.alpha = 1.5;
  g.beta = 0.5;
  g.lda = (ta ? m : k) + pad;
  g.ldb = (tb ? k : n) + pad;
  g.ldc = n + pad;
  g.stride_a = (ta ? k : m) * g.lda;
  g.stride_b = shared_b ? 0 : (tb ? n : k) * g.ldb;
  g.stride_c = m * g.ldc;
  g.batch = batch;
  return g;
}

TEST(GemmLtProblem, ColumnMajorProblemEqualsRowMajorProduct) {
  struct Size {
    int64_t m, n, k;
  };
  const Size sizes[] = {{1, 1, 1}, {7, 33, 1}, {33, 7, 5}, {5, 129, 7}};
  for (const Size& s : sizes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (int variant = 0; variant < 3; ++variant) {  // plain, batched, shared B + padding
          int64_t batch = variant == 0 ? 1 : 3;
          GemmArgs g = make_args(s.m, s.n, s.k, ta, tb, batch, variant == 2, variant == 2 ? 3 : 0);
          // Extents as stored: (batch - 1) strides plus one (rows, ld) matrix.
          int64_t b_rows = tb ? s.n : s.k;
          std::vector<double> a = pattern(size_t(batch * g.stride_a), 0.37);
          std::vector<double> b = pattern(size_t((batch - 1) * g.stride_b + b_rows * g.ldb), 0.71);
          std::vector<double> c_row = pattern(size_t(batch * g.stride_c), 1.3), c_col = c_row;
          row_major_gemm(g, a.data(), b.data(), c_row.data());
          LtProblem p = cuda::lt_problem(g);
          // cuBLASLt's A is our B and its B our A.
          column_major_lt(p, g.alpha, g.beta, b.data(), a.data(), c_col.data());
          double err = 0;
          for (size_t i = 0; i < c_row.size(); ++i)
            err = std::max(err, std::fabs(c_row[i] - c_col[i]));
          EXPECT_LE(err, 1e-12) << "m " << s.m << " n " << s.n << " k " << s.k << " ta " << ta
                                << " tb " << tb << " variant " << variant;
        }
}

TEST(GemmLtProblem, OperandsSwapAndTransposeFlagsFollow) {
  GemmArgs g = make_args(7, 33, 5, true, false, 3, true, 2);
  LtProblem p = cuda::lt_problem(g);
  EXPECT_EQ(p.m, 33u);
  EXPECT_EQ(p.n, 7u);
  EXPECT_EQ(p.k, 5u);
  EXPECT_EQ(p.batch, 3);
  // Lt A = our B stored (k, n) row-major = column-major (n, k), not transposed, shared.
  EXPECT_EQ(p.a, (cuda::LtMatrix{33, 5, g.ldb, 0, false}));
  // Lt B = our A stored (k, m) row-major = column-major (m, k), transposed.
  EXPECT_EQ(p.b, (cuda::LtMatrix{7, 5, g.lda, g.stride_a, true}));
  EXPECT_EQ(p.c, (cuda::LtMatrix{33, 7, g.ldc, g.stride_c, false}));
  // One batch item: strides are irrelevant and zeroed.
  g.batch = 1;
  p = cuda::lt_problem(g);
  EXPECT_EQ(p.b.batch_stride, 0);
  EXPECT_EQ(p.c.batch_stride, 0);
}

void expect_rejected(const GemmArgs& g, const std::string& needle) {
  try {
    cuda::check_gemm_args(g);
    ADD_FAILURE() << "accepted; expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(GemmLtProblem, ChecksNameTheBadArgument) {
  GemmArgs ok = make_args(7, 33, 5, false, false, 3, false, 0);
  EXPECT_NO_THROW(cuda::check_gemm_args(ok));

  GemmArgs g = ok;
  g.k = -1;
  expect_rejected(g, "negative size m 7 n 33 k -1");
  g = ok;
  g.c_f32 = true;  // f32 operands
  expect_rejected(g, "c_f32) needs bf16 operands, got f32");
  g.m = 0;  // also rejected for an empty problem
  expect_rejected(g, "needs bf16 operands");
  g = ok;
  g.dtype = DType::BF16;
  g.c_f32 = true;
  EXPECT_NO_THROW(cuda::check_gemm_args(g));
  g = ok;
  g.ldc = 32;
  expect_rejected(g, "ldc 32 is smaller than n 33");
  g = ok;
  g.lda = 4;
  expect_rejected(g, "lda 4 is smaller than the 5 columns of A");
  g = ok;
  g.trans_b = true;  // B stored (n, k): 5 columns, ldb 33 is fine
  EXPECT_NO_THROW(cuda::check_gemm_args(g));
  g.ldb = 0;
  expect_rejected(g, "ldb 0 is smaller than the 5 columns of B");
  g = ok;
  g.stride_b = -1;
  expect_rejected(g, "negative batch stride");
  g = ok;
  g.stride_c = 0;
  expect_rejected(g, "stride_c 0 would make all 3 batch items write the same C");
  g.batch = 1;  // one item: no batch strides needed
  EXPECT_NO_THROW(cuda::check_gemm_args(g));
  g = ok;
  g.batch = int64_t(std::numeric_limits<int32_t>::max()) + 1;
  expect_rejected(g, "batch 2147483648 exceeds the int32 batch count");
  // The error names shapes, dtypes and layout.
  g = ok;
  g.dtype = DType::BF16;
  g.c_f32 = true;
  g.lda = 1;
  expect_rejected(g, "gemm bf16 x bf16 -> f32: C (7, 33) = A (7, 5) @ B (5, 33), batch 3, lda 1");
}

TEST(GemmLtProblem, EmptyProblemsPassTheChecks) {
  GemmArgs g = make_args(0, 33, 5, false, false, 3, false, 0);
  g.lda = 0;  // nothing is read
  EXPECT_NO_THROW(cuda::check_gemm_args(g));
  g = make_args(7, 33, 5, false, false, 0, false, 0);
  g.ldc = 0;
  EXPECT_NO_THROW(cuda::check_gemm_args(g));
}

TEST(GemmLtProblem, PointerAlignmentIsTheLargestPowerOfTwoUpTo256) {
  alignas(512) static char buf[1024];
  EXPECT_EQ(cuda::pointer_alignment(buf), 256u);
  EXPECT_EQ(cuda::pointer_alignment(buf + 1), 1u);
  EXPECT_EQ(cuda::pointer_alignment(buf + 2), 2u);
  EXPECT_EQ(cuda::pointer_alignment(buf + 12), 4u);
  EXPECT_EQ(cuda::pointer_alignment(buf + 48), 16u);
  EXPECT_EQ(cuda::pointer_alignment(buf + 128), 128u);
  EXPECT_EQ(cuda::pointer_alignment(buf + 512), 256u);
  EXPECT_EQ(cuda::pointer_alignment(nullptr), 256u);
}

TEST(GemmLtProblem, PlanKeySeparatesExactlyWhatChangesThePlan) {
  alignas(256) static float buf[4096];
  GemmArgs base = make_args(7, 33, 5, false, true, 3, false, 0);
  base.a = buf;
  base.b = buf + 1024;
  base.c = buf + 2048;
  GemmPlanKey k0 = cuda::gemm_plan_key(base);
  cuda::GemmPlanKeyHash hash;

  // Same plan: other buffers of the same alignment, another nonzero beta, another alpha.
  GemmArgs same = base;
  same.a = buf + 64;  // 256 bytes further
  same.beta = 1.0;
  same.alpha = -2.0;
  EXPECT_EQ(cuda::gemm_plan_key(same), k0);
  EXPECT_EQ(hash(cuda::gemm_plan_key(same)), hash(k0));

  // With one batch item the strides do not matter.
  GemmArgs one = base, one_other = base;
  one.batch = one_other.batch = 1;
  one_other.stride_a = 12345;
  EXPECT_EQ(cuda::gemm_plan_key(one), cuda::gemm_plan_key(one_other));

  // Another plan for each of these changes.
  std::vector<GemmArgs> variants;
  auto add = [&](auto change) {
    GemmArgs g = base;
    change(g);
    variants.push_back(g);
  };
  add([](GemmArgs& g) { g.beta = 0.0; });
  add([](GemmArgs& g) { g.dtype = DType::BF16; });
  add([](GemmArgs& g) {
    g.dtype = DType::BF16;
    g.c_f32 = true;
  });
  add([](GemmArgs& g) { g.trans_a = true; });
  add([](GemmArgs& g) { g.trans_b = false; });
  add([](GemmArgs& g) { g.m = 8; });
  add([](GemmArgs& g) { g.n = 34; });
  add([](GemmArgs& g) { g.k = 6; });
  add([](GemmArgs& g) { g.lda = 6; });
  add([](GemmArgs& g) { g.ldb = 6; });
  add([](GemmArgs& g) { g.ldc = 34; });
  add([](GemmArgs& g) { g.stride_a += 1; });
  add([](GemmArgs& g) { g.stride_b = 0; });
  add([](GemmArgs& g) { g.stride_c += 1; });
  add([](GemmArgs& g) { g.batch = 4; });
  add([&](GemmArgs& g) { g.a = buf + 1; });  // 4-byte aligned
  add([&](GemmArgs& g) { g.b = buf + 2; });  // 8-byte aligned
  add([&](GemmArgs& g) { g.c = buf + 4; });  // 16-byte aligned
  std::unordered_set<GemmPlanKey, cuda::GemmPlanKeyHash> keys{k0};
  for (size_t i = 0; i < variants.size(); ++i) {
    GemmPlanKey k = cuda::gemm_plan_key(variants[i]);
    EXPECT_FALSE(k == k0) << "variant " << i;
    keys.insert(k);
  }
  EXPECT_EQ(keys.size(), variants.size() + 1);  // all distinct from each other too
}

}  // namespace
}  // namespace st
