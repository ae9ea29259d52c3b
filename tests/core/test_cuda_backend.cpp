// The CUDA backend against the CPU backend: every kernel runs on the same random inputs of
// awkward sizes on both, and the results must agree (floating point: max |a - b| / max(1, max |b|)
// <= 1e-5 for f32; copies, fills, gathers, dropout masks and embedding scatters bitwise).
// Every test but the first is skipped when no CUDA device is visible.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/ops/ops.h"
#include "tests/support/cuda_compare.h"
#include "core/optim/adamw.h"

namespace st {
namespace {

const Device kCuda = Device::cuda(0);
const DType kFloatTypes[] = {DType::F32, DType::F64};
const DType kAllTypes[] = {DType::F32, DType::F64, DType::BF16, DType::I32};

Backend& gpu() { return cuda_backend(0); }
Backend& cpu() { return cpu_backend(); }

Tensor to_gpu(const Tensor& t) { return t.to(kCuda); }
Tensor to_host(const Tensor& t) { return t.to(Device::cpu()); }

double tolerance(DType t) { return testing::op_tolerance(t); }

Tensor rand_normal(const Shape& s, uint64_t seed, DType t = DType::F32, double stddev = 1.0) {
  return Tensor::randn(s, seed, stddev, t);
}
Tensor rand_uniform(const Shape& s, uint64_t seed, double lo, double hi, DType t = DType::F32) {
  return Tensor::uniform(s, seed, lo, hi, t);
}

double rel_error(const Tensor& got, const Tensor& want) { return testing::max_rel_error(got, want); }

// The index map of a (4, 5, 100) block at (1, 10, 0) of a (8, 50, 100) tensor.
GlobalIndexMap block_of_a_larger_tensor() {
  GlobalIndexMap slice;
  slice.ndim = 3;
  slice.offset[0] = 1;
  slice.offset[1] = 10;
  slice.global_strides[0] = 5000;
  slice.global_strides[1] = 100;
  slice.global_strides[2] = 1;
  return slice;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) { return testing::same_bits(a, b); }

std::string dt_name(DType t) { return dtype_name(t); }

// ---- device discovery and memory -----------------------------------------------------------

TEST(CudaBackend, DeviceCountNeverFails) {
  int n = cuda_device_count();
  EXPECT_GE(n, 0);
  if (!cuda_built()) {
    EXPECT_EQ(n, 0);
  }
  if (n == 0) {
    EXPECT_THROW(cuda_backend(0), Error);
    EXPECT_THROW(cuda_allocator(0), Error);
  } else {
    EXPECT_THROW(cuda_backend(n), Error);
    EXPECT_EQ(cuda_backend(0).device(), kCuda);
  }
}

TEST(CudaBackend, AllocatorCountsBytesAndReusesMemory) {
  ST_REQUIRE_CUDA();
  Allocator& alloc = cuda_allocator(0);
  EXPECT_EQ(&alloc, &allocator_for(kCuda));
  EXPECT_EQ(alloc.device(), kCuda);
  MemoryStats before = memory_stats(kCuda);
  {
    Tensor t = Tensor::empty({1000, 33}, DType::F32, kCuda);
    MemoryStats during = memory_stats(kCuda);
    EXPECT_EQ(during.bytes_in_use - before.bytes_in_use, 1000 * 33 * 4);
    EXPECT_EQ(during.allocations, before.allocations + 1);
    EXPECT_GE(during.peak_bytes, during.bytes_in_use);
  }
  EXPECT_EQ(memory_stats(kCuda).bytes_in_use, before.bytes_in_use);
  reset_peak_memory(kCuda);
  EXPECT_EQ(memory_stats(kCuda).peak_bytes, memory_stats(kCuda).bytes_in_use);
  // Freed blocks go back to the pool: many short-lived tensors must not fail or leak.
  for (int i = 0; i < 200; ++i) {
    Tensor t = Tensor::full({4099, 7}, 1.0, DType::F32, kCuda);
  }
  gpu().synchronize();
  EXPECT_EQ(memory_stats(kCuda).bytes_in_use, before.bytes_in_use);
}

TEST(CudaBackend, HostCopiesRoundTrip) {
  ST_REQUIRE_CUDA();
  std::vector<float> host(1001);
  for (size_t i = 0; i < host.size(); ++i) host[i] = 0.5f * static_cast<float>(i) - 7.0f;
  Tensor t = Tensor::empty({1001}, DType::F32, kCuda);
  gpu().copy_from_host(t.raw_data(), host.data(), host.size() * sizeof(float));
  std::vector<float> back(host.size(), 0.0f);
  gpu().copy_to_host(back.data(), t.raw_data(), back.size() * sizeof(float));
  EXPECT_EQ(back, host);
}

// A copy from one GPU to another goes through the host, converting the dtype on the way.
TEST(CudaBackend, CopyBetweenTwoGpus) {
  ST_REQUIRE_CUDA();
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs two CUDA devices, " << cuda_device_count() << " visible";
  Tensor a = Tensor::from_vector<float>({1.5f, -2.0f, 3.25f}, {3}).to(Device::cuda(0));
  Tensor b = Tensor::empty({3}, DType::F64, Device::cuda(1));
  copy_into(b, a);
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{1.5, -2.0, 3.25}));
}

// ---- fill and copy -------------------------------------------------------------------------

TEST(CudaBackend, FillMatchesCpuForEveryDtypeAndStrides) {
  ST_REQUIRE_CUDA();
  for (DType t : kAllTypes) {
    Tensor c = Tensor::empty({7, 33}, t), g = Tensor::empty({7, 33}, t, kCuda);
    cpu().fill(c, 2.7);
    gpu().fill(g, 2.7);
    EXPECT_TRUE(bitwise_equal(g, c)) << dt_name(t);
    // A strided view: columns 2..21 of the transpose of a (33, 7) buffer.
    Tensor cb = Tensor::zeros({33, 7}, t), gb = Tensor::zeros({33, 7}, t, kCuda);
    cpu().fill(cb.transpose(0, 1).narrow(1, 2, 20), -1.25);
    gpu().fill(gb.transpose(0, 1).narrow(1, 2, 20), -1.25);
    EXPECT_TRUE(bitwise_equal(gb, cb)) << dt_name(t) << " strided";
  }
}

TEST(CudaBackend, CopyConvertsEveryDtypePairLikeCpu) {
  ST_REQUIRE_CUDA();
  Tensor base = rand_normal({7, 33}, 11, DType::F64, 20.0);
  for (DType ts : kAllTypes) {
    Tensor cs = base.to(ts), gs = to_gpu(cs);
    for (DType td : kAllTypes) {
      std::string what = dt_name(ts) + " -> " + dt_name(td);
      Tensor cd = Tensor::empty({7, 33}, td), gd = Tensor::empty({7, 33}, td, kCuda);
      cpu().copy(cd, cs);
      gpu().copy(gd, gs);
      EXPECT_TRUE(bitwise_equal(gd, cd)) << what;
      // Strided both ways: a transposed source into rows 3..35 of a (40, 7) buffer.
      Tensor cb = Tensor::zeros({40, 7}, td), gb = Tensor::zeros({40, 7}, td, kCuda);
      cpu().copy(cb.narrow(0, 3, 33), cs.transpose(0, 1));
      gpu().copy(gb.narrow(0, 3, 33), gs.transpose(0, 1));
      EXPECT_TRUE(bitwise_equal(gb, cb)) << what << " strided";
    }
  }
}

