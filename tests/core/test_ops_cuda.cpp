// Every differentiable op of core/ops/ops.h on CUDA against the same op on the CPU backend, from
// one table of cases: identical inputs (awkward sizes, broadcast, transposed, narrowed and
// permuted views), the output and every input gradient (backward from a fixed random output
// gradient) compared. Tolerances, as max |cuda - cpu| / max(1, max |cpu|): f32 1e-5 and f64 1e-12
// (the backends only sum in other orders: cuBLAS tiles, block reductions); gathers, scatters in
// token order and dropout masks bitwise. Then the f32 matrix products under
// PrecisionScope(BF16) on CUDA against the CPU's bf16 emulation (tolerances argued below).
// Every test skips, with the reason, when no CUDA device is visible.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "tests/support/cuda_compare.h"

namespace st {
namespace {

using testing::cuda0;
using testing::max_rel_error;
using testing::op_tolerance;
using testing::same_bits;

// ---- the case table ---------------------------------------------------------------------------

// An input of a case, made on the CPU: floating values are made in f64 and converted to the
// dtype under test; `grad` marks a leaf whose gradient is compared.
struct Arg {
  std::function<Tensor()> make;
  bool grad = true;
};

Arg normal(const Shape& s, uint64_t seed) {
  return {[s, seed] { return Tensor::randn(s, seed, 1.0, DType::F64); }, true};
}
Arg positive(const Shape& s, uint64_t seed) {  // in [0.5, 2): for log and divisors
  return {[s, seed] { return Tensor::uniform(s, seed, 0.5, 2.0, DType::F64); }, true};
}
Arg constant(const Shape& s, uint64_t seed) {  // floating, no gradient
  return {[s, seed] { return Tensor::randn(s, seed, 1.0, DType::F64); }, false};
}
Arg ints(const std::vector<int32_t>& v, const Shape& s) {
  return {[v, s] { return Tensor::from_vector(v, s); }, false};
}

enum class Match : uint8_t { Close, Bitwise };

struct OpCase {
  std::string name;
  std::vector<Arg> args;
  std::function<Tensor(const std::vector<Tensor>&)> f;
  Match output = Match::Close;
  Match grads = Match::Close;
  bool zero_pattern = false;  // dropout: which elements are zero must agree bitwise
};

using In = std::vector<Tensor>;

Tensor scales_like(int64_t n, const Tensor& like) {  // s_t = (t + 1)^-1/2, (N)
  std::vector<double> s(n);
  for (int64_t t = 0; t < n; ++t) s[t] = 1.0 / std::sqrt(static_cast<double>(t + 1));
  return Tensor::from_vector(s, {n}).to(like.dtype()).to(like.device());
}

// i32 mask (rows, cols) with mask[i][j] = 1 where (i * 7 + j * 3) % 5 == 0.
Tensor sparse_mask(int64_t rows, int64_t cols) {
  std::vector<int32_t> m(rows * cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) m[i * cols + j] = (i * 7 + j * 3) % 5 == 0;
  return Tensor::from_vector(m, {rows, cols});
}

void add_elementwise(std::vector<OpCase>& c) {
  c.push_back({"add_broadcast", {normal({7, 1, 33}, 1), normal({5, 33}, 2)},
               [](const In& x) { return add(x[0], x[1]); }});
  c.push_back({"sub_broadcast_transposed", {normal({33, 7}, 3), normal({7, 1}, 4)},
               [](const In& x) { return sub(x[0].transpose(0, 1), x[1]); }});
  c.push_back({"mul_broadcast", {normal({2, 7, 1, 5}, 5), normal({3, 1}, 6)},
               [](const In& x) { return mul(x[0], x[1]); }});
  c.push_back({"div_broadcast", {normal({7, 33}, 7), positive({33}, 8)},
               [](const In& x) { return div(x[0], x[1]); }});
  c.push_back({"div_by_broadcast_negative", {normal({1, 33}, 9), positive({7, 1}, 10)},
               [](const In& x) { return div(x[0], neg(x[1])); }});
  c.push_back({"scale_add_scalar_neg", {normal({100}, 11)},
               [](const In& x) { return neg(add_scalar(scale(x[0], -2.5), 0.75)); }});
  c.push_back({"masked_fill_broadcast_mask", {normal({3, 7, 33}, 12)},
               [](const In& x) {
                 Tensor m = sparse_mask(7, 33).to(x[0].device());
                 return masked_fill(x[0], m, -4.0);
               }});
  c.push_back({"masked_fill_floating_mask_on_view", {normal({33, 7}, 13), constant({7, 1}, 14)},
               [](const In& x) { return masked_fill(x[0].transpose(0, 1), x[1], 2.5); }});
}

void add_activations(std::vector<OpCase>& c) {
  using Unary = Tensor (*)(const Tensor&);
  struct Named {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
  };
  std::vector<Named> ops = {
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, GeluKind::Tanh); }},
      {"gelu_erf", [](const Tensor& x) { return gelu(x, GeluKind::Erf); }},
      {"relu", static_cast<Unary>(relu)},
      {"tanh", static_cast<Unary>(st::tanh)},
      {"exp", static_cast<Unary>(st::exp)},
      {"elu_plus_one", static_cast<Unary>(elu_plus_one)},
  };
  uint64_t seed = 20;
  for (auto& op : ops) {
    auto f = op.f;
    c.push_back({op.name, {normal({7, 33}, seed++)}, [f](const In& x) { return f(x[0]); }});
    c.push_back({std::string(op.name) + "_on_transposed_view", {normal({33, 7}, seed++)},
                 [f](const In& x) { return f(x[0].transpose(0, 1)); }});
  }
  c.push_back({"log", {positive({7, 33}, seed++)}, [](const In& x) { return st::log(x[0]); }});
}

