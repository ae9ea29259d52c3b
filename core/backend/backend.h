// Backend: the kernel-level interface that every device implements (CPU always; CUDA when
// built). Ops in core/ops validate shapes, allocate outputs and call these kernels; a kernel
// never allocates tensors the caller can see. Unless noted, tensor arguments are contiguous,
// on this backend's device, and of one floating dtype (f32 or f64; bf16 where a kernel says).
// Every kernel writes its outputs (=) unless the comment says it accumulates (+=).
#pragma once
#include <cstddef>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "core/math/adamw.h"
#include "core/math/philox.h"
#include "core/tensor/allocator.h"
#include "core/tensor/tensor.h"
#include "core/math/attention_scale.h"

namespace st {

enum class UnaryOp : uint8_t { GeluTanh, GeluErf, Relu, Tanh, Exp, Log, EluPlusOne };
// The derivative of UnaryOp; the first argument is the op's input x, except TanhFromY and
// ExpFromY, which take its output y.
enum class UnaryGradOp : uint8_t { GeluTanh, GeluErf, Relu, TanhFromY, ExpFromY, Log, EluPlusOne };
enum class BinaryOp : uint8_t { Add, Sub, Mul, Div };
enum class SoftmaxKind : uint8_t { Softmax, LogSoftmax };
enum class CompareOp : uint8_t { Equal, NotEqual };

// Up to kMaxDims strided dimensions, passed by value into kernels.
constexpr int kMaxDims = 8;
struct StridedLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};  // elements; 0 on broadcast dimensions
};

// C = alpha * op(A) @ op(B) + beta * C for `batch` matrices, row-major: A is (m, k) or, with
// trans_a, stored (k, m); lda is the distance between rows as stored. stride_* separate batch
// items (0 = the same matrix for every batch item). A, B and C share `dtype`, except that bf16
// operands may write an f32 C (c_f32): bf16 products with f32 accumulation and f32 output,
// the matrix product of mixed precision.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  double alpha = 1.0, beta = 0.0;
  const void* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const void* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  void* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  int64_t batch = 1;
  DType dtype = DType::F32;  // of A and B (and of C unless c_f32)
  bool c_f32 = false;        // only with dtype bf16: C is f32
};