// ---- elementwise ---------------------------------------------------------------------------

const UnaryOp kUnaryOps[] = {UnaryOp::GeluTanh, UnaryOp::GeluErf, UnaryOp::Relu,
                             UnaryOp::Tanh,     UnaryOp::Exp,     UnaryOp::Log,
                             UnaryOp::EluPlusOne};
const UnaryGradOp kUnaryGradOps[] = {UnaryGradOp::GeluTanh,  UnaryGradOp::GeluErf,
                                     UnaryGradOp::Relu,      UnaryGradOp::TanhFromY,
                                     UnaryGradOp::ExpFromY,  UnaryGradOp::Log,
                                     UnaryGradOp::EluPlusOne};
const int64_t kLengths[] = {1, 7, 33, 100, 4099, 100003};

TEST(CudaBackend, UnaryMatchesCpuForEveryOp) {
  ST_REQUIRE_CUDA();
  for (DType t : kFloatTypes) {
    for (UnaryOp op : kUnaryOps) {
      for (int64_t n : kLengths) {
        Tensor x = op == UnaryOp::Log ? rand_uniform({n}, 3, 0.05, 5.0, t)
                                      : rand_normal({n}, 3, t, 3.0);
        Tensor yc = Tensor::empty({n}, t), yg = Tensor::empty({n}, t, kCuda);
        cpu().unary(op, x, yc);
        gpu().unary(op, to_gpu(x), yg);
        EXPECT_LE(rel_error(yg, yc), tolerance(t))
            << dt_name(t) << " op " << static_cast<int>(op) << " n " << n;
      }
    }
  }
  // More elements than one grid covers: the grid-stride loop.
  Tensor x = rand_normal({2100003}, 5);
  Tensor yc = Tensor::empty({2100003}), yg = Tensor::empty({2100003}, DType::F32, kCuda);
  cpu().unary(UnaryOp::Relu, x, yc);
  gpu().unary(UnaryOp::Relu, to_gpu(x), yg);
  EXPECT_TRUE(bitwise_equal(yg, yc));
}

TEST(CudaBackend, UnaryGradMatchesCpuForEveryOp) {
  ST_REQUIRE_CUDA();
  for (DType t : kFloatTypes) {
    for (UnaryGradOp op : kUnaryGradOps) {
      for (int64_t n : kLengths) {
        Tensor in;
        if (op == UnaryGradOp::Log) in = rand_uniform({n}, 4, 0.05, 5.0, t);
        else if (op == UnaryGradOp::TanhFromY) in = rand_uniform({n}, 4, -1.0, 1.0, t);
        else if (op == UnaryGradOp::ExpFromY) in = rand_uniform({n}, 4, 0.0, 20.0, t);
        else in = rand_normal({n}, 4, t, 3.0);
        Tensor dy = rand_normal({n}, 5, t);
        Tensor dc = Tensor::empty({n}, t), dg = Tensor::empty({n}, t, kCuda);
        cpu().unary_grad(op, in, dy, dc);
        gpu().unary_grad(op, to_gpu(in), to_gpu(dy), dg);
        EXPECT_LE(rel_error(dg, dc), tolerance(t))
            << dt_name(t) << " grad op " << static_cast<int>(op) << " n " << n;
      }
    }
  }
}

TEST(CudaBackend, AffineAndAccumulateMatchCpu) {
  ST_REQUIRE_CUDA();
  for (DType t : kFloatTypes) {
    for (int64_t n : kLengths) {
      Tensor x = rand_normal({n}, 6, t), d = rand_normal({n}, 7, t);
      Tensor yc = Tensor::empty({n}, t), yg = Tensor::empty({n}, t, kCuda);
      cpu().affine(x, -1.5, 0.25, yc);
      gpu().affine(to_gpu(x), -1.5, 0.25, yg);
      EXPECT_LE(rel_error(yg, yc), tolerance(t)) << dt_name(t) << " affine n " << n;
      Tensor dg = to_gpu(d);
      cpu().accumulate(d, x);
      gpu().accumulate(dg, to_gpu(x));
      EXPECT_LE(rel_error(dg, d), tolerance(t)) << dt_name(t) << " accumulate n " << n;
    }
  }
}

TEST(CudaBackend, BinaryBroadcastsLikeCpu) {
  ST_REQUIRE_CUDA();
  struct Case {
    Shape a, b;
  };
  const Case cases[] = {{{7, 1, 33}, {5, 1}}, {{100}, {1}}, {{1}, {1}}, {{33, 7}, {33, 7}},
                        {{4, 5, 100}, {100}}, {{1, 33}, {7, 1}}};
  for (DType t : kFloatTypes) {
    for (const Case& c : cases) {
      Tensor a = rand_normal(c.a, 8, t), b = rand_uniform(c.b, 9, 0.5, 2.0, t);
      Tensor ga = to_gpu(a), gb = to_gpu(b);
      EXPECT_LE(rel_error(add(ga, gb), add(a, b)), tolerance(t)) << dt_name(t);
      EXPECT_LE(rel_error(sub(ga, gb), sub(a, b)), tolerance(t)) << dt_name(t);
      EXPECT_LE(rel_error(mul(ga, gb), mul(a, b)), tolerance(t)) << dt_name(t);
      EXPECT_LE(rel_error(div(ga, gb), div(a, b)), tolerance(t)) << dt_name(t);
    }
    // Strided, not broadcast: a transposed view against a contiguous operand, direct call.
    Tensor a = rand_normal({33, 7}, 10, t), b = rand_normal({7, 33}, 11, t);
    Tensor oc = Tensor::empty({7, 33}, t), og = Tensor::empty({7, 33}, t, kCuda);
    cpu().binary(BinaryOp::Sub, a.transpose(0, 1), b, oc);
    gpu().binary(BinaryOp::Sub, to_gpu(a).transpose(0, 1), to_gpu(b), og);
    EXPECT_LE(rel_error(og, oc), tolerance(t)) << dt_name(t) << " transposed";
  }
}

TEST(CudaBackend, MaskedFillMatchesCpu) {
  ST_REQUIRE_CUDA();
  for (DType t : kFloatTypes) {
    Tensor x = rand_normal({7, 33}, 12, t);
    std::vector<int32_t> bits(33);
    for (int j = 0; j < 33; ++j) bits[j] = (j * 7) % 3 == 0;
    Tensor mask_i32 = Tensor::from_vector(bits, {1, 33});
    Tensor mask_same = rand_uniform({7, 1}, 13, 0.0, 2.0, t).to(DType::I32).to(t);  // 0s and 1s
    for (const Tensor& mask : {mask_i32, mask_same}) {
      Tensor yc = masked_fill(x, mask, -1e9);
      Tensor yg = masked_fill(to_gpu(x), to_gpu(mask), -1e9);
      EXPECT_TRUE(bitwise_equal(yg, yc)) << dt_name(t) << " mask " << dt_name(mask.dtype());
    }
  }
}

// ---- reductions ----------------------------------------------------------------------------

