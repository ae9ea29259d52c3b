// Tensor basics: shapes and strides, views sharing storage, contiguity, dtype conversions,
// the aligned CPU allocator and its statistics.
#include "tests/core/test_util.h"

namespace st {
namespace {

TEST(Tensor, ContiguousStridesAndFactories) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.strides(), (Strides{12, 4, 1}));
  EXPECT_EQ(t.numel(), 24);
  EXPECT_TRUE(t.is_contiguous());
  testing::expect_values(Tensor::full({2}, 2.5), {2.5, 2.5}, 0);
  testing::expect_values(Tensor::ones({3}, DType::I32), {1, 1, 1}, 0);
  EXPECT_EQ(Tensor::scalar(3.0).dim(), 0);
  EXPECT_DOUBLE_EQ(Tensor::scalar(3.0).item(), 3.0);
}

TEST(Tensor, ViewsShareStorageWithoutCopies) {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  int64_t allocs = memory_stats().allocations;
  Tensor tt = t.transpose(0, 1);
  Tensor n = t.narrow(1, 1, 2);
  Tensor r = t.reshape({3, 2});
  Tensor p = t.reshape({1, 2, 3}).permute({2, 0, 1});
  EXPECT_EQ(memory_stats().allocations, allocs) << "views must not allocate";
  EXPECT_TRUE(tt.same_storage(t) && n.same_storage(t) && r.same_storage(t) && p.same_storage(t));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_FALSE(n.is_contiguous());
  EXPECT_EQ(tt.strides(), (Strides{1, 3}));
  EXPECT_EQ(n.offset(), 1);
  testing::expect_values(tt, {0, 3, 1, 4, 2, 5}, 0);
  testing::expect_values(n, {1, 2, 4, 5}, 0);
  testing::expect_values(p.contiguous(), {0, 3, 1, 4, 2, 5}, 0);
  // Writing through storage shows in every view.
  t.data<float>()[4] = 40;
  testing::expect_values(n, {1, 2, 40, 5}, 0);
}

TEST(Tensor, ContiguousCopiesOnlyWhenNeeded) {
  Tensor t = Tensor::randn({4, 5}, 1);
  EXPECT_TRUE(t.contiguous().same_storage(t));
  Tensor c = t.transpose(0, 1).contiguous();
  EXPECT_FALSE(c.same_storage(t));
  EXPECT_TRUE(c.is_contiguous());
  // Reshaping a non-contiguous view copies.
  Tensor r = t.transpose(0, 1).reshape({20});
  EXPECT_FALSE(r.same_storage(t));
  EXPECT_EQ(t.to_vector<float>()[1], r.to_vector<float>()[4]);
  // Size-1 dimensions do not break contiguity.
  EXPECT_TRUE(Tensor::zeros({3, 1, 4}).permute({1, 0, 2}).is_contiguous());
}

TEST(Tensor, DtypeConversions) {
  Tensor f = Tensor::from_vector<float>({1.5f, -2.25f, 3.0f, 1.00390625f}, {4});
  testing::expect_values(f.to(DType::F64), {1.5, -2.25, 3.0, 1.00390625}, 0);
  testing::expect_values(f.to(DType::I32), {1, -2, 3, 1}, 0);
  // bf16 keeps 8 significant bits: 1.00390625 = 1 + 2^-8 rounds to even (1.0).
  testing::expect_values(f.to(DType::BF16).to(DType::F32), {1.5, -2.25, 3.0, 1.0}, 0);
  Tensor i = Tensor::from_vector<int32_t>({7, -3}, {2});
  testing::expect_values(i.to(DType::F32), {7, -3}, 0);
}

TEST(Tensor, AllocatorAlignmentAndStatistics) {
  reset_peak_memory();
  MemoryStats before = memory_stats();
  {
    Tensor a = Tensor::empty({1000});  // 4000 bytes
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.raw_data()) % kCpuAlignment, 0u);
    EXPECT_EQ(memory_stats().bytes_in_use, before.bytes_in_use + 4000);
    Tensor b = Tensor::empty({3}, DType::F64);  // 24 bytes
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.raw_data()) % kCpuAlignment, 0u);
    EXPECT_EQ(memory_stats().peak_bytes, before.bytes_in_use + 4024);
  }
  EXPECT_EQ(memory_stats().bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(memory_stats().peak_bytes, before.bytes_in_use + 4024);
  reset_peak_memory();
  EXPECT_EQ(memory_stats().peak_bytes, before.bytes_in_use);
}

TEST(Tensor, StorageFreedWhenLastViewGoes) {
  int64_t base = memory_stats().bytes_in_use;
  Tensor v;
  {
    Tensor t = Tensor::zeros({256});
    v = t.narrow(0, 10, 5);
  }
  EXPECT_EQ(memory_stats().bytes_in_use, base + 1024) << "a view keeps its storage alive";
  v = Tensor();
  EXPECT_EQ(memory_stats().bytes_in_use, base);
}

TEST(Tensor, SeededRandomIsReproducible) {
  Tensor a = Tensor::randn({100}, 5), b = Tensor::randn({100}, 5), c = Tensor::randn({100}, 6);
  EXPECT_TRUE(testing::bitwise_equal(a, b));
  EXPECT_FALSE(testing::bitwise_equal(a, c));
  double m = mean_all(a.to(DType::F64)).item();
  EXPECT_LT(std::fabs(m), 0.4);
  Tensor u = Tensor::uniform({1000}, 3, -2.0, 2.0);
  for (float x : u.to_vector<float>()) EXPECT_TRUE(x >= -2.0f && x < 2.0f);
}

TEST(Tensor, CudaDeviceWithoutCudaIsAClearError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    Tensor::zeros({2}, DType::F32, Device::cuda(0));
    if (cuda_built()) {
      FAIL() << "expected an error for cuda:0 without a device";
    } else {
      FAIL() << "expected an error in a build without CUDA";
    }
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
  }
}


// Shapes may come from files and configs: a size whose element or byte count overflows 64 bits
// is an error before anything is allocated, never a wrapped-around small allocation.
TEST(Tensor, ShapesWhoseSizeOverflowsAreErrors) {
  const int64_t big = int64_t{1} << 40;
  // Elements, bytes (2^61 x 2 elements of 4 bytes), and strides of an empty tensor.
  for (const Shape& s : {Shape{big, big}, Shape{int64_t{1} << 62, 2}, Shape{int64_t{1} << 61, 2}, Shape{0, big, big}}) {
    try {
      Tensor::empty(s, DType::F32);
      FAIL() << "expected an error for a shape of " << s.size() << " dimensions, first " << s[0];
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("overflows 64 bits"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(Tensor::empty({0, big}, DType::F32).numel(), 0) << "an empty tensor of a representable width";
}

}  // namespace
}  // namespace st