// The dropout random stream of a tensor that is a block [offset, offset + shape) of a larger
// "global" tensor (e.g. one rank's slice of the sequence): element (i_0..i_k) draws the random
// number of global index sum_d (i_d + offset_d) * global_stride_d. Identity when ndim == 0.
struct GlobalIndexMap {
  int ndim = 0;
  int64_t offset[kMaxDims] = {};
  int64_t global_strides[kMaxDims] = {};
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // ---- memory --------------------------------------------------------------------------
  virtual void fill(const Tensor& dst, double value) = 0;  // any dtype
  // dst = src elementwise (equal shapes, arbitrary strides, any dtype conversion).
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  // Contiguous bytes between host memory and this device (plain memcpy on CPU).
  virtual void copy_from_host(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() = 0;

  // ---- elementwise -----------------------------------------------------------------------
  virtual void unary(UnaryOp op, const Tensor& x, const Tensor& y) = 0;
  virtual void unary_grad(UnaryGradOp op, const Tensor& x_or_y, const Tensor& dy,
                          const Tensor& dx) = 0;
  virtual void affine(const Tensor& x, double alpha, double beta, const Tensor& y) = 0;  // y = a x + b
  // out = a (op) b. out contiguous; a and b are strided views of out's shape (0 strides on
  // broadcast dimensions), same dtype.
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // out = mask != 0 ? value : x. mask: i32 or x's dtype, a strided view of x's shape.
  virtual void masked_fill(const Tensor& x, const Tensor& mask, double value,
                           const Tensor& out) = 0;
  // dst += src (equal numel).
  virtual void accumulate(const Tensor& dst, const Tensor& src) = 0;

  // ---- reductions (fixed summation order, independent of thread count) ------------------
  // out(o, i) = sum_r x(o, r, i) with x viewed as (outer, r, inner).
  virtual void sum_axis(const Tensor& x, int64_t outer, int64_t r, int64_t inner,
                        const Tensor& out) = 0;
  // out(o, i, j) = sum of x(o, k, j) over k <= i (inclusive) or k < i (exclusive); with
  // `reverse` over k >= i or k > i. x and out contiguous, viewed as (outer, r, inner); each
  // (o, j) is summed in index order in double.
  virtual void cumsum_axis(const Tensor& x, int64_t outer, int64_t r, int64_t inner,
                           bool exclusive, bool reverse, const Tensor& out) = 0;

  // ---- matrix products -------------------------------------------------------------------
  virtual void gemm(const GemmArgs& args) = 0;

  // ---- fused row kernels on (R, C) -------------------------------------------------------
  // y = LayerNorm(x) * w + b; mean, rstd: (R) saved for backward. xhat: undefined, or a bf16
  // tensor of x's shape (x f32) that also receives x̂ = (x - mean) * rstd, as backward may read it.
  virtual void layer_norm_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                                  double eps, const Tensor& y, const Tensor& mean,
                                  const Tensor& rstd, const Tensor& xhat) = 0;
  // dx = (written); dw, db = (written) sums over rows. x: the input (dy's dtype), or its x̂ in
  // bf16 (dy f32), as layer_norm_forward wrote it; then `mean` is not read.
  virtual void layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean,
                                   const Tensor& rstd, const Tensor& dy, const Tensor& dx,
                                   const Tensor& dw, const Tensor& db) = 0;
  // A row that is entirely -inf (fully masked) gives softmax 0 and log-softmax -inf.
  virtual void softmax_forward(SoftmaxKind kind, const Tensor& x, const Tensor& y) = 0;
  virtual void softmax_backward(SoftmaxKind kind, const Tensor& y, const Tensor& dy,
                                const Tensor& dx) = 0;
  // loss (R) = per-row smoothed cross-entropy (0 where label == ignore_index); lse (R) saved.
  virtual void cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                     int32_t ignore_index, double smoothing, const Tensor& loss,
                                     const Tensor& lse) = 0;
  // dlogits (R, C) = (softmax - q) * dloss(row); zero rows where label == ignore_index.
  virtual void cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                      const Tensor& lse, const Tensor& dloss,
                                      int32_t ignore_index, double smoothing,
                                      const Tensor& dlogits) = 0;

  // ---- embedding -------------------------------------------------------------------------
  // out (T, D) = table[ids] (ids: i32 (T), already range-checked by the op).
  virtual void embedding_forward(const Tensor& table, const Tensor& ids, const Tensor& out) = 0;
  // dtable (V, D) += scatter of dout rows by ids, in token order (deterministic).
  virtual void embedding_backward(const Tensor& ids, const Tensor& dout,
                                  const Tensor& dtable) = 0;
  // Index of the first id outside [0, rows), or -1 when all are valid.
  virtual int64_t find_out_of_range(const Tensor& ids, int64_t rows) = 0;

  // out[i] = attention_scale(mode, n[i], head_dim) (core/math/attention_scale.h) (=); n f64,
  // out f32 or f64, contiguous, same numel.
  virtual void attention_scale(const Tensor& n, ScaleMode mode, double head_dim, const Tensor& out) = 0;

  // ---- labels and ids (core/math/labels.h) ---------------------------------------------------
  // Range check of ids or labels: an element of the i32 tensor x (contiguous) outside [lo, hi)
  // that is not `allowed` (kNoneAllowed: none is) is an error, reported as
  // "<what> <value> <where> <position><rest>" for the first such element. The CPU checks at
  // once and throws. CUDA checks on the device without waiting and throws at the next host read
  // (the training step's one synchronisation point); its kernels meanwhile treat such elements
  // as absent (embedding rows of zeros, labels ignored), so nothing is read out of bounds.
  struct RangeCheck {
    std::string what, where, rest;  // e.g. "embedding: id", "at flat position", " of ids ..."
  };
  static constexpr int64_t kNoneAllowed = INT64_MIN;
  virtual void check_range(const Tensor& x, int64_t lo, int64_t hi, int64_t allowed, const RangeCheck& msg) = 0;

  // out = (x op value) ? 1 : 0 (=), elementwise; x i32 and out (f32, f64 or i32) contiguous, same numel.
  virtual void compare_scalar(CompareOp op, const Tensor& x, int32_t value, const Tensor& out) = 0;
  // out[r] = 1 where labels[r] != ignore and the first largest logit of row r is at labels[r],
  // else 0 (=). logits (R, C) f32/f64 contiguous, C > 0; labels i32 (R); out f64 (R).
  virtual void argmax_hit_rows(const Tensor& logits, const Tensor& labels, int32_t ignore,
                               const Tensor& out) = 0;

  // ---- optimizer -----------------------------------------------------------------------
  // One AdamW step on f32 tensors of equal numel: p, m, v updated in place, g read.
  virtual void adamw_update(const Tensor& p, const Tensor& m, const Tensor& v, const Tensor& g,
                            const AdamWStep& step) = 0;

  // ---- dropout ---------------------------------------------------------------------------
  // y = keep ? x / (1 - p) : 0, keep = philox_uniform(key, global index) >= p.
  virtual void dropout(const Tensor& x, float p, const RngKey& key, const GlobalIndexMap& map,
                       const Tensor& y) = 0;
  // Seeded fill: normal (mean 0, stddev) or uniform [lo, hi), element i from philox(key, i).
  virtual void fill_random_normal(const Tensor& dst, const RngKey& key, double stddev) = 0;
  virtual void fill_random_uniform(const Tensor& dst, const RngKey& key, double lo,
                                   double hi) = 0;

  // ---- fused kernels (math in core/math/fused.h) ------------------------------------------
  // y (R, C) = act(h + b) with b (C) added to every row; act: GeluTanh, GeluErf or Relu.
  virtual void bias_act_forward(UnaryOp act, const Tensor& h, const Tensor& b,
                                const Tensor& y) = 0;
  // dh (R, C) = act'(h + b) * dy (written); db (C) = sum over rows of dh (written), summed in
  // a fixed blocking (no atomics), so the result depends only on the shapes. h may be bf16
  // where dy is f32 (an activation stored in bf16: core/ops/op_util.h); it is widened exactly.
  virtual void bias_act_backward(UnaryOp act, const Tensor& h, const Tensor& b, const Tensor& dy,
                                 const Tensor& dh, const Tensor& db) = 0;
  // out = residual + dropout(x): exactly the elements dropout() keeps for (key, map), each
  // kept x scaled by 1 / (1 - p). x, residual, out: one shape, contiguous.
  virtual void dropout_add(const Tensor& x, const Tensor& residual, float p, const RngKey& key,
                           const GlobalIndexMap& map, const Tensor& out) = 0;

  // ---- multi-tensor kernels (one launch for a whole list on CUDA) -------------------------
  // AdamW on every entry (f32, contiguous, p, m, v, g of equal numel; p, m, v in place), each
  // with its own step (learning rate, weight decay). Same results as adamw_update per entry.
  struct AdamWTensor {
    Tensor p, m, v, g;
    AdamWStep step;
  };
  virtual void adamw_update_many(const std::vector<AdamWTensor>& list) = 0;
  // Sum over the list, in order and in double, of each tensor's sum of squares: the squares
  // rounded to the tensor's dtype, summed in double in fixed blocks, that sum rounded to the
  // dtype. On CPU the blocks are sum_all's, so the result is bitwise sum_all(mul(x, x)); on
  // CUDA the blocking differs (deterministic, equal up to rounding). Contiguous tensors of one
  // floating dtype. Written into out, a () f64 tensor on this device (=); nothing is read back.
  virtual void sum_of_squares_into(const std::vector<Tensor>& xs, const Tensor& out) = 0;
  // The same, read back (one host read).
  double sum_of_squares(const std::vector<Tensor>& xs);
  // x *= alpha in place for every x of the list (contiguous, one floating dtype).
  virtual void scale_many(const std::vector<Tensor>& xs, double alpha) = 0;
};