TEST(CudaBackend, SumAxisMatchesCpu) {
  ST_REQUIRE_CUDA();
  struct Case {
    int64_t outer, r, inner;
  };
  const Case cases[] = {{1, 1, 1},     {1, 7, 1},      {3, 33, 1},    {1, 100003, 1},
                        {2, 20000, 1}, {70000, 2, 1},  {1, 7, 33},    {4, 100, 7},
                        {2, 1000, 33}, {1, 3000, 100}, {5, 1, 3},     {1, 70000, 2},
                        {3, 300, 1}};
  for (DType t : kFloatTypes) {
    for (const Case& c : cases) {
      Tensor x = rand_normal({c.outer, c.r, c.inner}, 14, t);
      Tensor oc = Tensor::empty({c.outer, c.inner}, t);
      Tensor og = Tensor::empty({c.outer, c.inner}, t, kCuda);
      cpu().sum_axis(x, c.outer, c.r, c.inner, oc);
      gpu().sum_axis(to_gpu(x), c.outer, c.r, c.inner, og);
      // Both sum in double: f32 results differ at most by the final rounding.
      EXPECT_LE(rel_error(og, oc), t == DType::F64 ? 1e-12 : 1e-6)
          << dt_name(t) << " (" << c.outer << ", " << c.r << ", " << c.inner << ")";
    }
  }
}

// ---- GEMM ----------------------------------------------------------------------------------
// f32 and bf16 operands run through cuBLASLt, f64 and k == 0 through cuBLAS. Every case runs
// on both backends from the same inputs. Tolerances, relative to max(1, max |want|):
// - f32 1e-5, f64 1e-12: the order of the sums differs.
// - bf16 -> f32 (c_f32) 1e-5: both backends multiply the same bf16 values, the product of two
//   bf16 values (8-bit significands) is exact in f32, and both accumulate in f32, so again only
//   the order of the f32 sums differs.
// - bf16 -> bf16: both round their f32 result to bf16 once; f32 results that differ only in
//   summation order round to the same or to adjacent bf16 values. Per element: one bf16 ulp of
//   the element (2^-8 to 2^-7 of it) plus the f32 tolerance above.

struct GemmCase {
  DType t = DType::F32;  // of A and B
  bool c_f32 = false;    // bf16 A and B with an f32 C
  int64_t m = 1, n = 1, k = 1;
  bool ta = false, tb = false;
  int64_t batch = 1;
  bool shared_b = false;  // stride_b 0: one B for every batch item
  int64_t pad = 0;        // extra elements per stored row of A, B and C
  int64_t offset = 0;     // elements before the first one: pointers aligned to the element only
  double beta = 0.5;      // 0: C starts as NaN, which must not be read
};

std::string describe(const GemmCase& c) {
  std::ostringstream os;
  os << dt_name(c.t) << (c.c_f32 ? " -> f32" : "") << " m " << c.m << " n " << c.n << " k "
     << c.k << " ta " << c.ta << " tb " << c.tb << " batch " << c.batch << " shared_b "
     << c.shared_b << " pad " << c.pad << " offset " << c.offset << " beta " << c.beta;
  return os.str();
}

DType c_dtype(const GemmCase& c) { return c.c_f32 ? DType::F32 : c.t; }

// The GemmArgs of c over flat buffers a, b, out (any device).
GemmArgs gemm_args(const GemmCase& c, const Tensor& a, const Tensor& b, const Tensor& out) {
  GemmArgs g;
  g.trans_a = c.ta;
  g.trans_b = c.tb;
  g.m = c.m;
  g.n = c.n;
  g.k = c.k;
  g.alpha = 1.5;
  g.beta = c.beta;
  g.lda = (c.ta ? c.m : c.k) + c.pad;
  g.ldb = (c.tb ? c.k : c.n) + c.pad;
  g.ldc = c.n + c.pad;
  g.stride_a = (c.ta ? c.k : c.m) * g.lda;
  g.stride_b = c.shared_b ? 0 : (c.tb ? c.n : c.k) * g.ldb;
  g.stride_c = c.m * g.ldc;
  g.batch = c.batch;
  g.dtype = c.t;
  g.c_f32 = c.c_f32;
  auto at = [&c](const Tensor& t) {
    return static_cast<char*>(t.raw_data()) + c.offset * int64_t(dtype_size(t.dtype()));
  };
  g.a = at(a);
  g.b = at(b);
  g.c = at(out);
  return g;
}

struct GemmInputs {
  Tensor a, b, c;  // flat host buffers
};

// Normal inputs; bf16 ones are f32 normals rounded once, so both backends see the same values.
GemmInputs gemm_inputs(const GemmCase& c, uint64_t seed) {
  int64_t lda = (c.ta ? c.m : c.k) + c.pad, ldb = (c.tb ? c.k : c.n) + c.pad, ldc = c.n + c.pad;
  int64_t na = c.offset + c.batch * (c.ta ? c.k : c.m) * lda;
  int64_t nb = c.offset + (c.shared_b ? 1 : c.batch) * (c.tb ? c.n : c.k) * ldb;
  int64_t nc = c.offset + c.batch * c.m * ldc;
  DType gen = c.t == DType::F64 ? DType::F64 : DType::F32;
  GemmInputs in;
  in.a = rand_normal({na}, seed, gen).to(c.t);
  in.b = rand_normal({nb}, seed + 1, gen).to(c.t);
  in.c = c.beta == 0 ? Tensor::full({nc}, NAN, c_dtype(c))
                     : rand_normal({nc}, seed + 2, gen).to(c_dtype(c));
  return in;
}

// C of the GPU (as a host tensor) for inputs `in`; `in` itself is left unchanged.
Tensor gpu_gemm(const GemmCase& c, const GemmInputs& in) {
  Tensor ga = to_gpu(in.a), gb = to_gpu(in.b), gc = to_gpu(in.c.clone());
  gpu().gemm(gemm_args(c, ga, gb, gc));
  return to_host(gc);
}

// C of the CPU for inputs `in` (a host copy of in.c is updated).
Tensor cpu_gemm(const GemmCase& c, const GemmInputs& in) {
  Tensor out = in.c.clone();
  cpu().gemm(gemm_args(c, in.a, in.b, out));
  return out;
}

// One bf16 ulp of x: 2^(e - 7) for |x| in [2^e, 2^(e+1)).
double bf16_ulp(double x) {
  int e = 0;
  std::frexp(std::fabs(x), &e);  // |x| = f 2^e, f in [0.5, 1)
  return std::ldexp(1.0, e - 8);
}

// max |got - want| / (one bf16 ulp of the element + 1e-5 max(1, max |want|)); <= 1 passes.
double bf16_error(const Tensor& got, const Tensor& want) {
  std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  EXPECT_EQ(a.size(), b.size());
  double den = 1;
  for (double v : b)
    if (std::isfinite(v)) den = std::max(den, std::fabs(v));
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) continue;
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    double allowed = bf16_ulp(std::max(std::fabs(a[i]), std::fabs(b[i]))) + 1e-5 * den;
    worst = std::max(worst, std::fabs(a[i] - b[i]) / allowed);
  }
  return worst;
}

void check_gemm(const GemmCase& c, uint64_t seed = 15) {
  GemmInputs in = gemm_inputs(c, seed);
  Tensor got = gpu_gemm(c, in), want = cpu_gemm(c, in);
  if (c.t == DType::BF16 && !c.c_f32)
    EXPECT_LE(bf16_error(got, want), 1.0) << describe(c);
  else
    EXPECT_LE(rel_error(got, want), c.t == DType::F64 ? 1e-12 : 1e-5) << describe(c);
}

