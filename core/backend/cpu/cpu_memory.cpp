// CPU kernels: fill, strided copy with dtype conversion, host copies, seeded random fills.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"

namespace st {

namespace {
template <class T> double load_as_double(const T* p) { return static_cast<double>(*p); }
template <> double load_as_double(const bf16* p) { return bf16_to_float(*p); }
template <class T> void store_from_double(T* p, double v) { *p = static_cast<T>(v); }
template <> void store_from_double(bf16* p, double v) { *p = float_to_bf16(static_cast<float>(v)); }
template <> void store_from_double(float* p, double v) { *p = static_cast<float>(v); }

template <class F>
void dispatch_any(DType t, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    case DType::BF16: f(bf16{}); break;
    case DType::I32: f(int32_t{}); break;
  }
}

template <class D, class S>
void convert(D* d, const S* s) {
  if constexpr (std::is_same_v<D, S>) {
    *d = *s;
  } else if constexpr (std::is_same_v<D, bf16>) {
    *d = float_to_bf16(static_cast<float>(load_as_double(s)));
  } else {
    *d = static_cast<D>(load_as_double(s));
  }
}
}  // namespace

void CpuBackend::fill(const Tensor& dst, double value) {
  StridedLayout l = layout_of(dst);
  dispatch_any(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T v;
    store_from_double(&v, value);
    T* base = static_cast<T*>(dst.raw_data());
    if (dst.is_contiguous()) {
      int64_t n = dst.numel();
#pragma omp parallel for if (n > cpu::kParallelGrain)
      for (int64_t i = 0; i < n; ++i) base[i] = v;
      return;
    }
    int64_t rows = cpu::row_count(l), len = cpu::last_size(l), s = cpu::last_stride(l);
    for (int64_t r = 0; r < rows; ++r) {
      T* p = base + cpu::row_offset(l, r);
      for (int64_t j = 0; j < len; ++j) p[j * s] = v;
    }
  });
}

void CpuBackend::copy(const Tensor& dst, const Tensor& src) {
  ST_CHECK(dst.shape() == src.shape(), "copy: shapes differ: ", dst.shape(), " <- ", src.shape());
  StridedLayout ld = layout_of(dst), ls = layout_of(src);
  int64_t rows = cpu::row_count(ld), len = cpu::last_size(ld);
  int64_t sd = cpu::last_stride(ld), ss = cpu::last_stride(ls);
  dispatch_any(dst.dtype(), [&](auto dtag) {
    using D = decltype(dtag);
    dispatch_any(src.dtype(), [&](auto stag) {
      using S = decltype(stag);
      D* dbase = static_cast<D*>(dst.raw_data());
      const S* sbase = static_cast<const S*>(src.raw_data());
      if constexpr (std::is_same_v<D, S>) {
        if (dst.is_contiguous() && src.is_contiguous()) {
          std::memcpy(dbase, sbase, static_cast<size_t>(dst.numel()) * sizeof(D));
          return;
        }
      }
      // Planes of (mid, len) elements: the plane offset is computed once (divisions), rows
      // inside it advance by the second-to-last stride. Short rows (a head's d_h) stay cheap.
      int64_t mid = ld.ndim >= 2 ? ld.shape[ld.ndim - 2] : 1;
      int64_t planes = mid > 0 ? rows / mid : 0;
      int64_t md = ld.ndim >= 2 ? ld.strides[ld.ndim - 2] : 0, ms = ls.ndim >= 2 ? ls.strides[ls.ndim - 2] : 0;
      StridedLayout pd = ld, ps = ls;  // the plane index runs over dims [0, ndim - 2)
      pd.ndim = std::max(ld.ndim - 1, 0);
      ps.ndim = std::max(ls.ndim - 1, 0);
#pragma omp parallel for if (rows * len > cpu::kParallelGrain)
      for (int64_t p = 0; p < planes; ++p) {
        D* dp = dbase + cpu::row_offset(pd, p);
        const S* sp = sbase + cpu::row_offset(ps, p);
        for (int64_t m = 0; m < mid; ++m) {
          D* d = dp + m * md;
          const S* s = sp + m * ms;
          for (int64_t j = 0; j < len; ++j) convert(d + j * sd, s + j * ss);
        }
      }
    });
  });
}

void CpuBackend::copy_from_host(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}

void CpuBackend::copy_to_host(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}

void CpuBackend::fill_random_normal(const Tensor& dst, const RngKey& key, double stddev) {
  ST_CHECK(dst.is_contiguous(), "fill_random_normal: destination must be contiguous");
  int64_t n = dst.numel();
  dispatch_any(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(dst.raw_data());
#pragma omp parallel for if (n > cpu::kParallelGrain / 16)
    for (int64_t i = 0; i < n; ++i) store_from_double(p + i, stddev * philox_normal(key, i));
  });
}

void CpuBackend::fill_random_uniform(const Tensor& dst, const RngKey& key, double lo, double hi) {
  ST_CHECK(dst.is_contiguous(), "fill_random_uniform: destination must be contiguous");
  int64_t n = dst.numel();
  dispatch_any(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(dst.raw_data());
#pragma omp parallel for if (n > cpu::kParallelGrain / 16)
    for (int64_t i = 0; i < n; ++i) store_from_double(p + i, philox_uniform_between(key, i, lo, hi));
  });
}

Backend& cpu_backend() {
  static CpuBackend b;
  return b;
}

}  // namespace st