void add_matrix_products(std::vector<OpCase>& c) {
  auto mm = [](const In& x) { return matmul(x[0], x[1]); };
  c.push_back({"matmul_column", {normal({7, 33}, 40), normal({33, 1}, 41)}, mm});
  c.push_back({"matmul_row", {normal({1, 5}, 42), normal({5, 7}, 43)}, mm});
  c.push_back({"matmul_large", {normal({100, 65}, 44), normal({65, 33}, 45)}, mm});
  c.push_back({"matmul_batched", {normal({2, 3, 7, 5}, 46), normal({2, 3, 5, 4}, 47)}, mm});
  c.push_back({"matmul_shared_b", {normal({3, 7, 5}, 48), normal({5, 6}, 49)}, mm});
  c.push_back({"matmul_both_transposed", {normal({5, 7}, 50), normal({3, 5}, 51)},
               [](const In& x) { return matmul(x[0].transpose(0, 1), x[1].transpose(0, 1)); }});
  c.push_back({"matmul_batched_transposed_b", {normal({2, 7, 5}, 52), normal({2, 33, 5}, 53)},
               [](const In& x) { return matmul(x[0], x[1].transpose(1, 2)); }});
  c.push_back({"matmul_permuted_batch", {normal({7, 3, 5}, 54), normal({3, 5, 2}, 55)},
               [](const In& x) { return matmul(x[0].permute({1, 0, 2}), x[1]); }});
  c.push_back({"matmul_narrowed_rows", {normal({3, 6}, 56), normal({4, 2}, 57)},
               [](const In& x) { return matmul(x[0].narrow(1, 1, 4), x[1]); }});
  c.push_back({"linear_bias", {normal({2, 33, 5}, 58), normal({3, 5}, 59), normal({3}, 60)},
               [](const In& x) { return linear(x[0], x[1], x[2]); }});
  c.push_back({"linear_no_bias", {normal({7, 5}, 61), normal({33, 5}, 62)},
               [](const In& x) { return linear(x[0], x[1], Tensor()); }});
  c.push_back({"linear_transposed_input", {normal({5, 7}, 63), normal({3, 5}, 64), normal({3}, 65)},
               [](const In& x) { return linear(x[0].transpose(0, 1), x[1], x[2]); }});
  c.push_back({"linear_single_row", {normal({1, 1, 65}, 66), normal({100, 65}, 67), normal({100}, 68)},
               [](const In& x) { return linear(x[0], x[1], x[2]); }});
}

