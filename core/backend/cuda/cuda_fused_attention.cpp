// cuDNN fused softmax attention (flash attention of cuDNN 9) through the cudnn-frontend graph
// API: one sdpa graph for the forward pass and one sdpa_backward graph per shape, strides and
// flags, built on first use and cached per device (a map under the device's mutex; a graph cuDNN
// refuses is cached as refused, with the reason), executed on the backend's stream with a
// workspace from its stream-ordered allocator. Each device has its own cuDNN handle bound to its
// backend stream. Tensors: bf16 Q, K, V, O, dO, dQ, dK, dV (B, H, N, d_h) with a contiguous last
// dimension, f32 stats (B, H, Nq, 1), and for masked keys either a bf16 bias (B, 1, Nq, Nk) or
// i32 sequence lengths (B, 1, 1, 1) (cuDNN's padding mask); every output is written (=) except,
// with sequence lengths, the rows of dK and dV past each length (cuDNN computes only the rows
// below it; the caller zeroes those buffers). The only file that includes cudnn_frontend.h.
#include <cudnn_frontend.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "core/backend/cuda/cuda_backend.h"
#include "core/backend/cuda/cuda_fused_attention.h"
#include "core/backend/fused_attention.h"

namespace st {

namespace fe = cudnn_frontend;
using cuda::AttentionGraphKey;
using cuda::AttentionPass;

namespace cuda {

std::string AttentionGraphKey::str() const {
  std::ostringstream os;
  float scale = 0;
  std::memcpy(&scale, &scale_bits, sizeof scale);
  os << (pass == AttentionPass::Forward ? "forward" : "backward") << " B " << b << " H " << h
     << " Nq " << nq << " Nk " << nk << " d_h " << dh << (causal ? " causal" : "")
     << (has_bias ? " key bias" : "") << (padding ? " key lengths" : "")
     << (pass == AttentionPass::Backward ? (deterministic ? " deterministic" : " atomic dQ") : "")
     << " scale " << scale;
  return os.str();
}

void throw_cudnn_error(cudnnStatus_t status, const char* expr, const char* file, int line) {
  int dev = -1;
  if (cudaGetDevice(&dev) != cudaSuccess) dev = -1;
  ST_THROW("cuDNN error in ", expr, " at ", file, ":", line, " on cuda:", dev, ": ",
           cudnnGetErrorString(status));
}

}  // namespace cuda

namespace {

constexpr int kMaxDevices = 64;
// Tensor uids in the variant packs.
enum Uid : int64_t { kQ = 1, kK, kV, kO, kStats, kBias, kDO, kDQ, kDK, kDV, kSeqLenQ, kSeqLenKV };

using GraphPtr = std::shared_ptr<fe::graph::Graph>;
using TensorAttr = std::shared_ptr<fe::graph::Tensor_attributes>;

// One per device, created on first use and never destroyed (tensors released during static
// destruction may still run on the stream, like the backends themselves).
struct DeviceAttention {
  explicit DeviceAttention(int index) : backend(static_cast<CudaBackend&>(cuda_backend(index))) {
    cuda::DeviceGuard guard(index);
    ST_CUDNN_CHECK(cudnnCreate(&handle));
    ST_CUDNN_CHECK(cudnnSetStream(handle, backend.stream()));
  }
  CudaBackend& backend;
  cudnnHandle_t handle = nullptr;
  std::mutex mutex;  // guards graphs, refused and the use of handle
  std::map<AttentionGraphKey, GraphPtr> graphs;
  std::map<AttentionGraphKey, std::string> refused;  // why cuDNN refused the graph of a key
  std::map<std::array<int64_t, 4>, std::string> refused_for_testing;  // by q's shape
};

// The frontend reads CUDNN_FRONTEND_ATTN_DP_WORKSPACE_LIMIT when it lowers a backward graph: with
// cuDNN 9.25 or newer on Hopper, a deterministic backward whose dP workspace would exceed the
// limit uses the ordered-dQ kernel instead, whose workspace is O(N). 0 asks for that always. Set
// while the program starts (one thread, so no getenv races with it), unless the user set it.
constexpr const char* kDpWorkspaceLimit = "CUDNN_FRONTEND_ATTN_DP_WORKSPACE_LIMIT";
[[maybe_unused]] const bool kLinearWorkspaceRequested = ::setenv(kDpWorkspaceLimit, "0", /*overwrite=*/0) == 0;

DeviceAttention& device_attention(int index) {
  static std::atomic<DeviceAttention*> states[kMaxDevices];
  static std::mutex create_mutex;
  ST_CHECK(index >= 0 && index < kMaxDevices, "fused attention: cuda:", index,
           " is outside the supported ", kMaxDevices, " devices");
  DeviceAttention* s = states[index].load(std::memory_order_acquire);
  if (s) return *s;
  std::lock_guard<std::mutex> lock(create_mutex);
  s = states[index].load(std::memory_order_relaxed);
  if (!s) {
    s = new DeviceAttention(index);
    states[index].store(s, std::memory_order_release);
  }
  return *s;
}

void check_fe(fe::error_t status, const char* step, const AttentionGraphKey& key) {
  if (status.is_good()) return;
  throw FusedAttentionRejected(::st::detail::concat("fused attention: cuDNN ", step, " failed for ", key.str(),
                                                   ": ", status.get_message()));
}

std::array<int64_t, 4> strides4(const Tensor& t) {
  return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

TensorAttr make_tensor(fe::graph::Graph& g, const char* name, Uid uid, std::vector<int64_t> dims,
                       const std::array<int64_t, 4>& strides, fe::DataType_t type) {
  return g.tensor(fe::graph::Tensor_attributes()
                      .set_name(name)
                      .set_uid(uid)
                      .set_dim(dims)
                      .set_stride({strides[0], strides[1], strides[2], strides[3]})
                      .set_data_type(type));
}

void set_output(const TensorAttr& t, Uid uid, std::vector<int64_t> dims,
                const std::array<int64_t, 4>& strides, fe::DataType_t type) {
  t->set_output(true)
      .set_uid(uid)
      .set_dim(dims)
      .set_stride({strides[0], strides[1], strides[2], strides[3]})
      .set_data_type(type);
}

std::array<int64_t, 4> stats_strides(const AttentionGraphKey& k) {
  return {k.h * k.nq, k.nq, 1, 1};
}
std::array<int64_t, 4> bias_strides(const AttentionGraphKey& k) {
  return {k.nq * k.nk, k.nq * k.nk, k.nk, 1};
}

TensorAttr make_seq_len(fe::graph::Graph& g, const char* name, Uid uid, int64_t b) {
  return make_tensor(g, name, uid, {b, 1, 1, 1}, {1, 1, 1, 1}, fe::DataType_t::INT32);
}

GraphPtr new_graph() {
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(fe::DataType_t::BFLOAT16)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  return g;
}

float scale_of(const AttentionGraphKey& k) {
  float s = 0;
  std::memcpy(&s, &k.scale_bits, sizeof s);
  return s;
}

// Validates the graph, lowers it and builds the heuristics' first supported plan.
void finish_graph(fe::graph::Graph& g, cudnnHandle_t handle, const AttentionGraphKey& key) {
  check_fe(g.validate(), "graph validation", key);
  check_fe(g.build_operation_graph(handle), "operation graph", key);
  check_fe(g.create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK}),
           "execution plans", key);
  check_fe(g.check_support(handle), "support check", key);
  check_fe(g.build_plans(fe::BuildPlanPolicy_t::HEURISTICS_CHOICE), "plan build", key);
}

GraphPtr build_forward(const AttentionGraphKey& k, cudnnHandle_t handle) {
  GraphPtr g = new_graph();
  const auto bf16 = fe::DataType_t::BFLOAT16;
  TensorAttr q = make_tensor(*g, "Q", kQ, {k.b, k.h, k.nq, k.dh}, k.q_strides, bf16);
  TensorAttr kk = make_tensor(*g, "K", kK, {k.b, k.h, k.nk, k.dh}, k.k_strides, bf16);
  TensorAttr v = make_tensor(*g, "V", kV, {k.b, k.h, k.nk, k.dh}, k.v_strides, bf16);
  auto options = fe::graph::SDPA_attributes()
                     .set_name("softmax_attention")
                     .set_generate_stats(true)
                     .set_attn_scale(scale_of(k));
  if (k.causal)
    options.set_diagonal_alignment(fe::DiagonalAlignment_t::TOP_LEFT)
        .set_diagonal_band_right_bound(0);
  if (k.has_bias)
    options.set_bias(make_tensor(*g, "key_bias", kBias, {k.b, 1, k.nq, k.nk}, bias_strides(k), bf16));
  if (k.padding)
    options.set_padding_mask(true)
        .set_seq_len_q(make_seq_len(*g, "seq_len_q", kSeqLenQ, k.b))
        .set_seq_len_kv(make_seq_len(*g, "seq_len_kv", kSeqLenKV, k.b));
  auto [o, stats] = g->sdpa(q, kk, v, options);
  set_output(o, kO, {k.b, k.h, k.nq, k.dh}, k.o_strides, bf16);
  set_output(stats, kStats, {k.b, k.h, k.nq, 1}, stats_strides(k), fe::DataType_t::FLOAT);
  finish_graph(*g, handle, k);
  return g;
}

GraphPtr build_backward(const AttentionGraphKey& k, cudnnHandle_t handle) {
  GraphPtr g = new_graph();
  const auto bf16 = fe::DataType_t::BFLOAT16;
  TensorAttr q = make_tensor(*g, "Q", kQ, {k.b, k.h, k.nq, k.dh}, k.q_strides, bf16);
  TensorAttr kk = make_tensor(*g, "K", kK, {k.b, k.h, k.nk, k.dh}, k.k_strides, bf16);
  TensorAttr v = make_tensor(*g, "V", kV, {k.b, k.h, k.nk, k.dh}, k.v_strides, bf16);
  TensorAttr o = make_tensor(*g, "O", kO, {k.b, k.h, k.nq, k.dh}, k.o_strides, bf16);
  TensorAttr d_o = make_tensor(*g, "dO", kDO, {k.b, k.h, k.nq, k.dh}, k.o_strides, bf16);
  TensorAttr stats = make_tensor(*g, "stats", kStats, {k.b, k.h, k.nq, 1}, stats_strides(k),
                                 fe::DataType_t::FLOAT);
  auto options = fe::graph::SDPA_backward_attributes()
                     .set_name("softmax_attention_backward")
                     .set_attn_scale(scale_of(k))
                     // Ordered dQ accumulation, no atomics. With cuDNN before 9.25 on Hopper the
                     // frontend then picks its dP-workspace kernel: B H Nq Nk bf16 of workspace.
                     .set_deterministic_algorithm(k.deterministic);
  if (k.causal)
    options.set_diagonal_alignment(fe::DiagonalAlignment_t::TOP_LEFT)
        .set_diagonal_band_right_bound(0);
  if (k.has_bias)
    options.set_bias(make_tensor(*g, "key_bias", kBias, {k.b, 1, k.nq, k.nk}, bias_strides(k), bf16));
  if (k.padding)
    options.set_padding_mask(true)
        .set_seq_len_q(make_seq_len(*g, "seq_len_q", kSeqLenQ, k.b))
        .set_seq_len_kv(make_seq_len(*g, "seq_len_kv", kSeqLenKV, k.b));
  auto [dq, dk, dv] = g->sdpa_backward(q, kk, v, o, d_o, stats, options);
  set_output(dq, kDQ, {k.b, k.h, k.nq, k.dh}, k.q_strides, bf16);
  set_output(dk, kDK, {k.b, k.h, k.nk, k.dh}, k.k_strides, bf16);
  set_output(dv, kDV, {k.b, k.h, k.nk, k.dh}, k.v_strides, bf16);
  finish_graph(*g, handle, k);
  return g;
}

void check_operand(const char* pass, const char* name, const Tensor& t, const Shape& shape,
                   DType dtype, Device dev) {
  ST_CHECK(t.defined(), "fused attention ", pass, ": ", name, " is undefined");
  ST_CHECK(t.shape() == shape, "fused attention ", pass, ": ", name, " has shape ", t.shape(),
           ", expected ", shape);
  ST_CHECK(t.dtype() == dtype, "fused attention ", pass, ": ", name, " is ", t.dtype(),
           ", expected ", dtype);
  ST_CHECK(t.device() == dev, "fused attention ", pass, ": ", name, " is on ", t.device(),
           ", expected ", dev);
  ST_CHECK(shape.empty() || t.stride(-1) == 1 || shape.back() == 1, "fused attention ", pass,
           ": ", name, " ", t.shape(), " needs a contiguous last dimension (strides ",
           t.strides(), ")");
}

// Checks the arguments and returns the cache key of `pass` for them.
AttentionGraphKey key_for(AttentionPass pass, const FusedAttentionArgs& a, const Tensor& o,
                          const Tensor& stats) {
  const char* name = pass == AttentionPass::Forward ? "forward" : "backward";
  ST_CHECK(a.q.defined() && a.q.dim() == 4, "fused attention ", name,
           ": q must be (B, H, Nq, d_h)");
  ST_CHECK(a.q.device().is_cuda(), "fused attention ", name, ": q is on ", a.q.device(),
           "; the fused attention runs on cuda");
  Device dev = a.q.device();
  AttentionGraphKey k;
  k.pass = pass;
  k.b = a.q.size(0);
  k.h = a.q.size(1);
  k.nq = a.q.size(2);
  k.dh = a.q.size(3);
  ST_CHECK(a.k.defined() && a.k.dim() == 4, "fused attention ", name,
           ": k must be (B, H, Nk, d_h)");
  k.nk = a.k.size(2);
  check_operand(name, "q", a.q, {k.b, k.h, k.nq, k.dh}, DType::BF16, dev);
  check_operand(name, "k", a.k, {k.b, k.h, k.nk, k.dh}, DType::BF16, dev);
  check_operand(name, "v", a.v, {k.b, k.h, k.nk, k.dh}, DType::BF16, dev);
  check_operand(name, "o", o, {k.b, k.h, k.nq, k.dh}, DType::BF16, dev);
  check_operand(name, "stats", stats, {k.b, k.h, k.nq, 1}, DType::F32, dev);
  ST_CHECK(stats.is_contiguous(), "fused attention ", name, ": stats must be contiguous");
  ST_CHECK(k.b > 0 && k.h > 0 && k.nq > 0 && k.nk > 0 && k.dh > 0, "fused attention ", name,
           ": empty shapes are not supported: q ", a.q.shape(), ", k ", a.k.shape());
  ST_CHECK(!a.causal || k.nq == k.nk, "fused attention ", name, ": causal attention needs Nq == Nk, got ",
           k.nq, " and ", k.nk);
  if (a.bias.defined()) {
    check_operand(name, "bias", a.bias, {k.b, 1, k.nq, k.nk}, DType::BF16, dev);
    ST_CHECK(a.bias.is_contiguous(), "fused attention ", name, ": bias must be contiguous");
  }
  ST_CHECK(a.seq_len_q.defined() == a.seq_len_kv.defined(), "fused attention ", name,
           ": seq_len_q and seq_len_kv go together");
  ST_CHECK(!(a.bias.defined() && a.seq_len_kv.defined()), "fused attention ", name,
           ": masked keys come from a bias or from sequence lengths, not both");
  for (const Tensor* t : {&a.seq_len_q, &a.seq_len_kv})
    if (t->defined()) {
      check_operand(name, t == &a.seq_len_q ? "seq_len_q" : "seq_len_kv", *t, {k.b, 1, 1, 1},
                    DType::I32, dev);
      ST_CHECK(t->is_contiguous(), "fused attention ", name, ": sequence lengths must be contiguous");
    }
  k.q_strides = strides4(a.q);
  k.k_strides = strides4(a.k);
  k.v_strides = strides4(a.v);
  k.o_strides = strides4(o);
  k.causal = a.causal;
  k.has_bias = a.bias.defined();
  k.padding = a.seq_len_kv.defined();
  k.deterministic = pass == AttentionPass::Backward && a.deterministic;
  float scale = static_cast<float>(a.scale);
  std::memcpy(&k.scale_bits, &scale, sizeof scale);
  return k;
}

// The cached graph of `key`, built on first use; throws FusedAttentionRejected (and remembers
// the refusal, printing it once) when cuDNN refuses it. Call with d.mutex held.
fe::graph::Graph& graph_for(DeviceAttention& d, const AttentionGraphKey& key) {
  auto refused = d.refused.find(key);
  if (refused != d.refused.end()) throw FusedAttentionRejected(refused->second);
  auto test_refusal = d.refused_for_testing.find({key.b, key.h, key.nq, key.dh});
  if (test_refusal != d.refused_for_testing.end())
    throw FusedAttentionRejected("fused attention: cuDNN refused " + key.str() + ": " + test_refusal->second);
  GraphPtr& g = d.graphs[key];
  if (g) return *g;
  try {
    g = key.pass == AttentionPass::Forward ? build_forward(key, d.handle)
                                           : build_backward(key, d.handle);
  } catch (const FusedAttentionRejected& e) {
    d.graphs.erase(key);
    d.refused.emplace(key, e.what());
    std::fprintf(stderr, "%s; this shape runs the unfused softmax attention\n", e.what());
    throw;
  } catch (...) {
    d.graphs.erase(key);
    throw;
  }
  return *g;
}

// Runs the graph of `key` with the tensors of `pack` on the device's stream, with a workspace
// from the backend's allocator (freed in stream order after it). Failures here are errors, not
// refusals: the graph was supported.
void run_graph(const AttentionGraphKey& key, int index,
               std::unordered_map<int64_t, void*>& pack) {
  DeviceAttention& d = device_attention(index);
  cuda::DeviceGuard guard(index);
  std::lock_guard<std::mutex> lock(d.mutex);
  fe::graph::Graph& g = graph_for(d, key);
  int64_t workspace_bytes = 0;
  fe::error_t size_status = g.get_workspace_size(workspace_bytes);
  ST_CHECK(size_status.is_good(), "fused attention: cuDNN workspace size failed for ", key.str(), ": ",
           size_status.get_message());
  CudaAllocator& alloc = d.backend.allocator();
  void* workspace = nullptr;
  if (workspace_bytes > 0) {
    try {
      workspace = alloc.allocate(static_cast<size_t>(workspace_bytes));
    } catch (const Error& e) {
      ST_THROW("fused attention: ", key.str(), " needs ", workspace_bytes, " bytes of cuDNN workspace",
               key.deterministic ? " (the deterministic backward's dP workspace, B H Nq Nk bf16; "
                                   "train.deterministic: false keeps it O(N) at the price of "
                                   "run-to-run differences in the last bits)"
                                 : "",
               ": ", e.what());
    }
  }
  fe::error_t status = g.execute(d.handle, pack, workspace);
  if (workspace) alloc.deallocate(workspace, static_cast<size_t>(workspace_bytes));
  ST_CHECK(status.is_good(), "fused attention: cuDNN execution failed for ", key.str(), ": ",
           status.get_message());
}

void add_masks(const FusedAttentionArgs& a, std::unordered_map<int64_t, void*>& pack) {
  if (a.bias.defined()) pack[kBias] = a.bias.raw_data();
  if (a.seq_len_kv.defined()) {
    pack[kSeqLenQ] = a.seq_len_q.raw_data();
    pack[kSeqLenKV] = a.seq_len_kv.raw_data();
  }
}

}  // namespace

