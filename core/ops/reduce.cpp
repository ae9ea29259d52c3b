// Sum and mean over axes (deterministic: see CpuBackend::sum_axis). Adjacent reduced axes are
// merged into one kernel call. Backward broadcasts the gradient back to the input's shape.
// cumsum: running sums along one axis; its backward is the running sum of the gradient in the
// other direction (y_i = sum_{k <= i} x_k gives dx_k = sum_{i >= k} dy_i).
#include <algorithm>
#include <set>

#include "core/ops/op_util.h"

namespace st {

namespace {
Tensor sum_raw(const Tensor& x, const std::vector<int>& axes_in, bool keepdim) {
  std::set<int> axes;
  for (int a : axes_in) {
    ST_CHECK(axes.insert(x.norm_dim(a)).second, "sum: axis ", a, " given twice for shape ",
             x.shape());
  }
  Shape kept = x.shape();
  for (int a : axes) kept[a] = 1;
  Tensor cur = x.contiguous();
  // Reduce runs of adjacent axes from the innermost outwards.
  std::vector<int> sorted(axes.begin(), axes.end());
  int i = static_cast<int>(sorted.size()) - 1;
  while (i >= 0) {
    int hi = sorted[i], lo = hi;
    while (i > 0 && sorted[i - 1] == lo - 1) lo = sorted[--i];
    --i;
    const Shape& s = cur.shape();
    int64_t outer = 1, r = 1, inner = 1;
    for (int d = 0; d < lo; ++d) outer *= s[d];
    for (int d = lo; d <= hi; ++d) r *= s[d];
    for (int d = hi + 1; d < static_cast<int>(s.size()); ++d) inner *= s[d];
    Shape ns = s;
    for (int d = lo; d <= hi; ++d) ns[d] = 1;
    Tensor out = Tensor::empty(ns, x.dtype(), x.device());
    if (out.numel() > 0) {
      if (r == 0) detail::be(out).fill(out, 0.0);
      else detail::be(out).sum_axis(cur, outer, r, inner, out);
    }
    cur = out;
  }
  if (keepdim) return cur;
  Shape squeezed;
  for (int d = 0; d < x.dim(); ++d)
    if (!axes.count(d)) squeezed.push_back(x.shape()[d]);
  NoGradGuard ng;
  return cur.reshape(squeezed);
}
}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  detail::check_floating("sum", x);
  Tensor y = sum_raw(x, axes, keepdim);
  Shape in_shape = x.shape();
  Shape kept = in_shape;
  for (int a : axes) kept[x.norm_dim(a)] = 1;
  return record(y, "sum", {x}, [in_shape, kept](const Tensor& g) {
    return std::vector<Tensor>{expand(g.reshape(kept), in_shape).contiguous()};
  });
}

Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  int64_t count = 1;
  for (int a : axes) count *= x.size(a);
  return scale(sum(x, axes, keepdim), count ? 1.0 / static_cast<double>(count) : 0.0);
}

Tensor sum_all(const Tensor& x) {
  std::vector<int> axes(x.dim());
  for (int i = 0; i < x.dim(); ++i) axes[i] = i;
  return sum(x, axes, false);
}

Tensor mean_all(const Tensor& x) {
  return scale(sum_all(x), x.numel() ? 1.0 / static_cast<double>(x.numel()) : 0.0);
}

Tensor cumsum(const Tensor& x, int axis, bool exclusive, bool reverse) {
  detail::check_floating("cumsum", x);
  int a = x.norm_dim(axis);
  int64_t outer = 1, r = x.size(a), inner = 1;
  for (int d = 0; d < a; ++d) outer *= x.size(d);
  for (int d = a + 1; d < x.dim(); ++d) inner *= x.size(d);
  Tensor xc = x.detach().contiguous();
  Tensor y = detail::empty_like(xc);
  if (y.numel() > 0) detail::be(y).cumsum_axis(xc, outer, r, inner, exclusive, reverse, y);
  return record(y, "cumsum", {x}, [a, exclusive, reverse](const Tensor& g) {
    return std::vector<Tensor>{cumsum(g, a, exclusive, !reverse)};
  });
}

}  // namespace st
