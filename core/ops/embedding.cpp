// Embedding lookup: table (V, D), ids i32 (...) -> (..., D). Ids are range-checked by the backend
// (at once on the CPU; on CUDA on the device, the error raised at the next host read).
// Backward scatter-adds into a zeroed (V, D) gradient in token order.
#include <sstream>

#include "core/ops/op_util.h"

namespace st {

Tensor embedding(const Tensor& table, const Tensor& ids) {
  detail::check_floating("embedding", table);
  ST_CHECK(table.dim() == 2, "embedding: table must be (rows, dim), got ", table.shape());
  ST_CHECK(ids.defined() && ids.dtype() == DType::I32, "embedding: ids must be i32, got ",
           ids.defined() ? dtype_name(ids.dtype()) : "undefined");
  ST_CHECK(ids.device() == table.device(), "embedding: ids on ", ids.device(), ", table on ",
           table.device());
  Tensor ic = ids.contiguous(), tc = table.contiguous();
  int64_t V = table.size(0), D = table.size(1);
  if (ic.numel() > 0) {
    std::ostringstream rest;
    rest << " of ids " << ids.shape() << " is outside [0, " << V << ") for a table of shape " << table.shape();
    detail::be(ic).check_range(ic, 0, V, Backend::kNoneAllowed, {"embedding: id", "at flat position", rest.str()});
  }
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  Tensor out = Tensor::empty(out_shape, table.dtype(), table.device());
  if (out.numel() > 0) detail::be(tc).embedding_forward(tc, ic, out);
  Shape tshape = table.shape();
  return record(out, "embedding", {table}, [ic, tshape](const Tensor& g) {
    Tensor dt = Tensor::zeros(tshape, g.dtype(), g.device());
    if (ic.numel() > 0 && tshape[1] > 0) detail::be(dt).embedding_backward(ic, g.contiguous(), dt);
    return std::vector<Tensor>{dt};
  });
}

}  // namespace st
