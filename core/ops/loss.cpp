// Cross-entropy fused with log-softmax: rows whose label is ignore_index contribute neither loss
// nor gradient, and Mean divides by the number of the other rows. Label smoothing eps spreads
// eps over all classes (as torch.nn.functional.cross_entropy does). The label checks and the
// reduction are shared with the fused language-model head (lm_head_loss.cpp).
#include <sstream>

#include "core/ops/op_util.h"

namespace st {

namespace detail {

void check_class_labels(const char* op, const Tensor& labels, const Shape& logits_shape, Device device,
                        const CrossEntropyOptions& opt) {
  int64_t rows = logits_shape[0], classes = logits_shape[1];
  ST_CHECK(labels.defined() && labels.dtype() == DType::I32 && labels.dim() == 1 && labels.size(0) == rows,
           op, ": labels must be i32 (", rows, ") for logits ", logits_shape, ", got ",
           labels.defined() ? dtype_name(labels.dtype()) : "undefined", " ",
           labels.defined() ? labels.shape() : Shape{});
  ST_CHECK(labels.device() == device, op, ": labels on ", labels.device(), ", logits on ", device);
  ST_CHECK(opt.label_smoothing >= 0 && opt.label_smoothing <= 1, op,
           ": label_smoothing must be in [0, 1], got ", opt.label_smoothing);
  ST_CHECK(classes > 0, op, ": logits have no classes: ", logits_shape);
  if (rows == 0) return;
  // Labels must be classes or ignore_index (checked by the backend: at once on the CPU, on
  // CUDA at the next host read).
  std::ostringstream rest;
  rest << " is outside [0, " << classes << ") for logits " << logits_shape << " (ignore_index "
       << opt.ignore_index << ")";
  Tensor yc = labels.contiguous();
  be(yc).check_range(yc, 0, classes, opt.ignore_index, {std::string(op) + ": label", "at row", rest.str()});
}

Tensor reduce_rows(const Tensor& per_row, const Tensor& labels, const CrossEntropyOptions& opt) {
  if (opt.reduction == Reduction::None) return per_row;
  Tensor total = sum_all(per_row);
  if (opt.reduction == Reduction::Sum) return total;
  // Divided by max(counted, 1) on the device (a whole number: relu(c - 1) + 1); with nothing
  // counted the total is 0 and so is the mean.
  Tensor counted = count_not_equal(labels, opt.ignore_index).to(total.dtype());
  return div(total, add_scalar(relu(add_scalar(counted, -1.0)), 1.0));
}

}  // namespace detail

Tensor cross_entropy(const Tensor& logits, const Tensor& labels,
                     const CrossEntropyOptions& opt) {
  detail::check_floating("cross_entropy", logits);
  ST_CHECK(logits.dim() == 2, "cross_entropy: logits must be (rows, classes), got ",
           logits.shape());
  detail::check_class_labels("cross_entropy", labels, logits.shape(), logits.device(), opt);
  int64_t R = logits.size(0);
  Tensor lc = logits.contiguous(), yc = labels.contiguous();
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
  return detail::reduce_rows(per_row, yc, opt);
}

}  // namespace st
