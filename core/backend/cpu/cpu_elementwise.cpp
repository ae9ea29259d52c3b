// CPU elementwise kernels: activations and their gradients (functors from core/math),
// affine, broadcast binary ops, masked fill, accumulate, dropout.
#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"
#include "core/backend/global_index.h"
#include "core/backend/op_functors.h"
#include "core/math/activations.h"

namespace st {

namespace {

template <class T, class F>
void map_unary(const T* x, T* y, int64_t n, F f) {
#pragma omp parallel for simd if (n > cpu::kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <class T, class F>
void map_binary(const T* a, const T* b, T* y, int64_t n, F f) {
#pragma omp parallel for simd if (n > cpu::kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}

}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& x, const Tensor& y) {
  cpu::dispatch_float(x.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    with_unary(op, [&](auto f) { map_unary(x.data<T>(), y.data<T>(), x.numel(), f); });
  });
}

void CpuBackend::unary_grad(UnaryGradOp op, const Tensor& x, const Tensor& dy, const Tensor& dx) {
  cpu::dispatch_float(x.dtype(), "unary_grad", [&](auto tag) {
    using T = decltype(tag);
    with_unary_grad(op, [&](auto f) {
      map_binary(x.data<T>(), dy.data<T>(), dx.data<T>(), x.numel(), f);
    });
  });
}

void CpuBackend::affine(const Tensor& x, double alpha, double beta, const Tensor& y) {
  cpu::dispatch_float(x.dtype(), "affine", [&](auto tag) {
    using T = decltype(tag);
    T a = static_cast<T>(alpha), b = static_cast<T>(beta);
    map_unary(x.data<T>(), y.data<T>(), x.numel(), [a, b](T v) { return a * v + b; });
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  cpu::dispatch_float(out.dtype(), "binary", [&](auto tag) {
    using T = decltype(tag);
    with_binary(op, [&](auto f) {
      T* o = out.data<T>();
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      if (a.is_contiguous() && b.is_contiguous()) {
        map_binary(pa, pb, o, out.numel(), f);
        return;
      }
      StridedLayout la = layout_of(a), lb = layout_of(b), lo = layout_of(out);
      int64_t rows = cpu::row_count(lo), len = cpu::last_size(lo);
      int64_t sa = cpu::last_stride(la), sb = cpu::last_stride(lb);
#pragma omp parallel for if (rows * len > cpu::kParallelGrain)
      for (int64_t r = 0; r < rows; ++r) {
        const T* ra = pa + cpu::row_offset(la, r);
        const T* rb = pb + cpu::row_offset(lb, r);
        T* ro = o + r * len;
        for (int64_t j = 0; j < len; ++j) ro[j] = f(ra[j * sa], rb[j * sb]);
      }
    });
  });
}

void CpuBackend::masked_fill(const Tensor& x, const Tensor& mask, double value,
                             const Tensor& out) {
  cpu::dispatch_float(x.dtype(), "masked_fill", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    T v = static_cast<T>(value);
    StridedLayout lm = layout_of(mask);
    int64_t rows = cpu::row_count(lm), len = cpu::last_size(lm), sm = cpu::last_stride(lm);
    auto run = [&](auto mtag) {
      using M = decltype(mtag);
      const M* pm = static_cast<const M*>(mask.raw_data());
#pragma omp parallel for if (rows * len > cpu::kParallelGrain)
      for (int64_t r = 0; r < rows; ++r) {
        const M* rm = pm + cpu::row_offset(lm, r);
        for (int64_t j = 0; j < len; ++j) {
          int64_t i = r * len + j;
          po[i] = rm[j * sm] != M(0) ? v : px[i];
        }
      }
    };
    if (mask.dtype() == DType::I32) run(int32_t{});
    else run(T{});
  });
}

void CpuBackend::accumulate(const Tensor& dst, const Tensor& src) {
  cpu::dispatch_float(dst.dtype(), "accumulate", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    int64_t n = dst.numel();
#pragma omp parallel for simd if (n > cpu::kParallelGrain)
    for (int64_t i = 0; i < n; ++i) d[i] += s[i];
  });
}

void CpuBackend::dropout(const Tensor& x, float p, const RngKey& key, const GlobalIndexMap& map,
                         const Tensor& y) {
  cpu::dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    T keep_scale = static_cast<T>(1.0 / (1.0 - static_cast<double>(p)));
    StridedLayout l = layout_of(x);
    int64_t rows = cpu::row_count(l), len = cpu::last_size(l);
#pragma omp parallel for if (rows * len > cpu::kParallelGrain / 8)
    for (int64_t r = 0; r < rows; ++r) {
      GlobalRow g = global_row(map, l, r, len);  // the numbering of dropout()
      for (int64_t j = 0; j < len; ++j) {
        bool keep = dropout_keep(key, static_cast<uint64_t>(g.start + j * g.step), p);
        py[r * len + j] = keep ? px[r * len + j] * keep_scale : T(0);
      }
    }
  });
}

}  // namespace st