// Every size, transpose pair, batch layout and beta (0: C not read; 1: C += op(A) op(B)).
void check_gemm_everywhere(DType t, bool c_f32) {
  struct Size {
    int64_t m, n, k;
  };
  const Size sizes[] = {{1, 1, 1}, {7, 33, 129}, {129, 7, 33}, {33, 129, 7}, {1, 33, 1}};
  for (const Size& s : sizes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (double beta : {0.0, 0.5, 1.0})
          for (int layout = 0; layout < 5; ++layout) {
            GemmCase c{t, c_f32, s.m, s.n, s.k, bool(ta), bool(tb)};
            c.beta = beta;
            c.batch = layout == 0 ? 1 : 3;
            c.shared_b = layout == 2;
            c.pad = layout >= 3 ? 3 : 0;
            c.offset = layout == 4 ? 1 : 0;
            check_gemm(c);
          }
}

TEST(CudaBackend, GemmMatchesCpu) {
  ST_REQUIRE_CUDA();
  for (DType t : kFloatTypes) check_gemm_everywhere(t, false);
}

TEST(CudaBackend, GemmBf16MatchesCpuWithinOneBf16Ulp) {
  ST_REQUIRE_CUDA();
  check_gemm_everywhere(DType::BF16, false);
}

TEST(CudaBackend, GemmBf16WithF32OutputMatchesCpu) {
  ST_REQUIRE_CUDA();
  check_gemm_everywhere(DType::BF16, true);
}

TEST(CudaBackend, GemmRepeatedProblemIsBitwiseIdentical) {
  ST_REQUIRE_CUDA();
  // The second call finds the plan of the first (same shapes, beta != 0, alignment); the third
  // runs it on other buffers. All three write the same bits.
  for (int variant = 0; variant < 3; ++variant) {
    GemmCase c{variant == 0 ? DType::F32 : DType::BF16, variant == 2, 33, 129, 7, true, false, 3};
    GemmInputs in = gemm_inputs(c, 40);
    Tensor first = gpu_gemm(c, in), second = gpu_gemm(c, in);
    GemmInputs copy{in.a.clone(), in.b.clone(), in.c.clone()};
    Tensor third = gpu_gemm(c, copy);
    EXPECT_TRUE(bitwise_equal(first, second)) << describe(c);
    EXPECT_TRUE(bitwise_equal(first, third)) << describe(c);
  }
}

TEST(CudaBackend, GemmWithEmptyInnerDimensionScalesC) {
  ST_REQUIRE_CUDA();
  // k == 0: C = beta C as BLAS defines it (the ops never ask: matmul fills zeros itself).
  for (DType t : {DType::F32, DType::F64, DType::BF16})
    for (bool c_f32 : {false, true}) {
      if (c_f32 && t != DType::BF16) continue;
      for (double beta : {0.0, 0.5}) {
        GemmCase c{t, c_f32, 7, 33, 0};
        c.pad = 1;  // lda 1: A holds rows of no elements
        c.batch = 2;
        c.beta = beta;
        check_gemm(c);
      }
    }
  Tensor a = rand_normal({3, 7, 0}, 41), b = rand_normal({0, 5}, 42);
  Tensor got = to_host(matmul(to_gpu(a), to_gpu(b)));
  EXPECT_EQ(got.shape(), (Shape{3, 7, 5}));
  EXPECT_TRUE(bitwise_equal(got, Tensor::zeros({3, 7, 5})));
}

TEST(CudaBackend, GemmRejectsBadArgumentsNamingThem) {
  ST_REQUIRE_CUDA();
  GemmCase c{DType::F32, false, 7, 33, 5};
  GemmInputs in = gemm_inputs(c, 43);
  Tensor ga = to_gpu(in.a), gb = to_gpu(in.b), gc = to_gpu(in.c);
  auto expect_error = [&](GemmArgs g, const std::string& needle) {
    try {
      gpu().gemm(g);
      ADD_FAILURE() << "accepted; expected an error containing '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  GemmArgs g = gemm_args(c, ga, gb, gc);
  g.c_f32 = true;
  expect_error(g, "needs bf16 operands, got f32");
  g = gemm_args(c, ga, gb, gc);
  g.ldc = 32;
  expect_error(g, "ldc 32 is smaller than n 33");
  g = gemm_args(c, ga, gb, gc);
  g.batch = int64_t(1) << 31;
  g.stride_a = g.stride_b = g.stride_c = 0;  // nothing is read: the batch count is rejected first
  expect_error(g, "exceeds the int32 batch count");
  g = gemm_args(c, ga, gb, gc);
  g.dtype = DType::I32;
  expect_error(g, "dtype i32 is not supported on cuda");
}

TEST(CudaBackend, GemmBf16AccumulatesInFp32) {
  ST_REQUIRE_CUDA();
  int64_t m = 33, n = 7, k = 100;
  Tensor a = rand_normal({m, k}, 18).to(DType::BF16), b = rand_normal({k, n}, 19).to(DType::BF16);
  Tensor want = matmul(a.to(DType::F32), b.to(DType::F32));
  Tensor ga = to_gpu(a), gb = to_gpu(b), gc = Tensor::empty({m, n}, DType::BF16, kCuda);
  GemmArgs g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = ga.raw_data();
  g.lda = k;
  g.b = gb.raw_data();
  g.ldb = n;
  g.c = gc.raw_data();
  g.ldc = n;
  g.dtype = DType::BF16;
  gpu().gemm(g);
  EXPECT_LE(rel_error(gc, want), 1e-2);  // the bf16 rounding of C
}

TEST(CudaBackend, MatmulOpMatchesCpu) {
  ST_REQUIRE_CUDA();
  Tensor a = rand_normal({3, 7, 33}, 20), b = rand_normal({33, 5}, 21);
  Tensor b3 = rand_normal({3, 33, 5}, 22);
  EXPECT_LE(rel_error(matmul(to_gpu(a), to_gpu(b)), matmul(a, b)), 1e-5);
  EXPECT_LE(rel_error(matmul(to_gpu(a), to_gpu(b3)), matmul(a, b3)), 1e-5);
  Tensor at = rand_normal({3, 33, 7}, 23);  // a transposed view
  EXPECT_LE(rel_error(matmul(to_gpu(at).transpose(1, 2), to_gpu(b3)),
                      matmul(at.transpose(1, 2), b3)),
            1e-5);
}

// ---- row kernels ---------------------------------------------------------------------------

struct Rows {
  int64_t R, C;
};
const Rows kRowShapes[] = {{1, 1}, {7, 33}, {33, 100}, {5, 1000}, {3, 4099}, {300, 7}};

TEST(CudaBackend, LayerNormMatchesCpu) {
  ST_REQUIRE_CUDA();
  for (DType t : kFloatTypes) {
    for (Rows s : kRowShapes) {
      std::string what = dt_name(t) + " (" + std::to_string(s.R) + ", " + std::to_string(s.C) + ")";
      Tensor x = add_scalar(rand_normal({s.R, s.C}, 24, t, 2.0), 0.5);
      Tensor w = rand_normal({s.C}, 25, t), b = rand_normal({s.C}, 26, t);
      Tensor dy = rand_normal({s.R, s.C}, 27, t);
      Tensor y = Tensor::empty({s.R, s.C}, t), mu = Tensor::empty({s.R}, t),
             rs = Tensor::empty({s.R}, t);
      cpu().layer_norm_forward(x, w, b, 1e-5, y, mu, rs, Tensor());
      Tensor gy = Tensor::empty({s.R, s.C}, t, kCuda), gmu = Tensor::empty({s.R}, t, kCuda),
             grs = Tensor::empty({s.R}, t, kCuda);
      Tensor gx = to_gpu(x), gw = to_gpu(w);
      gpu().layer_norm_forward(gx, gw, to_gpu(b), 1e-5, gy, gmu, grs, Tensor());
      EXPECT_LE(rel_error(gy, y), tolerance(t)) << what << " y";
      EXPECT_LE(rel_error(gmu, mu), tolerance(t)) << what << " mean";
      EXPECT_LE(rel_error(grs, rs), tolerance(t)) << what << " rstd";
      // Backward from the CPU's saved statistics, so only the backward kernel is compared.
      Tensor dx = Tensor::empty({s.R, s.C}, t), dw = Tensor::empty({s.C}, t),
             db = Tensor::empty({s.C}, t);
      cpu().layer_norm_backward(x, w, mu, rs, dy, dx, dw, db);
      Tensor gdx = Tensor::empty({s.R, s.C}, t, kCuda), gdw = Tensor::empty({s.C}, t, kCuda),
             gdb = Tensor::empty({s.C}, t, kCuda);
      gpu().layer_norm_backward(gx, gw, to_gpu(mu), to_gpu(rs), to_gpu(dy), gdx, gdw, gdb);
      EXPECT_LE(rel_error(gdx, dx), tolerance(t)) << what << " dx";
      EXPECT_LE(rel_error(gdw, dw), tolerance(t)) << what << " dw";
      EXPECT_LE(rel_error(gdb, db), tolerance(t)) << what << " db";
    }
  }
}

// Under precision bf16 LayerNorm keeps x̂ in bf16 (core/ops/op_util.h): the forward writes it and
// the backward reads it, on the GPU as on the CPU.
TEST(CudaBackend, LayerNormStoredXhatMatchesCpu) {
  ST_REQUIRE_CUDA();
  for (Rows s : kRowShapes) {
    std::string what = "(" + std::to_string(s.R) + ", " + std::to_string(s.C) + ")";
    Tensor x = add_scalar(rand_normal({s.R, s.C}, 24, DType::F32, 2.0), 50.0);
    Tensor w = rand_normal({s.C}, 25, DType::F32), b = rand_normal({s.C}, 26, DType::F32);
    Tensor dy = rand_normal({s.R, s.C}, 27, DType::F32);
    Tensor y = Tensor::empty({s.R, s.C}), mu = Tensor::empty({s.R}), rs = Tensor::empty({s.R});
    Tensor xhat = Tensor::empty({s.R, s.C}, DType::BF16);
    cpu().layer_norm_forward(x, w, b, 1e-5, y, mu, rs, xhat);
    Tensor gy = Tensor::empty({s.R, s.C}, DType::F32, kCuda), gmu = Tensor::empty({s.R}, DType::F32, kCuda),
           grs = Tensor::empty({s.R}, DType::F32, kCuda), gxhat = Tensor::empty({s.R, s.C}, DType::BF16, kCuda);
    Tensor gw = to_gpu(w);
    gpu().layer_norm_forward(to_gpu(x), gw, to_gpu(b), 1e-5, gy, gmu, grs, gxhat);
    // x̂ within one bf16 rounding (the statistics may differ in the last f32 bit).
    EXPECT_LE(rel_error(gxhat.to(Device::cpu()).to(DType::F32), xhat.to(DType::F32)), 1e-2) << what << " x̂";
    // Backward from the CPU's x̂ and statistics, so only the backward kernel is compared.
    Tensor dx = Tensor::empty({s.R, s.C}), dw = Tensor::empty({s.C}), db = Tensor::empty({s.C});
    cpu().layer_norm_backward(xhat, w, mu, rs, dy, dx, dw, db);
    Tensor gdx = Tensor::empty({s.R, s.C}, DType::F32, kCuda), gdw = Tensor::empty({s.C}, DType::F32, kCuda),
           gdb = Tensor::empty({s.C}, DType::F32, kCuda);
    gpu().layer_norm_backward(to_gpu(xhat), gw, to_gpu(mu), to_gpu(rs), to_gpu(dy), gdx, gdw, gdb);
    EXPECT_LE(rel_error(gdx, dx), tolerance(DType::F32)) << what << " dx";
    EXPECT_LE(rel_error(gdw, dw), tolerance(DType::F32)) << what << " dw";
    EXPECT_LE(rel_error(gdb, db), tolerance(DType::F32)) << what << " db";
  }
}

TEST(CudaBackend, SoftmaxMatchesCpuIncludingMaskedRows) {
  ST_REQUIRE_CUDA();
  for (DType t : kFloatTypes) {
    for (Rows s : kRowShapes) {
      Tensor x = rand_normal({s.R, s.C}, 28, t, 3.0);
      if (s.R >= 2) {  // row 0 fully masked, row 1 partly masked
        Tensor row0 = x.narrow(0, 0, 1), row1 = x.narrow(0, 1, 1).narrow(1, 0, (s.C + 1) / 2);
        cpu().fill(row0, -INFINITY);
        cpu().fill(row1, -INFINITY);
      }
      Tensor dy = rand_normal({s.R, s.C}, 29, t);
      for (SoftmaxKind kind : {SoftmaxKind::Softmax, SoftmaxKind::LogSoftmax}) {
        std::string what = dt_name(t) +
                           (kind == SoftmaxKind::Softmax ? " softmax" : " log_softmax") +
                           " (" + std::to_string(s.R) + ", " + std::to_string(s.C) + ")";
        Tensor y = Tensor::empty({s.R, s.C}, t), gy = Tensor::empty({s.R, s.C}, t, kCuda);
        cpu().softmax_forward(kind, x, y);
        gpu().softmax_forward(kind, to_gpu(x), gy);
        EXPECT_LE(rel_error(gy, y), tolerance(t)) << what;
        Tensor dx = Tensor::empty({s.R, s.C}, t), gdx = Tensor::empty({s.R, s.C}, t, kCuda);
        cpu().softmax_backward(kind, y, dy, dx);
        gpu().softmax_backward(kind, to_gpu(y), to_gpu(dy), gdx);
        EXPECT_LE(rel_error(gdx, dx), tolerance(t)) << what << " backward";
      }
    }
  }
}

TEST(CudaBackend, CrossEntropyMatchesCpuWithIgnoreAndSmoothing) {
  ST_REQUIRE_CUDA();
  const int32_t ignore = -100;
  for (DType t : kFloatTypes) {
    for (Rows s : kRowShapes) {
      Tensor x = rand_normal({s.R, s.C}, 30, t, 2.0);
      Tensor labels =
          rand_uniform({s.R}, 31, 0.0, static_cast<double>(s.C), DType::F64).to(DType::I32);
      for (int64_t r = 1; r < s.R; r += 3) labels.data<int32_t>()[r] = ignore;
      Tensor dloss = rand_normal({s.R}, 32, t);
      Tensor gx = to_gpu(x), gl = to_gpu(labels);
      for (double smoothing : {0.0, 0.1}) {
        std::string what = dt_name(t) + " (" + std::to_string(s.R) + ", " + std::to_string(s.C) +
                           ") smoothing " + std::to_string(smoothing);
        Tensor loss = Tensor::empty({s.R}, t), lse = Tensor::empty({s.R}, t);
        Tensor gloss = Tensor::empty({s.R}, t, kCuda), glse = Tensor::empty({s.R}, t, kCuda);
        cpu().cross_entropy_forward(x, labels, ignore, smoothing, loss, lse);
        gpu().cross_entropy_forward(gx, gl, ignore, smoothing, gloss, glse);
        EXPECT_LE(rel_error(gloss, loss), tolerance(t)) << what << " loss";
        EXPECT_LE(rel_error(glse, lse), tolerance(t)) << what << " lse";
        Tensor dx = Tensor::empty({s.R, s.C}, t), gdx = Tensor::empty({s.R, s.C}, t, kCuda);
        cpu().cross_entropy_backward(x, labels, lse, dloss, ignore, smoothing, dx);
        gpu().cross_entropy_backward(gx, gl, to_gpu(lse), to_gpu(dloss), ignore, smoothing, gdx);
        EXPECT_LE(rel_error(gdx, dx), tolerance(t)) << what << " dlogits";
      }
    }
  }
}

// ---- embedding -----------------------------------------------------------------------------

TEST(CudaBackend, EmbeddingMatchesCpuBitwise) {
  ST_REQUIRE_CUDA();
  struct Case {
    int64_t V, D, T;
  };
  // Runs longer than a piece (kSegmentPiece sorted indices) and runs that end on a cut.
  const Case cases[] = {{1, 1, 1},     {7, 33, 100},   {100, 100, 1000}, {5000, 7, 33},
                        {3, 300, 4099}, {1, 5, 512},    {2, 64, 20000},   {300, 40, 70001}};
  for (DType t : kFloatTypes) {
    for (const Case& c : cases) {
      std::string what = dt_name(t) + " V " + std::to_string(c.V) + " D " + std::to_string(c.D) +
                         " T " + std::to_string(c.T);
      Tensor table = rand_normal({c.V, c.D}, 33, t);
      Tensor ids =
          rand_uniform({c.T}, 34, 0.0, static_cast<double>(c.V), DType::F64).to(DType::I32);
      Tensor gtable = to_gpu(table), gids = to_gpu(ids);
      Tensor out = Tensor::empty({c.T, c.D}, t), gout = Tensor::empty({c.T, c.D}, t, kCuda);
      cpu().embedding_forward(table, ids, out);
      gpu().embedding_forward(gtable, gids, gout);
      EXPECT_TRUE(bitwise_equal(gout, out)) << what << " forward";
      // Backward adds (+=) into a non-zero table in the order of core/math/segments.h.
      Tensor dout = rand_normal({c.T, c.D}, 35, t);
      Tensor dtable = rand_normal({c.V, c.D}, 36, t), gdtable = to_gpu(dtable);
      cpu().embedding_backward(ids, dout, dtable);
      gpu().embedding_backward(gids, to_gpu(dout), gdtable);
      EXPECT_TRUE(bitwise_equal(gdtable, dtable)) << what << " backward";
    }
  }
}

TEST(CudaBackend, FindOutOfRangeReportsTheFirstBadId) {
  ST_REQUIRE_CUDA();
  std::vector<int32_t> ids(1000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i % 50);
  EXPECT_EQ(gpu().find_out_of_range(to_gpu(Tensor::from_vector(ids, {1000})), 50), -1);
  ids[917] = -1;
  ids[333] = 50;
  ids[600] = 1 << 30;
  Tensor bad = to_gpu(Tensor::from_vector(ids, {1000}));
  EXPECT_EQ(gpu().find_out_of_range(bad, 50), 333);
  EXPECT_EQ(cpu().find_out_of_range(Tensor::from_vector(ids, {1000}), 50), 333);
}

// On CUDA a bad id or label is found on the device and raised at the next host read, with the
// CPU's message; meanwhile the kernels treat it as absent (a row of zeros, an ignored label).
TEST(CudaBackend, RangeChecksRaiseAtTheNextHostRead) {
  ST_REQUIRE_CUDA();
  Tensor table = to_gpu(Tensor::ones({5, 2}));
  Tensor out = embedding(table, to_gpu(Tensor::from_vector<int32_t>({1, 7, 2}, {3})));  // no read yet
  try {
    out.to_vector<float>();
    ADD_FAILURE() << "the read did not raise the bad id";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("embedding: id 7 at flat position 1"), std::string::npos) << m;
    EXPECT_NE(m.find("[0, 5)"), std::string::npos) << m;
  }
  std::vector<float> rows = out.to_vector<float>();  // raised once: the next read is clean
  EXPECT_EQ(rows, (std::vector<float>{1, 1, 0, 0, 1, 1}));
  Tensor loss = cross_entropy(to_gpu(Tensor::zeros({2, 3})), to_gpu(Tensor::from_vector<int32_t>({0, 3}, {2})),
                              CrossEntropyOptions{.reduction = Reduction::None});
  EXPECT_THROW(loss.to_vector<float>(), Error);
  EXPECT_EQ(loss.to_vector<float>()[1], 0.0f);  // the bad label counted as ignored
}

// The label ops of a training step on the device against the CPU: comparisons, counts, argmax
// hits over rows long enough for the block reduction (ties and all), the attention scale.
TEST(CudaBackend, LabelOpsMatchCpu) {
  ST_REQUIRE_CUDA();
  std::vector<int32_t> ids(5000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 7919) % 13) - 1;  // -1 .. 11
  Tensor x = Tensor::from_vector(ids, {50, 100}), gx = to_gpu(x);
  for (DType t : {DType::F32, DType::F64, DType::I32})
    for (CompareOp op : {CompareOp::Equal, CompareOp::NotEqual})
      EXPECT_TRUE(bitwise_equal(compare_scalar(gx, op, 0, t), compare_scalar(x, op, 0, t)));
  EXPECT_EQ(count_not_equal(gx, -1).item(), count_not_equal(x, -1).item());
  for (int64_t C : {int64_t(1), int64_t(3), int64_t(257), int64_t(5000)}) {
    // Logits rounded to a few values so that rows hold ties; labels include the ignore index.
    std::vector<float> l(static_cast<size_t>(64 * C));
    for (size_t i = 0; i < l.size(); ++i) l[i] = static_cast<float>((i * 2654435761u) % 7);
    Tensor logits = Tensor::from_vector(l, {64, C});
    std::vector<int32_t> y(64);
    for (int i = 0; i < 64; ++i) y[static_cast<size_t>(i)] = i % 9 == 0 ? -100 : static_cast<int32_t>((i * 31) % C);
    Tensor labels = Tensor::from_vector(y, {64});
    EXPECT_EQ(argmax_hits(to_gpu(logits), to_gpu(labels), -100).item(), argmax_hits(logits, labels, -100).item())
        << "C = " << C;
  }
  Tensor n = Tensor::from_vector<double>({0, 1, 2, 3, 1000, 65537}, {6});
  for (ScaleMode m : {ScaleMode::SqrtN, ScaleMode::SqrtNDh, ScaleMode::N, ScaleMode::None})
    EXPECT_TRUE(bitwise_equal(attention_scale(to_gpu(n), m, 64, DType::F32), attention_scale(n, m, 64, DType::F32)));
}

// ---- randomness ----------------------------------------------------------------------------

TEST(CudaBackend, DropoutMaskEqualsCpu) {
  ST_REQUIRE_CUDA();
  RngKey key{1234, 7, 9};
  GlobalIndexMap identity = identity_index_map();
  GlobalIndexMap slice = block_of_a_larger_tensor();
  for (DType t : kFloatTypes) {
    for (const Shape& shape : {Shape{7, 33}, Shape{4, 5, 100}, Shape{100003}}) {
      for (bool sliced : {false, true}) {
        if (sliced && shape.size() != 3) continue;
        const GlobalIndexMap& map = sliced ? slice : identity;
        Tensor x = rand_uniform(shape, 37, 0.5, 2.0, t);  // no zeros in x
        Tensor y = Tensor::empty(shape, t), gy = Tensor::empty(shape, t, kCuda);
        cpu().dropout(x, 0.3f, key, map, y);
        gpu().dropout(to_gpu(x), 0.3f, key, map, gy);
        std::vector<double> vc = y.to_vector<double>(), vg = gy.to_vector<double>();
        int64_t differing_zeros = 0;
        for (size_t i = 0; i < vc.size(); ++i) differing_zeros += (vc[i] == 0) != (vg[i] == 0);
        EXPECT_EQ(differing_zeros, 0) << dt_name(t) << " sliced " << sliced;
        EXPECT_TRUE(bitwise_equal(gy, y)) << dt_name(t) << " sliced " << sliced;
      }
    }
  }
}

TEST(CudaBackend, RandomFillsMatchCpu) {
  ST_REQUIRE_CUDA();
  for (DType t : {DType::F32, DType::F64, DType::BF16}) {
    double tol = t == DType::BF16 ? 1e-2 : tolerance(t);
    for (int64_t n : kLengths) {
      Tensor nc = Tensor::randn({n}, 38, 0.02, t), ng = Tensor::randn({n}, 38, 0.02, t, kCuda);
      EXPECT_LE(rel_error(ng, nc), tol) << dt_name(t) << " normal n " << n;
      Tensor uc = Tensor::uniform({n}, 39, -0.5, 3.0, t);
      Tensor ug = Tensor::empty({n}, t, kCuda);
      gpu().fill_random_uniform(ug, RngKey{39, 0x756e6966u, 0}, -0.5, 3.0);
      EXPECT_LE(rel_error(ug, uc), tol) << dt_name(t) << " uniform n " << n;
    }
  }
}

// ---- optimizer and a whole forward/backward through the ops ------------------------------

TEST(CudaBackend, AdamWMatchesCpu) {
  ST_REQUIRE_CUDA();
  AdamWStep step{1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 1.0f - 0.9f * 0.9f, 1.0f - 0.999f * 0.999f};
  for (int64_t n : kLengths) {
    Tensor p = rand_normal({n}, 40), m = rand_normal({n}, 41, DType::F32, 0.1);
    Tensor v = rand_uniform({n}, 42, 0.0, 0.01), g = rand_normal({n}, 43);
    Tensor gp = to_gpu(p), gm = to_gpu(m), gv = to_gpu(v);
    cpu().adamw_update(p, m, v, g, step);
    gpu().adamw_update(gp, gm, gv, to_gpu(g), step);
    EXPECT_LE(rel_error(gp, p), 1e-5) << "p n " << n;
    EXPECT_LE(rel_error(gm, m), 1e-5) << "m n " << n;
    EXPECT_LE(rel_error(gv, v), 1e-5) << "v n " << n;
  }
}

TEST(CudaBackend, TinyModelGradientsMatchCpu) {
  ST_REQUIRE_CUDA();
  Tensor x = rand_normal({6, 33}, 44), w = rand_normal({33, 100}, 45, DType::F32, 0.1);
  Tensor gain = add_scalar(rand_normal({100}, 46, DType::F32, 0.1), 1.0);
  Tensor bias = rand_normal({100}, 47);
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{3, -100, 99, 0, 42, 7}, {6});
  auto run = [&](Device d) {
    Tensor xd = x.detach().to(d), wd = w.detach().to(d), gd = gain.detach().to(d);
    Tensor bd = bias.to(d);
    xd.set_requires_grad(true);
    wd.set_requires_grad(true);
    gd.set_requires_grad(true);
    Tensor h = layer_norm(gelu(matmul(xd, wd)), gd, bd, 1e-5);
    CrossEntropyOptions opt;
    opt.label_smoothing = 0.1;
    Tensor loss = cross_entropy(h, labels.to(d), opt);
    loss.backward();
    return std::vector<Tensor>{loss, xd.grad(), wd.grad(), gd.grad()};
  };
  std::vector<Tensor> c = run(Device::cpu()), g = run(kCuda);
  const char* names[] = {"loss", "dx", "dw", "dgain"};
  for (size_t i = 0; i < c.size(); ++i) EXPECT_LE(rel_error(g[i], c[i]), 1e-5) << names[i];
}

