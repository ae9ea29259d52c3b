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

}  // namespace st