void add_reductions_and_shapes(std::vector<OpCase>& c) {
  c.push_back({"sum_axes_0_2", {normal({3, 1, 7, 5}, 70)}, [](const In& x) { return sum(x[0], {0, 2}); }});
  c.push_back({"sum_last_keepdim", {normal({3, 1, 7, 5}, 71)},
               [](const In& x) { return sum(x[0], {-1}, true); }});
  c.push_back({"sum_long_axis", {normal({3, 1000, 2}, 72)}, [](const In& x) { return sum(x[0], {1}); }});
  c.push_back({"mean_axes_1_2_3", {normal({3, 1, 7, 5}, 73)},
               [](const In& x) { return mean(x[0], {1, 2, 3}); }});
  c.push_back({"sum_all_large", {normal({33, 1000}, 74)}, [](const In& x) { return sum_all(x[0]); }});
  c.push_back({"mean_all_transposed", {normal({3, 1, 7, 5}, 75)},
               [](const In& x) { return mean_all(x[0].transpose(0, 3)); }});
  c.push_back({"cumsum_inclusive_axis1", {normal({3, 50, 7}, 78)}, [](const In& x) { return cumsum(x[0], 1); }});
  c.push_back({"cumsum_exclusive_reverse_last", {normal({4, 7, 33}, 79)},
               [](const In& x) { return cumsum(x[0].transpose(0, 1), -1, true, true); }});
  c.push_back({"sum_to_broadcast_shape", {normal({4, 7, 33}, 76)},
               [](const In& x) { return sum_to(x[0], {7, 1}); }});
  c.push_back({"reshape_permute", {normal({2, 3, 7}, 77)},
               [](const In& x) { return x[0].permute({2, 0, 1}).reshape({-1}); }});
  c.push_back({"transpose_contiguous", {normal({2, 3, 7}, 78)},
               [](const In& x) { return x[0].transpose(0, 2).contiguous(); }});
  c.push_back({"narrow_clone", {normal({2, 3, 7}, 79)},
               [](const In& x) { return x[0].narrow(2, 2, 5).clone(); }});
  c.push_back({"expand", {normal({2, 1, 7}, 80)}, [](const In& x) { return expand(x[0], {4, 2, 5, 7}); }});
  c.push_back({"concat_middle_axis", {normal({2, 3, 7}, 81), normal({2, 1, 7}, 82)},
               [](const In& x) { return concat({x[0], x[1], x[0]}, 1); }});
  c.push_back({"concat_views", {normal({7, 2}, 83), normal({2, 5}, 84)},
               [](const In& x) { return concat({x[0].transpose(0, 1), x[1].narrow(1, 1, 3)}, 1); }});
  c.push_back({"to_dtype_round_trip", {normal({7, 33}, 85)},
               [](const In& x) { return x[0].to(DType::F64).to(x[0].dtype()); }});
}

void add_rows(std::vector<OpCase>& c) {
  c.push_back({"layer_norm", {normal({7, 33}, 90), normal({33}, 91), normal({33}, 92)},
               [](const In& x) { return layer_norm(x[0], x[1], x[2], 1e-6); }});
  c.push_back({"layer_norm_wide_rows", {normal({2, 5, 1000}, 93), normal({1000}, 94), normal({1000}, 95)},
               [](const In& x) { return layer_norm(x[0], x[1], x[2], 1e-5); }});
  c.push_back({"layer_norm_transposed_input", {normal({3, 1, 5}, 96), normal({5}, 97), normal({5}, 98)},
               [](const In& x) { return layer_norm(x[0].transpose(0, 1), x[1], x[2], 1e-5); }});
  c.push_back({"softmax", {normal({7, 33}, 99)}, [](const In& x) { return softmax(x[0]); }});
  c.push_back({"softmax_wide_rows", {normal({3, 1000}, 100)}, [](const In& x) { return softmax(x[0]); }});
  c.push_back({"softmax_transposed", {normal({7, 33}, 101)},
               [](const In& x) { return softmax(x[0].transpose(0, 1)); }});
  c.push_back({"softmax_masked_rows", {normal({7, 33}, 102)}, [](const In& x) {
                 // Some entries -inf, and row 0 entirely: softmax 0 there.
                 Tensor m = sparse_mask(7, 33);
                 std::vector<int32_t> v = m.to_vector<int32_t>();
                 for (int j = 0; j < 33; ++j) v[j] = 1;
                 m = Tensor::from_vector(v, {7, 33}).to(x[0].device());
                 return softmax(masked_fill(x[0], m, -INFINITY));
               }});
  c.push_back({"log_softmax", {normal({7, 33}, 103)}, [](const In& x) { return log_softmax(x[0]); }});
  c.push_back({"log_softmax_width_one", {normal({7, 33}, 104)},
               [](const In& x) { return log_softmax(x[0].narrow(1, 0, 1)); }});
  std::vector<int32_t> labels = {0, 6, -100, 3, 3, 1, 2};
  for (double smoothing : {0.0, 0.1}) {
    for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      CrossEntropyOptions opt;
      opt.label_smoothing = smoothing;
      opt.reduction = red;
      const char* rn = red == Reduction::Mean ? "mean" : red == Reduction::Sum ? "sum" : "none";
      c.push_back({std::string("cross_entropy_") + rn + (smoothing > 0 ? "_smoothed" : ""),
                   {normal({7, 33}, 105), ints(labels, {7})},
                   [opt](const In& x) { return cross_entropy(x[0], x[1], opt); }});
    }
  }
  std::vector<int32_t> wide(33);
  for (int i = 0; i < 33; ++i) wide[i] = i % 4 == 1 ? 7 : (i * 37) % 1000;
  CrossEntropyOptions ig;
  ig.ignore_index = 7;
  ig.label_smoothing = 0.05;
  c.push_back({"cross_entropy_wide_rows_custom_ignore", {normal({33, 1000}, 106), ints(wide, {33})},
               [ig](const In& x) { return cross_entropy(x[0], x[1], ig); }});
}