// ==== fused and multi-tensor kernels (bias + GELU, dropout + residual, AdamW over a list, ====
// ==== sum of squares, scale over a list) against the CPU                                   ====

TEST(CudaFused, BiasActMatchesCpu) {
  ST_REQUIRE_CUDA();
  for (DType t : kFloatTypes) {
    for (UnaryOp act : {UnaryOp::GeluTanh, UnaryOp::GeluErf, UnaryOp::Relu}) {
      for (const Shape& s : {Shape{1, 1}, Shape{7, 33}, Shape{300, 100}, Shape{1000, 7},
                             Shape{600, 1}}) {
        int64_t C = s[1];
        Tensor h = rand_normal(s, 60, t), b = rand_normal({C}, 61, t), dy = rand_normal(s, 62, t);
        Tensor y = Tensor::empty(s, t), dh = Tensor::empty(s, t), db = Tensor::empty({C}, t);
        cpu().bias_act_forward(act, h, b, y);
        cpu().bias_act_backward(act, h, b, dy, dh, db);
        Tensor gh = to_gpu(h), gb = to_gpu(b), gdy = to_gpu(dy);
        Tensor gy = Tensor::empty(s, t, kCuda), gdh = Tensor::empty(s, t, kCuda);
        Tensor gdb = Tensor::empty({C}, t, kCuda);
        gpu().bias_act_forward(act, gh, gb, gy);
        gpu().bias_act_backward(act, gh, gb, gdy, gdh, gdb);
        std::string what = dt_name(t) + " act " + std::to_string(static_cast<int>(act)) +
                           " rows " + std::to_string(s[0]) + " C " + std::to_string(C);
        EXPECT_LE(rel_error(gy, y), tolerance(t)) << "y " << what;
        EXPECT_LE(rel_error(gdh, dh), tolerance(t)) << "dh " << what;
        EXPECT_LE(rel_error(gdb, db), tolerance(t)) << "db " << what;
      }
    }
  }
}