bool cudnn_fused_attention_built() { return true; }

std::string cuda_fused_attention_device_problem(int device_index) {
  int count = cuda_device_count();
  if (device_index < 0 || device_index >= count)
    return "cuda:" + std::to_string(device_index) + " is not visible (" + std::to_string(count) +
           " CUDA device(s))";
  int major = 0, minor = 0;
  ST_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device_index));
  ST_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device_index));
  if (major < 8)
    return "cuda:" + std::to_string(device_index) + " has compute capability " +
           std::to_string(major) + "." + std::to_string(minor) +
           "; cuDNN fused attention needs 8.0 or newer";
  return "";
}

void cuda_fused_attention_forward(const FusedAttentionArgs& a, const Tensor& o,
                                  const Tensor& stats) {
  AttentionGraphKey key = key_for(AttentionPass::Forward, a, o, stats);
  std::unordered_map<int64_t, void*> pack = {
      {kQ, a.q.raw_data()}, {kK, a.k.raw_data()},  {kV, a.v.raw_data()},
      {kO, o.raw_data()},   {kStats, stats.raw_data()}};
  add_masks(a, pack);
  run_graph(key, a.q.device().index, pack);
}

void cuda_fused_attention_backward(const FusedAttentionArgs& a, const Tensor& o,
                                   const Tensor& d_o, const Tensor& stats, const Tensor& dq,
                                   const Tensor& dk, const Tensor& dv) {
  AttentionGraphKey key = key_for(AttentionPass::Backward, a, o, stats);
  auto same_layout = [](const char* name, const Tensor& t, const Tensor& like) {
    ST_CHECK(t.defined() && t.shape() == like.shape() && t.strides() == like.strides() &&
                 t.dtype() == like.dtype() && t.device() == like.device(),
             "fused attention backward: ", name, " must have the shape ", like.shape(),
             ", strides ", like.strides(), " and dtype ", like.dtype(), " of its forward tensor");
  };
  same_layout("d_o", d_o, o);
  same_layout("dq", dq, a.q);
  same_layout("dk", dk, a.k);
  same_layout("dv", dv, a.v);
  std::unordered_map<int64_t, void*> pack = {
      {kQ, a.q.raw_data()}, {kK, a.k.raw_data()},   {kV, a.v.raw_data()},
      {kO, o.raw_data()},   {kDO, d_o.raw_data()}, {kStats, stats.raw_data()},
      {kDQ, dq.raw_data()}, {kDK, dk.raw_data()},  {kDV, dv.raw_data()}};
  add_masks(a, pack);
  run_graph(key, a.q.device().index, pack);
}