void add_lookup_and_dropout(std::vector<OpCase>& c) {
  // Gathers are copies and scatters add rows in token order: bitwise.
  c.push_back({"embedding_repeated_ids", {normal({7, 5}, 110), ints({3, 0, 3, 6, 1, 3}, {2, 3})},
               [](const In& x) { return embedding(x[0], x[1]); }, Match::Bitwise, Match::Bitwise});
  std::vector<int32_t> many(1000);
  for (int i = 0; i < 1000; ++i) many[i] = (i * 13) % 33;
  c.push_back({"embedding_many_ids", {normal({33, 100}, 111), ints(many, {10, 100})},
               [](const In& x) { return embedding(x[0], x[1]); }, Match::Bitwise, Match::Bitwise});
  RngKey key{42, 7, 3};
  c.push_back({"dropout", {normal({7, 33}, 112)}, [key](const In& x) { return dropout(x[0], 0.3f, key); },
               Match::Close, Match::Close, true});
  c.push_back({"dropout_transposed_view", {normal({33, 7}, 113)},
               [key](const In& x) { return dropout(x[0].transpose(0, 1), 0.5f, key); },
               Match::Close, Match::Close, true});
  // A (3, 7, 33) block at offset (0, 20, 0) of a global (3, 100, 33) tensor (a rank's slice).
  GlobalIndexMap map;
  map.ndim = 3;
  map.offset[1] = 20;
  map.global_strides[0] = 100 * 33;
  map.global_strides[1] = 33;
  map.global_strides[2] = 1;
  c.push_back({"dropout_global_index_map", {normal({3, 7, 33}, 114)},
               [key, map](const In& x) { return dropout(x[0], 0.1f, key, true, map); },
               Match::Close, Match::Close, true});
}