// The backward from an h stored in bf16 (precision bf16) against the CPU's.
TEST(CudaFused, BiasActBackwardFromBf16MatchesCpu) {
  ST_REQUIRE_CUDA();
  for (UnaryOp act : {UnaryOp::GeluTanh, UnaryOp::GeluErf}) {
    for (const Shape& s : {Shape{7, 33}, Shape{300, 100}, Shape{1000, 7}}) {
      int64_t C = s[1];
      Tensor h = rand_normal(s, 63, DType::F32).to(DType::BF16), b = rand_normal({C}, 64, DType::F32);
      Tensor dy = rand_normal(s, 65, DType::F32);
      Tensor dh = Tensor::empty(s), db = Tensor::empty({C});
      cpu().bias_act_backward(act, h, b, dy, dh, db);
      Tensor gdh = Tensor::empty(s, DType::F32, kCuda), gdb = Tensor::empty({C}, DType::F32, kCuda);
      gpu().bias_act_backward(act, to_gpu(h), to_gpu(b), to_gpu(dy), gdh, gdb);
      std::string what = "act " + std::to_string(static_cast<int>(act)) + " rows " + std::to_string(s[0]);
      EXPECT_LE(rel_error(gdh, dh), tolerance(DType::F32)) << "dh " << what;
      EXPECT_LE(rel_error(gdb, db), tolerance(DType::F32)) << "db " << what;
    }
  }
}