void cuda_fused_attention_prepare(const FusedAttentionArgs& a, const Tensor& o, const Tensor& stats,
                                  bool backward) {
  AttentionGraphKey forward = key_for(AttentionPass::Forward, a, o, stats);
  AttentionGraphKey backward_key = key_for(AttentionPass::Backward, a, o, stats);
  int index = a.q.device().index;
  DeviceAttention& d = device_attention(index);
  cuda::DeviceGuard guard(index);
  std::lock_guard<std::mutex> lock(d.mutex);
  graph_for(d, forward);
  if (backward) graph_for(d, backward_key);
}

void refuse_fused_attention_shape_for_testing(const Tensor& q, const std::string& reason) {
  ST_CHECK(q.dim() == 4 && q.device().is_cuda(), "refuse_fused_attention_shape_for_testing: q must be a (B, H, N, d_h) CUDA tensor");
  DeviceAttention& d = device_attention(q.device().index);
  std::lock_guard<std::mutex> lock(d.mutex);
  d.refused_for_testing[{q.size(0), q.size(1), q.size(2), q.size(3)}] = reason;
}

int64_t fused_attention_dp_workspace_bytes(int64_t B, int64_t H, int64_t Nq, int64_t Nk,
                                           bool deterministic, int device_index) {
  if (!deterministic) return 0;
  auto round_up = [](int64_t n, int64_t m) { return (n + m - 1) / m * m; };
  int64_t dp_bytes = B * H * round_up(Nq, 64) * round_up(Nk, 128) * 2;
  int major = 0;
  ST_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device_index));
  // The frontend's rule: ordered dQ on Hopper with cuDNN >= 9.25 when the limit in the
  // environment (ours: 0) parses as a byte count below the dP workspace.
  if (major == 9 && cudnnGetVersion() >= 92500) {
    const char* limit = std::getenv(kDpWorkspaceLimit);
    if (limit != nullptr) {
      char* end = nullptr;
      long long parsed = std::strtoll(limit, &end, 10);
      if (end != limit && *end == '\0' && parsed >= 0 && dp_bytes > parsed) return 0;
    }
  }
  return dp_bytes;
}

}  // namespace st