Backend& cpu_backend();
Backend& backend_for(Device d);

// CUDA: defined in backend/cuda when the build has CUDA, otherwise by backend/no_cuda.cpp
// (which reports that this build has no CUDA support).
bool cuda_built();
// 0 when not built or no GPU is visible; throws when the machine has NVIDIA device files but CUDA
// fails (a broken driver), naming the error and the versions.
int cuda_device_count();
int64_t cuda_device_memory(int index);  // total bytes of device memory; 0 when not built or unknown
// Named ranges for profilers: NVTX ranges (Nsight Systems) on a CUDA build, nothing otherwise.
// Every push is matched by a pop on the same thread.
void profiler_range_push(const char* name);
void profiler_range_pop();
Backend& cuda_backend(int index);
Allocator& cuda_allocator(int index);

// Thread count used by CPU kernels (OpenMP) and BLAS. Results do not depend on it.
void set_num_threads(int n);
int num_threads();
// The CPU's matrix-product library and the kernels it chose for this CPU at run time, e.g.
// "OpenBLAS 0.3.21 (SkylakeX kernels)". OPENBLAS_CORETYPE=Haswell forces its AVX2 kernels.
std::string cpu_blas_description();

// Helpers shared by kernels of both backends.
StridedLayout layout_of(const Tensor& t);
GlobalIndexMap identity_index_map();

}  // namespace st
