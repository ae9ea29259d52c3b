// Tensor factories, metadata and host access. Differentiable views and conversions (reshape,
// permute, narrow, contiguous, clone, to) are in core/ops/shape_ops.cpp.
#include "core/tensor/tensor.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/backend/backend.h"
#include "core/tensor/checked.h"
#include "core/tensor/host_reads.h"

namespace st {

namespace {
Tensor allocate(const Shape& shape, DType dtype, Device dev) {
  // Shapes may come from files and configs: every size is checked before anything is allocated.
  // The product of the non-zero sizes bounds every stride too (an empty tensor has strides).
  int64_t n = 1, span = 1;
  for (int64_t d : shape) {
    ST_CHECK(d >= 0, "tensor: negative size in shape ", shape);
    span = checked_mul(span, std::max<int64_t>(d, 1), "tensor: number of elements");
    n *= d;  // <= span
  }
  auto bytes = static_cast<size_t>(checked_mul(n, static_cast<int64_t>(dtype_size(dtype)), "tensor: bytes"));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(bytes, allocator_for(dev));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device dev) {
  return allocate(shape, dtype, dev);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device dev) {
  return full(shape, 0.0, dtype, dev);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device dev) {
  return full(shape, 1.0, dtype, dev);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device dev) {
  Tensor t = allocate(shape, dtype, dev);
  if (t.numel() > 0) backend_for(dev).fill(t, value);
  return t;
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  ST_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "from_vector: ",
           values.size(), " values do not fill shape ", shape);
  Tensor t = allocate(shape, dtype_of<T>::value, Device::cpu());
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}
template Tensor Tensor::from_vector(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<double>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<bf16>&, const Shape&);

Tensor Tensor::randn(const Shape& shape, uint64_t seed, double stddev, DType dtype, Device dev) {
  Tensor t = allocate(shape, dtype, dev);
  if (t.numel() > 0) backend_for(dev).fill_random_normal(t, RngKey{seed, 0x6e6f726du, 0}, stddev);
  return t;
}

Tensor Tensor::uniform(const Shape& shape, uint64_t seed, double lo, double hi, DType dtype,
                       Device dev) {
  Tensor t = allocate(shape, dtype, dev);
  if (t.numel() > 0) backend_for(dev).fill_random_uniform(t, RngKey{seed, 0x756e6966u, 0}, lo, hi);
  return t;
}

int Tensor::norm_dim(int d) const {
  int n = dim();
  int r = d < 0 ? d + n : d;
  ST_CHECK(r >= 0 && r < n, "dimension ", d, " is out of range for a tensor of shape ", shape());
  return r;
}

bool Tensor::is_contiguous() const {
  const auto& s = shape();
  const auto& st = strides();
  int64_t expected = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (s[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= s[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  auto& im = impl();
  if (!im.storage || !im.storage->data()) return nullptr;
  return static_cast<char*>(im.storage->data()) + im.offset * dtype_size(im.dtype);
}

template <class T>
T* Tensor::data() const {
  ST_CHECK(dtype() == dtype_of<T>::value, "data<", dtype_name(dtype_of<T>::value),
           ">: tensor has dtype ", dtype());
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int32_t* Tensor::data<int32_t>() const;
template bf16* Tensor::data<bf16>() const;

Tensor make_view(const Tensor& t, const Shape& shape, const Strides& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.impl().storage;
  impl->offset = offset;
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = t.dtype();
  return Tensor(std::move(impl));
}

void copy_into(const Tensor& dst, const Tensor& src) {
  ST_CHECK(dst.shape() == src.shape(), "copy: shapes differ: ", dst.shape(), " <- ", src.shape());
  if (dst.numel() == 0) return;
  if (dst.device() == src.device()) {
    backend_for(dst.device()).copy(dst, src);
    return;
  }
  // Between two GPUs: through the host (the copies below move bytes between the host and one
  // device only).
  if (!dst.device().is_cpu() && !src.device().is_cpu()) {
    Tensor host = Tensor::empty(src.shape(), src.dtype(), Device::cpu());
    copy_into(host, src);
    copy_into(dst, host);
    return;
  }
  // Across devices: contiguous bytes of one dtype, converted on the destination device.
  Tensor s = src.contiguous();
  Tensor staging = dst.is_contiguous() && dst.dtype() == s.dtype()
                       ? dst
                       : Tensor::empty(dst.shape(), s.dtype(), dst.device());
  size_t bytes = static_cast<size_t>(s.numel()) * dtype_size(s.dtype());
  if (src.device().is_cpu()) {
    backend_for(dst.device()).copy_from_host(staging.raw_data(), s.raw_data(), bytes);
  } else {
    if (dst.device().is_cpu()) note_host_read();  // the host waits for the device's data
    backend_for(src.device()).copy_to_host(staging.raw_data(), s.raw_data(), bytes);
  }
  if (!staging.same_storage(dst)) backend_for(dst.device()).copy(dst, staging);
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  // A host read (host_reads.h): counted here for CPU tensors, by copy_into for device tensors.
  if (device().is_cpu()) note_host_read();
  Tensor host = Tensor::empty(shape(), dtype_of<T>::value, Device::cpu());
  copy_into(host, detach());
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}
template std::vector<float> Tensor::to_vector() const;
template std::vector<double> Tensor::to_vector() const;
template std::vector<int32_t> Tensor::to_vector() const;

double Tensor::item() const {
  ST_CHECK(numel() == 1, "item: tensor of shape ", shape(), " has ", numel(),
           " elements, not one");
  return to_vector<double>()[0];
}

std::string Tensor::str(int max_elements) const {
  std::ostringstream os;
  os << "Tensor" << shape() << " " << dtype() << " " << device().str();
  if (defined() && numel() > 0) {
    auto v = to_vector<double>();
    os << " [";
    for (int64_t i = 0; i < std::min<int64_t>(numel(), max_elements); ++i)
      os << (i ? ", " : "") << std::setprecision(6) << v[i];
    if (numel() > max_elements) os << ", ...";
    os << "]";
  }
  return os.str();
}

}  // namespace st