void add_attention(std::vector<OpCase>& c) {
  for (int64_t n : {7, 100}) {
    for (int64_t chunk : {1, 4, 16, 64}) {
      if (n == 100 && chunk == 1) continue;  // 100 sequential chunks: slow, adds nothing
      c.push_back({"simpletron_causal_n" + std::to_string(n) + "_chunk" + std::to_string(chunk),
                   {normal({2, 2, n, 3}, 120), normal({2, 2, n, 3}, 121), normal({2, 2, n, 3}, 122)},
                   [n, chunk](const In& x) {
                     return simpletron_causal(x[0], x[1], x[2], scales_like(n, x[0]), chunk);
                   }});
    }
  }
  c.push_back({"simpletron_causal_initial_state",
               {normal({1, 2, 9, 3}, 123), normal({1, 2, 9, 3}, 124), normal({1, 2, 9, 3}, 125),
                normal({1, 2, 3, 3}, 126)},
               [](const In& x) {
                 return simpletron_causal(x[0], x[1], x[2], scales_like(9, x[0]), 4, x[3]);
               }});
  c.push_back({"heads_state", {normal({2, 7, 3 * 5}, 127), normal({2, 7, 3 * 2}, 128)},
               [](const In& x) { return heads_state(x[0], x[1], 3); }});
  c.push_back({"heads_apply_strided_rows", {normal({2, 7, 3 * 15}, 129), normal({2, 3, 5, 2}, 130)},
               [](const In& x) { return heads_apply(x[0].narrow(2, 15, 15), x[1]); }});
  // Non-causal SimpleTRON as the model runs it: q, k, v narrow views of one fused projection,
  // S = K^T V per head, Y = s Q S with s per example.
  c.push_back({"simpletron_noncausal", {normal({2, 33, 3 * 6}, 131), constant({2, 1, 1}, 132)},
               [](const In& x) {
                 Tensor q = x[0].narrow(2, 0, 6), k = x[0].narrow(2, 6, 6), v = x[0].narrow(2, 12, 6);
                 return mul(heads_apply(q, heads_state(k, v, 2)), x[1]);
               }});
  c.push_back({"linear_elu_attention", {normal({2, 7, 6}, 133), normal({2, 7, 6}, 134), normal({2, 7, 4}, 135)},
               [](const In& x) {
                 return heads_apply(elu_plus_one(x[0]), heads_state(elu_plus_one(x[1]), x[2], 2));
               }});
  c.push_back({"softmax_attention", {normal({2, 2, 7, 3}, 136), normal({2, 2, 7, 3}, 137), normal({2, 2, 7, 3}, 138)},
               [](const In& x) {
                 return matmul(softmax(scale(matmul(x[0], x[1].transpose(2, 3)), 0.5)), x[2]);
               }});
}

// The size-1 communicator: identity / zeros, here for their device handling (allocation on
// the input's device, gradients routed back); several ranks are tested under mpirun. It
// outlives the cases because backward rules keep a reference to it.
Communicator& one_rank() {
  static LocalCommunicator comm;
  return comm;
}

void add_collectives(std::vector<OpCase>& c) {
  c.push_back({"all_reduce_sum_one_rank", {normal({7, 33}, 140)}, [](const In& x) {
                 return mul(all_reduce_sum(x[0], one_rank()), x[0]);
               }});
  c.push_back({"exclusive_prefix_sum_one_rank", {normal({7, 33}, 141)}, [](const In& x) {
                 return add(exclusive_prefix_sum(x[0], one_rank()), x[0]);
               }});
}

const std::vector<OpCase>& all_cases() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> c;
    add_elementwise(c);
    add_activations(c);
    add_matrix_products(c);
    add_reductions_and_shapes(c);
    add_rows(c);
    add_lookup_and_dropout(c);
    add_attention(c);
    add_collectives(c);
    return c;
  }();
  return cases;
}

// ---- running a case on a device and comparing -------------------------------------------------

struct Outcome {
  Tensor y;                   // on the host
  std::vector<Tensor> grads;  // per argument with grad (undefined when none arrived), host
};

Outcome run_case(const OpCase& c, DType dtype, Device dev) {
  In in;
  for (const Arg& a : c.args) {
    Tensor x = a.make();
    if (is_floating(x.dtype())) x = x.to(dtype);
    x = x.to(dev).detach().clone();
    if (a.grad) x.set_requires_grad(true);
    in.push_back(x);
  }
  Tensor y = c.f(in);
  Outcome out{y.detach().to(Device::cpu()), {}};
  if (y.requires_grad()) {
    // The same output gradient on both devices: N(0, 1) of y's shape, in y's dtype.
    Tensor w = Tensor::randn(y.shape(), 999, 1.0, DType::F64).to(y.dtype()).to(dev);
    y.backward(w);
  }
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (!c.args[i].grad) continue;
    Tensor g = in[i].grad();
    out.grads.push_back(g.defined() ? g.to(Device::cpu()) : Tensor());
  }
  return out;
}

std::vector<uint8_t> zeros_of(const Tensor& t) {
  std::vector<uint8_t> z;
  for (double v : t.to_vector<double>()) z.push_back(v == 0.0);
  return z;
}

void expect_same(const Tensor& got, const Tensor& want, Match m, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  if (m == Match::Bitwise) {
    EXPECT_TRUE(same_bits(got, want)) << what << " differs (bitwise comparison)";
  } else {
    EXPECT_LE(max_rel_error(got, want), tol) << what;
  }
}