TEST(CudaFused, BiasGeluOpGradientsMatchCpu) {
  ST_REQUIRE_CUDA();
  Tensor h = rand_normal({3, 33, 100}, 63), b = rand_normal({100}, 64);
  Tensor dy = rand_normal({3, 33, 100}, 65);
  auto run = [&](Device d) {
    Tensor hd = h.to(d), bd = b.to(d);
    hd.set_requires_grad(true);
    bd.set_requires_grad(true);
    Tensor y = bias_gelu(hd, bd, GeluKind::Erf);
    sum_all(mul(y, dy.to(d))).backward();
    return std::vector<Tensor>{y, hd.grad(), bd.grad()};
  };
  std::vector<Tensor> c = run(Device::cpu()), g = run(kCuda);
  const char* names[] = {"y", "dh", "db"};
  for (size_t i = 0; i < c.size(); ++i) EXPECT_LE(rel_error(g[i], c[i]), 1e-5) << names[i];
}

TEST(CudaFused, DropoutAddEqualsCpuBitwise) {
  ST_REQUIRE_CUDA();
  RngKey key{4321, 3, 11};
  GlobalIndexMap slice = block_of_a_larger_tensor();
  for (DType t : kFloatTypes) {
    for (const Shape& shape : {Shape{7, 33}, Shape{4, 5, 100}, Shape{100003}}) {
      for (bool sliced : {false, true}) {
        if (sliced && shape.size() != 3) continue;
        GlobalIndexMap map = sliced ? slice : identity_index_map();
        Tensor x = rand_uniform(shape, 66, 0.5, 2.0, t), r = rand_normal(shape, 67, t);
        Tensor y = Tensor::empty(shape, t), gy = Tensor::empty(shape, t, kCuda);
        cpu().dropout_add(x, r, 0.3f, key, map, y);
        gpu().dropout_add(to_gpu(x), to_gpu(r), 0.3f, key, map, gy);
        EXPECT_TRUE(bitwise_equal(gy, y)) << dt_name(t) << " sliced " << sliced;
        // And equal to residual + the CUDA dropout kernel's output.
        Tensor gd = Tensor::empty(shape, t, kCuda);
        gpu().dropout(to_gpu(x), 0.3f, key, map, gd);
        EXPECT_TRUE(bitwise_equal(gy, add(to_gpu(r), gd))) << dt_name(t) << " sliced " << sliced;
      }
    }
  }
}

