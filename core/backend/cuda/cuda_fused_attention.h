// Private to backend/cuda: the key under which cuda_fused_attention.cpp caches its cuDNN
// attention graphs (one per pass, shape, strides and flags; never keyed by pointers), and
// ST_CUDNN_CHECK for plain cuDNN calls. Free of cudnn-frontend, which only
// cuda_fused_attention.cpp includes.
#pragma once
#include <cudnn.h>

#include <array>
#include <cstdint>
#include <string>
#include <tuple>

namespace st::cuda {

enum class AttentionPass : uint8_t { Forward, Backward };

struct AttentionGraphKey {
  AttentionPass pass = AttentionPass::Forward;
  int64_t b = 0, h = 0, nq = 0, nk = 0, dh = 0;
  // Element strides of q, k, v and o (d_o and the gradients share those of o, q, k, v).
  std::array<int64_t, 4> q_strides{}, k_strides{}, v_strides{}, o_strides{};
  bool causal = false, has_bias = false;
  bool padding = false;        // cuDNN's padding mask from seq_len_q / seq_len_kv
  bool deterministic = false;  // backward: ordered dQ accumulation
  uint32_t scale_bits = 0;  // the f32 scale's bits: equal keys mean equal graphs

  auto tied() const {
    return std::tie(pass, b, h, nq, nk, dh, q_strides, k_strides, v_strides, o_strides, causal,
                    has_bias, padding, deterministic, scale_bits);
  }
  bool operator<(const AttentionGraphKey& o) const { return tied() < o.tied(); }
  std::string str() const;  // for error messages: "forward B 2 H 3 Nq 7 Nk 7 d_h 64 causal ..."
};

[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* expr, const char* file,
                                    int line);

}  // namespace st::cuda

#define ST_CUDNN_CHECK(expr)                                                          \
  do {                                                                                \
    cudnnStatus_t st_cudnn_status_ = (expr);                                          \
    if (st_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                     \
      ::st::cuda::throw_cudnn_error(st_cudnn_status_, #expr, __FILE__, __LINE__);     \
  } while (0)
