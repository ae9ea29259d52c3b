// Cross-entropy fused with log-softmax: rows whose label is ignore_index contribute neither loss
// nor gradient, and Mean divides by the number of the other rows. Label smoothing eps spreads
// eps over all classes (as torch.nn.functional.cross_entropy does).
#include <sstream>

#include "core/ops/op_util.h"

namespace st {

Tensor cross_entropy(const Tensor& logits, const Tensor& labels,
                     const CrossEntropyOptions& opt) {
  detail::check_floating("cross_entropy", logits);
  ST_CHECK(logits.dim() == 2, "cross_entropy: logits must be (rows, classes), got ",
           logits.shape());
  ST_CHECK(labels.defined() && labels.dtype() == DType::I32 && labels.dim() == 1 &&
               labels.size(0) == logits.size(0),
           "cross_entropy: labels must be i32 (", logits.size(0), ") for logits ", logits.shape(),
           ", got ", labels.defined() ? dtype_name(labels.dtype()) : "undefined", " ",
           labels.defined() ? labels.shape() : Shape{});
  ST_CHECK(labels.device() == logits.device(), "cross_entropy: labels on ", labels.device(),
           ", logits on ", logits.device());
  ST_CHECK(opt.label_smoothing >= 0 && opt.label_smoothing <= 1,
           "cross_entropy: label_smoothing must be in [0, 1], got ", opt.label_smoothing);
  int64_t R = logits.size(0), C = logits.size(1);
  ST_CHECK(C > 0, "cross_entropy: logits have no classes: ", logits.shape());
  Tensor lc = logits.contiguous(), yc = labels.contiguous();
  if (R > 0) {
    // Labels must be classes or ignore_index (checked by the backend: at once on the CPU, on
    // CUDA at the next host read).
    std::ostringstream rest;
    rest << " is outside [0, " << C << ") for logits " << logits.shape() << " (ignore_index " << opt.ignore_index << ")";
    detail::be(yc).check_range(yc, 0, C, opt.ignore_index, {"cross_entropy: label", "at row", rest.str()});
  }
  Tensor loss = Tensor::empty({R}, logits.dtype(), logits.device());
  Tensor lse = Tensor::empty({R}, logits.dtype(), logits.device());
  if (R > 0)
    detail::be(lc).cross_entropy_forward(lc, yc, opt.ignore_index, opt.label_smoothing, loss, lse);
  Tensor sl = lc.detach();
  Tensor per_row = record(loss, "cross_entropy", {logits}, [sl, yc, lse, opt](const Tensor& g) {
    Tensor dl = detail::empty_like(sl);
    if (dl.numel() > 0)
      detail::be(sl).cross_entropy_backward(sl, yc, lse, g.contiguous(), opt.ignore_index,
                                            opt.label_smoothing, dl);
    return std::vector<Tensor>{dl};
  });
  if (opt.reduction == Reduction::None) return per_row;
  Tensor total = sum_all(per_row);
  if (opt.reduction == Reduction::Sum) return total;
  // Divided by max(counted, 1) on the device (a whole number: relu(c - 1) + 1); with nothing
  // counted the total is 0 and so is the mean.
  Tensor counted = count_not_equal(yc, opt.ignore_index).to(total.dtype());
  return div(total, add_scalar(relu(add_scalar(counted, -1.0)), 1.0));
}

}  // namespace st