TEST(CudaFused, MultiTensorAdamWMatchesCpu) {
  ST_REQUIRE_CUDA();
  std::vector<Backend::AdamWTensor> host, dev;
  uint64_t seed = 70;
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(16384), int64_t(16385), int64_t(0),
                    int64_t(100003)}) {
    Tensor p = rand_normal({n}, seed++), m = rand_normal({n}, seed++, DType::F32, 0.1);
    Tensor v = rand_uniform({n}, seed++, 0.0, 0.01), g = rand_normal({n}, seed++);
    float wd = host.size() % 2 ? 0.0f : 0.1f;
    AdamWStep step{1e-3f * static_cast<float>(host.size() + 1), 0.9f, 0.999f, 1e-8f, wd,
                   1.0f - 0.9f * 0.9f, 1.0f - 0.999f * 0.999f};
    host.push_back({p, m, v, g, step});
    dev.push_back({to_gpu(p), to_gpu(m), to_gpu(v), to_gpu(g), step});
  }
  cpu().adamw_update_many(host);
  gpu().adamw_update_many(dev);
  gpu().adamw_update_many(dev);  // a second step: the table is built again per call
  cpu().adamw_update_many(host);
  for (size_t k = 0; k < host.size(); ++k) {
    EXPECT_LE(rel_error(dev[k].p, host[k].p), 1e-5) << "p, tensor " << k;
    EXPECT_LE(rel_error(dev[k].m, host[k].m), 1e-5) << "m, tensor " << k;
    EXPECT_LE(rel_error(dev[k].v, host[k].v), 1e-5) << "v, tensor " << k;
  }
}

TEST(CudaFused, SumOfSquaresAndScaleManyMatchCpu) {
  ST_REQUIRE_CUDA();
  for (DType t : kFloatTypes) {
    std::vector<Tensor> xs, gxs;
    uint64_t seed = 80;
    for (int64_t n : {int64_t(1), int64_t(0), int64_t(33), int64_t(16384), int64_t(16385),
                      int64_t(100003), int64_t(4099)}) {
      xs.push_back(rand_normal({n}, seed++, t, 0.3));
      gxs.push_back(to_gpu(xs.back()));
    }
    double c = cpu().sum_of_squares(xs), g = gpu().sum_of_squares(gxs);
    EXPECT_NEAR(g, c, (t == DType::F32 ? 1e-6 : 1e-12) * c) << dt_name(t);
    double g2 = gpu().sum_of_squares(gxs);
    EXPECT_EQ(std::memcmp(&g, &g2, sizeof(double)), 0) << "repeatable, " << dt_name(t);
    EXPECT_EQ(gpu().sum_of_squares({}), 0.0);
    cpu().scale_many(xs, -0.37);
    gpu().scale_many(gxs, -0.37);
    for (size_t k = 0; k < xs.size(); ++k)
      EXPECT_TRUE(bitwise_equal(gxs[k], xs[k])) << dt_name(t) << " tensor " << k;
  }
}

TEST(CudaFused, ClipGradNormMatchesCpu) {
  ST_REQUIRE_CUDA();
  std::vector<Tensor> cp, gp;
  uint64_t seed = 90;
  for (int64_t n : {int64_t(7), int64_t(20000), int64_t(1)}) {
    Tensor g = rand_normal({n}, seed++);
    Tensor a = Tensor::zeros({n}).set_requires_grad(true);
    Tensor b = Tensor::zeros({n}, DType::F32, kCuda).set_requires_grad(true);
    a.set_grad(g.clone());
    b.set_grad(to_gpu(g));
    cp.push_back(a);
    gp.push_back(b);
  }
  double nc = clip_grad_norm(cp, 0.5), ng = clip_grad_norm(gp, 0.5);
  EXPECT_NEAR(ng, nc, 1e-6 * nc);
  for (size_t k = 0; k < cp.size(); ++k)
    EXPECT_LE(rel_error(gp[k].grad(), cp[k].grad()), 1e-5) << "gradient " << k;
}

}  // namespace
}  // namespace st
