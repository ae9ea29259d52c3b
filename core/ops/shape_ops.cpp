// Views and copies: reshape, permute, transpose, narrow, expand (elementwise.cpp), concat,
// contiguous, clone and conversions between dtypes and devices, with backward rules; and the
// constant triangle masks of causal attention.
#include <numeric>
#include <vector>

#include "core/ops/op_util.h"

namespace st {

Tensor Tensor::reshape(const Shape& shape_in) const {
  Shape s = shape_in;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      ST_CHECK(infer < 0, "reshape: more than one -1 in ", shape_in);
      infer = static_cast<int>(i);
    } else {
      ST_CHECK(s[i] >= 0, "reshape: negative size in ", shape_in);
      known *= s[i];
    }
  }
  if (infer >= 0) {
    ST_CHECK(known > 0 && numel() % known == 0, "reshape: cannot reshape ", shape(), " into ",
             shape_in);
    s[infer] = numel() / known;
  }
  ST_CHECK(numel_of(s) == numel(), "reshape: cannot reshape ", shape(), " (", numel(),
           " elements) into ", shape_in);
  if (s == shape()) return *this;
  Tensor src = is_contiguous() ? *this : contiguous();
  Tensor v = make_view(src, s, contiguous_strides(s), src.offset());
  Shape in_shape = shape();
  return record(v, "reshape", {src}, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(in_shape)};
  });
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
  ST_CHECK(static_cast<int>(dims.size()) == dim(), "permute: ", dims.size(),
           " dims given for a tensor of shape ", shape());
  std::vector<int> nd(dims.size());
  std::vector<bool> seen(dims.size(), false);
  Shape s(dims.size());
  Strides st(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    nd[i] = norm_dim(dims[i]);
    ST_CHECK(!seen[nd[i]], "permute: dimension ", dims[i], " repeated for shape ", shape());
    seen[nd[i]] = true;
    s[i] = shape()[nd[i]];
    st[i] = strides()[nd[i]];
  }
  Tensor v = make_view(*this, s, st, offset());
  std::vector<int> inverse(nd.size());
  for (size_t i = 0; i < nd.size(); ++i) inverse[nd[i]] = static_cast<int>(i);
  return record(v, "permute", {*this}, [inverse](const Tensor& g) {
    return std::vector<Tensor>{g.permute(inverse)};
  });
}

Tensor Tensor::transpose(int a, int b) const {
  std::vector<int> dims(dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[norm_dim(a)], dims[norm_dim(b)]);
  return permute(dims);
}

Tensor Tensor::narrow(int d, int64_t start, int64_t length) const {
  int nd = norm_dim(d);
  ST_CHECK(start >= 0 && length >= 0 && start + length <= shape()[nd], "narrow: range [", start,
           ", ", start + length, ") is outside dimension ", d, " of shape ", shape());
  Shape s = shape();
  s[nd] = length;
  Tensor v = make_view(*this, s, strides(), offset() + start * strides()[nd]);
  Shape in_shape = shape();
  return record(v, "narrow", {*this}, [in_shape, nd, start, length](const Tensor& g) {
    Tensor full = Tensor::zeros(in_shape, g.dtype(), g.device());
    copy_into(full.narrow(nd, start, length), g);
    return std::vector<Tensor>{full};
  });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), dtype(), device());
  copy_into(out, *this);
  return record(out, "clone", {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor out = Tensor::empty(shape(), t, device());
  copy_into(out, *this);
  if (!is_floating(t)) return out;
  DType from = dtype();
  return record(out, "to_dtype", {*this}, [from](const Tensor& g) {
    return std::vector<Tensor>{g.to(from)};
  });
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = Tensor::empty(shape(), dtype(), d);
  copy_into(out, *this);
  Device from = device();
  return record(out, "to_device", {*this}, [from](const Tensor& g) {
    return std::vector<Tensor>{g.to(from)};
  });
}

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  ST_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& first = xs[0];
  int nd = first.norm_dim(dim);
  Shape out_shape = first.shape();
  out_shape[nd] = 0;
  for (const Tensor& x : xs) {
    detail::check_same("concat", first, x);
    ST_CHECK(x.dim() == first.dim(), "concat: ranks differ: ", first.shape(), " and ", x.shape());
    for (int i = 0; i < x.dim(); ++i)
      ST_CHECK(i == nd || x.shape()[i] == first.shape()[i], "concat: shapes ", first.shape(),
               " and ", x.shape(), " differ outside dimension ", dim);
    out_shape[nd] += x.shape()[nd];
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  std::vector<int64_t> sizes;
  int64_t at = 0;
  for (const Tensor& x : xs) {
    if (x.numel() > 0) copy_into(out.narrow(nd, at, x.size(nd)), x.detach());
    sizes.push_back(x.size(nd));
    at += x.size(nd);
  }
  return record(out, "concat", xs, [sizes, nd](const Tensor& g) {
    std::vector<Tensor> grads;
    int64_t pos = 0;
    for (int64_t s : sizes) {
      grads.push_back(g.narrow(nd, pos, s));
      pos += s;
    }
    return grads;
  });
}

Tensor triangle_ones(int64_t n, Triangle which, DType dtype, Device device) {
  ST_CHECK(n >= 0, "triangle_ones: negative size ", n);
  std::vector<double> m(static_cast<size_t>(n) * static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) m[i * n + j] = (which == Triangle::Lower ? j <= i : j > i) ? 1.0 : 0.0;
  return Tensor::from_vector(m, {n, n}).to(dtype).to(device);
}

}  // namespace st