// Runs `c` on both devices and compares output and gradients; returns the largest error seen.
double compare_case(const OpCase& c, DType dtype, double tol) {
  Outcome cpu = run_case(c, dtype, Device::cpu());
  Outcome gpu = run_case(c, dtype, cuda0());
  std::string tag = c.name + " (" + dtype_name(dtype) + ")";
  expect_same(gpu.y, cpu.y, c.output, tol, tag + " output");
  double worst = max_rel_error(gpu.y, cpu.y);
  if (c.zero_pattern) {
    EXPECT_EQ(zeros_of(gpu.y), zeros_of(cpu.y)) << tag << ": dropout masks differ";
  }
  EXPECT_EQ(gpu.grads.size(), cpu.grads.size());
  for (size_t i = 0; i < cpu.grads.size() && i < gpu.grads.size(); ++i) {
    std::string what = tag + " gradient of input " + std::to_string(i);
    if (gpu.grads[i].defined() != cpu.grads[i].defined()) {
      ADD_FAILURE() << what << " arrived on one device only";
      continue;
    }
    if (!cpu.grads[i].defined()) continue;
    expect_same(gpu.grads[i], cpu.grads[i], c.grads, tol, what);
    worst = std::max(worst, max_rel_error(gpu.grads[i], cpu.grads[i]));
  }
  return worst;
}

struct Param {
  size_t index;
  DType dtype;
};
void PrintTo(const Param& p, std::ostream* os) {
  *os << all_cases()[p.index].name << " " << dtype_name(p.dtype);
}

std::vector<Param> all_params() {
  std::vector<Param> p;
  for (size_t i = 0; i < all_cases().size(); ++i)
    for (DType t : {DType::F32, DType::F64}) p.push_back({i, t});
  return p;
}

class OpsOnCuda : public ::testing::TestWithParam<Param> {};

TEST_P(OpsOnCuda, ForwardAndBackwardMatchCpu) {
  ST_REQUIRE_CUDA();
  const OpCase& c = all_cases()[GetParam().index];
  DType t = GetParam().dtype;
  double worst = compare_case(c, t, op_tolerance(t));
  std::printf("[ cuda/cpu  ] %-44s %s max rel error %.1e\n", c.name.c_str(), dtype_name(t), worst);
}

INSTANTIATE_TEST_SUITE_P(Cases, OpsOnCuda, ::testing::ValuesIn(all_params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return all_cases()[info.param.index].name + "_" +
                                  dtype_name(info.param.dtype);
                         });

// Runs without a GPU: checks the table itself. Names are unique (they name the tests above);
// every case runs on the CPU in f32 and f64, every input marked `grad` receives a gradient, and
// two runs agree bitwise (CPU results are deterministic), so a CUDA difference is the device's.
TEST(OpsOnCudaTable, EveryCaseRunsOnCpuDeterministicallyWithAllGradients) {
  std::set<std::string> names;
  for (const OpCase& c : all_cases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    for (DType t : {DType::F32, DType::F64}) {
      std::string tag = c.name + " (" + dtype_name(t) + ")";
      Outcome a = run_case(c, t, Device::cpu()), b = run_case(c, t, Device::cpu());
      EXPECT_TRUE(same_bits(a.y, b.y)) << tag << " output";
      ASSERT_EQ(a.grads.size(), b.grads.size()) << tag;
      for (size_t i = 0; i < a.grads.size(); ++i) {
        if (!a.grads[i].defined()) {
          ADD_FAILURE() << tag << ": input " << i << " got no gradient";
          continue;
        }
        EXPECT_TRUE(same_bits(a.grads[i], b.grads[i])) << tag << " gradient of input " << i;
      }
    }
  }
}

