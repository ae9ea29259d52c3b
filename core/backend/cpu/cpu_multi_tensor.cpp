// CPU multi-tensor kernels over lists of contiguous tensors: AdamW (the per-tensor update in a
// loop, so results equal adamw_update exactly), the sum of squares behind the global gradient
// norm, and an in-place scale (x *= alpha). The sum of squares cuts each tensor into fixed
// blocks of kSquaresBlock elements, summed in double in index order, block partials added in
// block order: the blocking of sum_axis, so it equals sum_all(mul(x, x)) bitwise.
#include <algorithm>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"
#include "core/math/fused.h"

namespace st {

namespace {
constexpr int64_t kSquaresBlock = 8192;  // = CpuBackend::sum_axis's block

void check_list(const char* op, const std::vector<Tensor>& xs) {
  for (size_t k = 0; k < xs.size(); ++k) {
    ST_CHECK(xs[k].defined() && xs[k].is_contiguous(), op, ": tensor ", k,
             " of the list must be defined and contiguous");
    ST_CHECK(xs[k].dtype() == xs[0].dtype(), op, ": tensor ", k, " has dtype ", xs[k].dtype(),
             ", tensor 0 ", xs[0].dtype(), " (one dtype per list)");
  }
}
}  // namespace

void CpuBackend::adamw_update_many(const std::vector<AdamWTensor>& list) {
  for (const AdamWTensor& t : list) {
    ST_CHECK(t.p.numel() == t.m.numel() && t.p.numel() == t.v.numel() &&
                 t.p.numel() == t.g.numel(),
             "adamw_update_many: parameter ", t.p.shape(), ", moments ", t.m.shape(), " and ",
             t.v.shape(), ", gradient ", t.g.shape(), " differ in size");
    adamw_update(t.p, t.m, t.v, t.g, t.step);
  }
}

void CpuBackend::sum_of_squares_into(const std::vector<Tensor>& xs, const Tensor& out) {
  ST_CHECK(out.dtype() == DType::F64 && out.numel() == 1 && out.device().is_cpu(),
           "sum_of_squares: the result must be one f64 on the CPU, got ", out.shape(), " ", out.dtype());
  *out.data<double>() = 0.0;
  if (xs.empty()) return;
  check_list("sum_of_squares", xs);
  // Every (tensor, block) pair is one task; partials in list order, then block order.
  std::vector<int64_t> first(xs.size() + 1, 0);
  for (size_t k = 0; k < xs.size(); ++k)
    first[k + 1] = first[k] + (xs[k].numel() + kSquaresBlock - 1) / kSquaresBlock;
  std::vector<double> partial(static_cast<size_t>(first.back()));
  double total = 0;
  cpu::dispatch_float(xs[0].dtype(), "sum_of_squares", [&](auto tag) {
    using T = decltype(tag);
    int64_t tasks = first.back();
    SquareTerm sq;
#pragma omp parallel for schedule(dynamic, 4) if (tasks > 1)
    for (int64_t t = 0; t < tasks; ++t) {
      size_t k = static_cast<size_t>(
          std::upper_bound(first.begin(), first.end(), t) - first.begin() - 1);
      const T* x = xs[k].data<T>();
      int64_t begin = (t - first[k]) * kSquaresBlock;
      int64_t end = std::min(xs[k].numel(), begin + kSquaresBlock);
      double acc = 0;
      for (int64_t i = begin; i < end; ++i) acc += sq(x[i]);
      partial[t] = acc;
    }
    for (size_t k = 0; k < xs.size(); ++k) {
      double s = 0;
      for (int64_t t = first[k]; t < first[k + 1]; ++t) s += partial[t];
      total += static_cast<double>(static_cast<T>(s));
    }
  });
  *out.data<double>() = total;
}

void CpuBackend::scale_many(const std::vector<Tensor>& xs, double alpha) {
  if (xs.empty()) return;
  check_list("scale_many", xs);
  cpu::dispatch_float(xs[0].dtype(), "scale_many", [&](auto tag) {
    using T = decltype(tag);
    T a = static_cast<T>(alpha);
    for (const Tensor& t : xs) {
      T* x = t.data<T>();
      int64_t n = t.numel();
#pragma omp parallel for simd if (n > cpu::kParallelGrain)
      for (int64_t i = 0; i < n; ++i) x[i] *= a;
    }
  });
}

}  // namespace st
