// CPU label kernels: compare_scalar and attention_scale (elementwise, =) and argmax_hit_rows
// (one row per iteration, =). The math is core/math/labels.h's and core/math/attention_scale.h's.
#include <type_traits>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_common.h"
#include "core/math/labels.h"

namespace st {

void CpuBackend::compare_scalar(CompareOp op, const Tensor& x, int32_t value, const Tensor& out) {
  const int32_t* px = x.data<int32_t>();
  int64_t n = x.numel();
  bool equal = op == CompareOp::Equal;
  auto run = [&](auto* po) {
    using O = std::remove_pointer_t<decltype(po)>;
#pragma omp parallel for if (n > cpu::kParallelGrain)
    for (int64_t i = 0; i < n; ++i) po[i] = static_cast<O>(compare_result(px[i], value, equal));
  };
  switch (out.dtype()) {
    case DType::F32: run(out.data<float>()); break;
    case DType::F64: run(out.data<double>()); break;
    case DType::I32: run(out.data<int32_t>()); break;
    default: ST_THROW("compare_scalar: output dtype ", out.dtype(), " (f32, f64 or i32)");
  }
}

void CpuBackend::check_range(const Tensor& x, int64_t lo, int64_t hi, int64_t allowed, const RangeCheck& msg) {
  const int32_t* px = x.data<int32_t>();
  int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i)
    if (px[i] != allowed && (px[i] < lo || px[i] >= hi)) ST_THROW(msg.what, " ", px[i], " ", msg.where, " ", i, msg.rest);
}

void CpuBackend::attention_scale(const Tensor& n, ScaleMode mode, double head_dim, const Tensor& out) {
  const double* pn = n.data<double>();
  int64_t count = n.numel();
  cpu::dispatch_float(out.dtype(), "attention_scale", [&](auto tag) {
    using E = decltype(tag);
    E* po = out.data<E>();
    for (int64_t i = 0; i < count; ++i) po[i] = static_cast<E>(st::attention_scale(mode, pn[i], head_dim));
  });
}

void CpuBackend::argmax_hit_rows(const Tensor& logits, const Tensor& labels, int32_t ignore, const Tensor& out) {
  int64_t R = logits.size(0), C = logits.size(1);
  const int32_t* py = labels.data<int32_t>();
  double* po = out.data<double>();
  cpu::dispatch_float(logits.dtype(), "argmax_hit_rows", [&](auto tag) {
    using E = decltype(tag);
    const E* pl = logits.data<E>();
#pragma omp parallel for if (R * C > cpu::kParallelGrain)
    for (int64_t r = 0; r < R; ++r) {
      const E* row = pl + r * C;
      int64_t best = 0;
      for (int64_t c = 1; c < C; ++c)
        if (argmax_beats(row[c], c, row[best], best)) best = c;
      po[r] = py[r] != ignore && best == py[r] ? 1.0 : 0.0;
    }
  });
}

}  // namespace st
