// Inverted dropout. The keep mask is a pure function of (key, global element index) through
// Philox, so backward regenerates it instead of storing it, and a sequence-parallel rank drops
// exactly the elements a single process would (see GlobalIndexMap).
#include "core/ops/op_util.h"

namespace st {

Tensor dropout(const Tensor& x, float p, const RngKey& key, bool training,
               const GlobalIndexMap& map) {
  detail::check_floating("dropout", x);
  ST_CHECK(p >= 0.0f && p < 1.0f, "dropout: probability must be in [0, 1), got ", p);
  ST_CHECK(map.ndim == 0 || map.ndim == x.dim(), "dropout: index map of rank ", map.ndim,
           " for a tensor of shape ", x.shape());
  if (!training || p == 0.0f) return x;
  Tensor xc = x.contiguous();
  Tensor y = detail::empty_like(x);
  if (y.numel() > 0) detail::be(x).dropout(xc, p, key, map, y);
  return record(y, "dropout", {x}, [p, key, map](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = detail::empty_like(gc);
    if (dx.numel() > 0) detail::be(gc).dropout(gc, p, key, map, dx);
    return std::vector<Tensor>{dx};
  });
}

}  // namespace st
