// Tensor: a handle (shared_ptr) to a strided view of a Storage, plus optional autograd state.
// Sizes and strides count elements; offset is in elements from the storage start. Views
// (reshape of contiguous data, permute, transpose, narrow) share storage and never copy.
// Copying a Tensor copies the handle, not the data (clone() copies the data).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor/dtype.h"
#include "core/tensor/error.h"
#include "core/tensor/shape.h"
#include "core/tensor/storage.h"
#include "core/tensor/host_reads.h"  // host_read_count, host_values: part of the tensor API

namespace st {

struct AutogradMeta;  // core/autograd/autograd.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;
  Shape shape;
  Strides strides;
  DType dtype = DType::F32;
  std::shared_ptr<AutogradMeta> autograd;  // null until autograd is involved
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories -------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device dev = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device dev = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device dev = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32,
                     Device dev = Device::cpu());
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  static Tensor scalar(double value, DType dtype = DType::F32) { return full({}, value, dtype); }
  // Seeded standard normal * stddev / uniform in [lo, hi): pure functions of (seed, index).
  static Tensor randn(const Shape& shape, uint64_t seed, double stddev = 1.0,
                      DType dtype = DType::F32, Device dev = Device::cpu());
  static Tensor uniform(const Shape& shape, uint64_t seed, double lo, double hi,
                        DType dtype = DType::F32, Device dev = Device::cpu());

  // ---- metadata --------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Strides& strides() const { return impl().strides; }
  int dim() const { return static_cast<int>(impl().shape.size()); }
  int64_t size(int d) const { return impl().shape[norm_dim(d)]; }
  int64_t stride(int d) const { return impl().strides[norm_dim(d)]; }
  int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage ? impl().storage->device() : Device::cpu(); }
  int64_t offset() const { return impl().offset; }
  bool is_contiguous() const;
  bool same_storage(const Tensor& o) const { return impl().storage == o.impl().storage; }
  int norm_dim(int d) const;  // negative dims count from the end; throws when out of range

  void* raw_data() const;  // address of element 0 of this view
  template <class T> T* data() const;

  // ---- views and copies (differentiable; see core/ops) -----------------------------------
  Tensor reshape(const Shape& shape) const;     // -1 allowed once; copies only if not viewable
  Tensor permute(const std::vector<int>& dims) const;
  Tensor transpose(int a, int b) const;
  Tensor narrow(int dim, int64_t start, int64_t length) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device dev) const;

  // ---- host access (copies to CPU as needed) ---------------------------------------------
  template <class T> std::vector<T> to_vector() const;
  double item() const;
  std::string str(int max_elements = 16) const;

  // ---- autograd --------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool value);  // leaves only
  bool is_leaf() const;
  Tensor grad() const;  // undefined until a backward pass reaches this leaf
  void zero_grad();     // drops the accumulated gradient
  void set_grad(const Tensor& g);
  // Backward from this tensor: scalar without `grad`, or any shape with a gradient of its shape.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // same storage, no autograd history
  // Fires once per backward pass when this leaf's gradient is final (after accumulation).
  void register_grad_ready_hook(std::function<void(const Tensor& grad)> hook);

  TensorImpl& impl() const {
    ST_CHECK(impl_, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A view onto t's storage with the given geometry (no autograd history).
Tensor make_view(const Tensor& t, const Shape& shape, const Strides& strides, int64_t offset);

// Strided copy src -> dst of equal shapes (any dtypes, same device; or across devices when
// both are contiguous). Not recorded by autograd.
void copy_into(const Tensor& dst, const Tensor& src);

}  // namespace st
