// Backend selection by device, and small helpers shared by both backends.
#include "core/backend/backend.h"

namespace st {

Backend& backend_for(Device d) {
  if (d.is_cpu()) return cpu_backend();
  return cuda_backend(d.index);
}

StridedLayout layout_of(const Tensor& t) {
  ST_CHECK(t.dim() <= kMaxDims, "tensor of rank ", t.dim(), " exceeds the kernel limit of ",
           kMaxDims, " dimensions (shape ", t.shape(), ")");
  StridedLayout l;
  l.ndim = t.dim();
  for (int i = 0; i < l.ndim; ++i) {
    l.shape[i] = t.shape()[i];
    l.strides[i] = t.strides()[i];
  }
  return l;
}

GlobalIndexMap identity_index_map() { return GlobalIndexMap{}; }

double Backend::sum_of_squares(const std::vector<Tensor>& xs) {
  Tensor out = Tensor::empty({}, DType::F64, device());
  sum_of_squares_into(xs, out);
  return out.item();
}

}  // namespace st
