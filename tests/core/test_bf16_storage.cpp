// Activation storage under precision bf16 (core/ops/op_util.h): LayerNorm saves its normalised
// input x̂ in bf16 and its backward reads it; bias + GELU, GELU and ReLU save their input in
// bf16 and the backward kernels widen it exactly. Checked on the CPU backend and ops: the
// gradients from a stored x̂ stay accurate where a bf16 copy of x would not (a large mean);
// reading a bf16 h is bitwise the f32 kernel on the widened h; and the ops hold half the bytes
// for what they save.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "core/tensor/allocator.h"
#include "tests/core/test_util.h"

namespace st {
namespace {

using testing::bitwise_equal;
using testing::rel_error;

struct LayerNormGrads {
  Tensor dx, dw, db;
};

// The backend's LayerNorm backward from `x` (the input, or the stored bf16 x̂).
LayerNormGrads backward_from(const Tensor& x, const Tensor& w, const Tensor& mu, const Tensor& rs, const Tensor& dy) {
  LayerNormGrads g{Tensor::empty(dy.shape()), Tensor::empty(w.shape()), Tensor::empty(w.shape())};
  cpu_backend().layer_norm_backward(x, w, mu, rs, dy, g.dx, g.dw, g.db);
  return g;
}

TEST(Bf16Storage, LayerNormBackwardFromStoredXhatIsAccurateAtALargeMean) {
  const int64_t R = 64, C = 96;
  // Rows of mean 100 and standard deviation 1 (a residual stream far from zero): a bf16 x is
  // off by up to 0.25 there, a quarter of a standard deviation; a bf16 x̂ by 2^-9 of itself.
  Tensor x = add_scalar(Tensor::randn({R, C}, 1), 100.0);
  Tensor w = Tensor::randn({C}, 2), b = Tensor::randn({C}, 3), dy = Tensor::randn({R, C}, 4);
  Tensor y = Tensor::empty({R, C}), mu = Tensor::empty({R}), rs = Tensor::empty({R});
  Tensor y2 = Tensor::empty({R, C}), mu2 = Tensor::empty({R}), rs2 = Tensor::empty({R});
  Tensor xhat = Tensor::empty({R, C}, DType::BF16);
  cpu_backend().layer_norm_forward(x, w, b, 1e-5, y, mu, rs, Tensor());
  cpu_backend().layer_norm_forward(x, w, b, 1e-5, y2, mu2, rs2, xhat);
  EXPECT_TRUE(bitwise_equal(y, y2) && bitwise_equal(mu, mu2) && bitwise_equal(rs, rs2))
      << "writing x̂ changes the forward";
  LayerNormGrads exact = backward_from(x, w, mu, rs, dy);
  LayerNormGrads stored = backward_from(xhat, w, mu, rs, dy);
  LayerNormGrads rounded_x = backward_from(x.to(DType::BF16).to(DType::F32), w, mu, rs, dy);
  double e_dx = rel_error(stored.dx, exact.dx), e_dw = rel_error(stored.dw, exact.dw);
  double naive = rel_error(rounded_x.dx, exact.dx);
  std::printf("[ bf16 storage ] LayerNorm at mean 100: dx error %.1e from a bf16 x̂, %.1e from a bf16 x; dw %.1e\n",
              e_dx, naive, e_dw);
  EXPECT_LE(e_dx, 1e-2);
  EXPECT_LE(e_dw, 1e-2);
  EXPECT_TRUE(bitwise_equal(stored.db, exact.db)) << "db does not read x";
  EXPECT_GT(naive, 10 * e_dx) << "a bf16 copy of x would do as well: the test does not show why x̂ is stored";
}

TEST(Bf16Storage, BiasActBackwardReadsBf16Exactly) {
  const int64_t R = 300, C = 70;  // more than one block of rows, a partial column tile
  Tensor h = Tensor::randn({R, C}, 5), b = Tensor::randn({C}, 6), dy = Tensor::randn({R, C}, 7);
  Tensor hb = h.to(DType::BF16), widened = hb.to(DType::F32);
  for (UnaryOp act : {UnaryOp::GeluTanh, UnaryOp::GeluErf}) {
    Tensor dh1 = Tensor::empty({R, C}), db1 = Tensor::empty({C}), dh2 = Tensor::empty({R, C}), db2 = Tensor::empty({C});
    cpu_backend().bias_act_backward(act, widened, b, dy, dh1, db1);
    cpu_backend().bias_act_backward(act, hb, b, dy, dh2, db2);
    EXPECT_TRUE(bitwise_equal(dh1, dh2));
    EXPECT_TRUE(bitwise_equal(db1, db2));
  }
  // bf16 is for an f32 gradient only.
  Tensor dh = Tensor::empty({R, C}, DType::F64), db = Tensor::empty({C}, DType::F64);
  EXPECT_THROW(cpu_backend().bias_act_backward(UnaryOp::GeluTanh, hb, b.to(DType::F64), dy.to(DType::F64), dh, db),
               Error);
}

// Bytes an op keeps after its input (a non-leaf, dropped by the caller) is gone, and the input's
// gradient, under `precision`.
struct Held {
  int64_t bytes = 0;
  Tensor grad;
};
Held held_by(const std::function<Tensor(const Tensor&)>& op, Precision precision, const Shape& shape) {
  PrecisionScope scope(precision);
  Tensor leaf = Tensor::randn(shape, 11);
  leaf.set_requires_grad(true);
  int64_t before = memory_stats().bytes_in_use;
  Tensor y;
  {
    Tensor x = add_scalar(leaf, 0.5);  // an intermediate activation
    y = op(x);
  }
  Held h;
  h.bytes = memory_stats().bytes_in_use - before - y.numel() * 4;  // less the output
  sum_all(mul(y, Tensor::randn(shape, 12))).backward();
  h.grad = leaf.grad();
  return h;
}

TEST(Bf16Storage, OpsKeepHalfTheBytesAndNearlyTheGradient) {
  const Shape shape{128, 64};
  const int64_t values = 128 * 64;
  Tensor w = Tensor::randn({64}, 13), bias = Tensor::randn({64}, 14);
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
  };
  std::vector<Case> cases{
      {"layer_norm", [&](const Tensor& x) { return layer_norm(x, w, bias, 1e-5); }},
      {"bias_gelu", [&](const Tensor& x) { return bias_gelu(x, bias, GeluKind::Tanh); }},
      {"gelu", [&](const Tensor& x) { return gelu(x, GeluKind::Erf); }},
      {"relu", [&](const Tensor& x) { return relu(x); }},
  };
  for (const Case& c : cases) {
    Held f32 = held_by(c.op, Precision::FP32, shape), b16 = held_by(c.op, Precision::BF16, shape);
    // f32 keeps the input (4 bytes a value), bf16 a bf16 copy or x̂ (2); LayerNorm's statistics
    // (2 x 128 f32) are kept by both.
    EXPECT_EQ(f32.bytes - b16.bytes, 2 * values) << c.name << ": " << f32.bytes << " vs " << b16.bytes;
    double e = rel_error(b16.grad, f32.grad);
    if (std::string(c.name) == "relu") {
      EXPECT_TRUE(bitwise_equal(b16.grad, f32.grad)) << "ReLU's gradient needs only the input's sign";
    } else {
      EXPECT_LE(e, 2e-2) << c.name;
      EXPECT_GT(e, 0) << c.name << ": bf16 storage changed nothing";
    }
    std::printf("[ bf16 storage ] %-10s keeps %lld bytes in f32, %lld in bf16; input gradient error %.1e\n", c.name,
                static_cast<long long>(f32.bytes), static_cast<long long>(b16.bytes), e);
  }
}

}  // namespace
}  // namespace st