// ---- bf16 matrix products ----------------------------------------------------------------------
//
// Under PrecisionScope(BF16) both backends round the f32 operands of matmul, linear and the
// per-head products to bf16 (one shared rounding functor: round to nearest even) and accumulate
// in f32. A product of two bf16 values (8 significant bits each) is exact in f32 (24 bits), so
// for a product whose operands are the same f32 values on both devices the two results differ by
// f32 summation order only: the f32 tolerance, 1e-5, holds. That covers every product whose
// operands are leaves or the fixed output gradient: the forward and both backward products of
// matmul and linear, heads_state and heads_apply. These cases are the strict check: if one
// device failed to round (or rounded differently), its result would differ by the rounding
// itself, ~2^-9 sqrt(K) relative (>= 1e-3 here), a hundred times the tolerance.
//
// Composed products are looser: there an operand is itself an f32 product (the state K^T V fed
// into Q S, softmax probabilities into P V, the running state of the causal op), which differs
// between the devices by ~1e-7 relative. Rounding it to bf16 can then land on the other side of
// a rounding boundary for an element within ~1e-7 of one (probability ~1e-7 / 2^-8 per element),
// moving that operand element e by one bf16 ulp, at most 2^-7 |e|. It enters an output element
// through one term, so by at most 2^-7 |e| |b|; with these inputs (operands of order 1, outputs
// sums of several such terms) |e| |b| <= max(1, max |y|), so the relative error stays below
// 2^-7 ~ 8e-3: tolerance 1e-2. Without a flip they agree to 1e-5 like the single products (the
// printed figures show which happened); a device that does not round at all is caught by the
// single products above, whatever the composed cases give.
const double kBf16Single = 1e-5;
const double kBf16Composed = 1e-2;

struct Bf16Case {
  const char* name;
  double tol;
};

TEST(OpsOnCudaBf16, MatrixProductsMatchCpuEmulation) {
  ST_REQUIRE_CUDA();
  const Bf16Case cases[] = {
      {"matmul_column", kBf16Single},
      {"matmul_large", kBf16Single},
      {"matmul_batched", kBf16Single},
      {"matmul_shared_b", kBf16Single},
      {"matmul_both_transposed", kBf16Single},
      {"matmul_batched_transposed_b", kBf16Single},
      {"matmul_permuted_batch", kBf16Single},
      {"matmul_narrowed_rows", kBf16Single},
      {"linear_bias", kBf16Single},
      {"linear_no_bias", kBf16Single},
      {"linear_transposed_input", kBf16Single},
      {"linear_single_row", kBf16Single},
      {"heads_state", kBf16Single},
      {"heads_apply_strided_rows", kBf16Single},
      {"simpletron_noncausal", kBf16Composed},
      {"linear_elu_attention", kBf16Composed},
      {"softmax_attention", kBf16Composed},
      {"simpletron_causal_n100_chunk16", kBf16Composed},
      {"simpletron_causal_initial_state", kBf16Composed},
  };
  PrecisionScope bf16(Precision::BF16);
  for (const Bf16Case& bc : cases) {
    const OpCase* found = nullptr;
    for (const OpCase& c : all_cases())
      if (c.name == bc.name) found = &c;
    ASSERT_NE(found, nullptr) << bc.name;
    double worst = compare_case(*found, DType::F32, bc.tol);
    std::printf("[ cuda/cpu  ] %-44s bf16 max rel error %.1e (tolerance %.0e)\n", bc.name, worst, bc.tol);
  }
}

TEST(OpsOnCudaBf16, RoundingReallyHappensOnEachDevice) {
  // Guards the comparison above against passing because neither device rounds: on each device
  // (the CPU always, CUDA when present), the bf16 product of f32 inputs must differ from the f32
  // product by more than f32 noise, and equal the f32 product of the inputs rounded to bf16
  // beforehand (products of bf16 values are exact in f32).
  std::vector<Device> devices = {Device::cpu()};
  if (cuda_device_count() > 0) devices.push_back(cuda0());
  for (Device dev : devices) {
    Tensor a = Tensor::randn({33, 65}, 150, 1.0, DType::F32, dev);
    Tensor b = Tensor::randn({65, 7}, 151, 1.0, DType::F32, dev);
    Tensor exact = matmul(a, b);
    Tensor pre = matmul(a.to(DType::BF16).to(DType::F32), b.to(DType::BF16).to(DType::F32));
    Tensor mixed;
    {
      PrecisionScope bf16(Precision::BF16);
      mixed = matmul(a, b);
    }
    EXPECT_GT(max_rel_error(mixed, exact), 1e-4) << dev << ": the bf16 product equals the f32 product";
    EXPECT_LE(max_rel_error(mixed, pre), kBf16Single) << dev;
  }
}

}  // namespace
}  // namespace st
