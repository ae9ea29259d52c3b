// The fused ops against their unfused compositions on the CPU: bias_gelu = gelu(h + b) and
// dropout_add = residual + dropout(x): fp64 gradient checks, equality with the composition
// (bitwise where the arithmetic is the same), bitwise-equal dropout masks under index maps,
// results independent of the thread count, and the FFN's use of bias_gelu.
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

#include "core/autograd/gradcheck.h"
#include "core/nn/layers.h"
#include "tests/core/test_util.h"

namespace st {
namespace {

using testing::bitwise_equal;
using testing::rand64;
using testing::rel_error;
using Inputs = std::vector<Tensor>;

void expect_gradcheck(const std::function<Tensor(const Inputs&)>& f, const Inputs& in) {
  GradcheckResult r = gradcheck(f, in);
  EXPECT_TRUE(r.ok) << r.message << " (max abs error " << r.max_abs_error << ")";
}

// A (4, 5, 33) block at (1, 10, 0) of a (8, 50, 33) tensor.
GlobalIndexMap slice_map() {
  GlobalIndexMap m;
  m.ndim = 3;
  m.offset[0] = 1;
  m.offset[1] = 10;
  m.global_strides[0] = 50 * 33;
  m.global_strides[1] = 33;
  m.global_strides[2] = 1;
  return m;
}

std::string str(const Shape& s) {
  std::ostringstream os;
  os << s;  // st::operator<< (core/tensor/error.h)
  return os.str();
}

// Leaf copies of `ts` that require grad.
std::vector<Tensor> leaves(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) {
    Tensor c = t.detach().clone();
    c.set_requires_grad(true);
    out.push_back(c);
  }
  return out;
}

// ---- bias_gelu -----------------------------------------------------------------------------

TEST(BiasGelu, GradcheckFp64BothKinds) {
  for (GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
    for (const Shape& s : {Shape{7, 33}, Shape{2, 3, 5}, Shape{1}}) {
      Inputs in{rand64(s, 1), rand64({s.back()}, 2)};
      expect_gradcheck([kind](const Inputs& x) { return bias_gelu(x[0], x[1], kind); }, in);
    }
  }
}

TEST(BiasGelu, EqualsGeluOfSumWithinRounding) {
  // The same per-element formulas; the compiler may contract them into FMAs differently in the
  // two loops, so a few ulps apart at most (f32: a few 1e-8 relative).
  for (GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
    for (DType t : {DType::F32, DType::F64}) {
      double tol = t == DType::F32 ? 1e-6 : 1e-14;
      Tensor h0 = Tensor::randn({3, 100, 33}, 3, 2.0, t), b0 = Tensor::randn({33}, 4, 1.0, t);
      Tensor dy = Tensor::randn({3, 100, 33}, 5, 1.0, t);
      std::vector<Tensor> f = leaves({h0, b0}), u = leaves({h0, b0});
      Tensor yf = bias_gelu(f[0], f[1], kind), yu = gelu(add(u[0], u[1]), kind);
      std::string what = dtype_name(t) + std::string(kind == GeluKind::Tanh ? " tanh" : " erf");
      EXPECT_LE(rel_error(yf, yu), tol) << "forward " << what;
      sum_all(mul(yf, dy)).backward();
      sum_all(mul(yu, dy)).backward();
      EXPECT_LE(rel_error(f[0].grad(), u[0].grad()), tol) << "dh " << what;
      // db: the same terms summed in another (fixed) blocking.
      EXPECT_LE(rel_error(f[1].grad(), u[1].grad()), t == DType::F32 ? 1e-5 : 1e-12) << what;
    }
  }
}

TEST(BiasGelu, FeedForwardMatchesLinearThenGelu) {
  InitStream init(11);
  FeedForward ffn(33, 100, 0.0f, FfnActivation::GeluTanh, init);
  // Non-zero biases, so that a bias applied twice or not at all would show.
  copy_into(ffn.fc1->bias, Tensor::randn({100}, 12, 0.5));
  copy_into(ffn.fc2->bias, Tensor::randn({33}, 13, 0.5));
  Tensor x = Tensor::randn({2, 7, 33}, 14);
  Tensor dy = Tensor::randn({2, 7, 33}, 15);
  Tensor y = ffn.forward(x, RunContext{});
  sum_all(mul(y, dy)).backward();
  std::map<std::string, Tensor> fused;
  for (auto& [name, p] : ffn.named_parameters()) fused[name] = p.grad().clone();
  ffn.zero_grad();
  Tensor yu = ffn.fc2->forward(gelu(ffn.fc1->forward(x), GeluKind::Tanh));
  sum_all(mul(yu, dy)).backward();
  EXPECT_LE(rel_error(y, yu), 1e-5);
  ASSERT_EQ(fused.size(), 4u);
  for (auto& [name, p] : ffn.named_parameters()) {
    ASSERT_TRUE(fused.count(name)) << name;
    EXPECT_LE(rel_error(fused[name], p.grad()), 1e-5) << name;
  }
  EXPECT_TRUE(fused.count("fc1.weight") && fused.count("fc1.bias") && fused.count("fc2.weight") &&
              fused.count("fc2.bias"))
      << "parameter names unchanged";
}

TEST(BiasGelu, BiasGradientDoesNotDependOnThreadCount) {
  Tensor h = Tensor::randn({1000, 65}, 16), b = Tensor::randn({65}, 17);
  Tensor dy = Tensor::randn({1000, 65}, 18);
  int saved = num_threads();
  std::vector<Tensor> db;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tensor dh = Tensor::empty({1000, 65}), d = Tensor::empty({65});
    cpu_backend().bias_act_backward(UnaryOp::GeluTanh, h, b, dy, dh, d);
    db.push_back(d);
  }
  set_num_threads(saved);
  EXPECT_TRUE(bitwise_equal(db[0], db[1]));
}

TEST(BiasGelu, EmptyRowsGiveZeroBiasGradient) {
  Tensor h = Tensor::zeros({0, 7}, DType::F64), b = Tensor::randn({7}, 19, 1.0, DType::F64);
  Tensor dh = Tensor::empty({0, 7}, DType::F64), db = Tensor::full({7}, 3.0, DType::F64);
  cpu_backend().bias_act_backward(UnaryOp::GeluErf, h, b, h, dh, db);
  for (double v : db.to_vector<double>()) EXPECT_EQ(v, 0.0);
}

TEST(BiasGelu, RejectsABiasOfTheWrongShape) {
  Tensor h = Tensor::randn({4, 6}, 20);
  EXPECT_THROW(bias_gelu(h, Tensor::randn({5}, 21)), Error);
  EXPECT_THROW(bias_gelu(h, Tensor::randn({1, 6}, 21)), Error);
  EXPECT_THROW(bias_gelu(h, Tensor::randn({6}, 21, 1.0, DType::F64)), Error);
}

// ---- dropout_add ---------------------------------------------------------------------------

TEST(DropoutAdd, GradcheckFp64) {
  RngKey key{77, 3, 5};
  for (const Shape& s : {Shape{7, 33}, Shape{4, 5, 33}}) {
    Inputs in{rand64(s, 22), rand64(s, 23)};
    expect_gradcheck([key](const Inputs& x) { return dropout_add(x[0], x[1], 0.3f, key); }, in);
  }
}

TEST(DropoutAdd, BitwiseEqualToResidualPlusDropout) {
  RngKey key{1234, 7, 9};
  GlobalIndexMap sliced = slice_map();
  for (DType t : {DType::F32, DType::F64}) {
    for (const Shape& s : {Shape{7, 33}, Shape{4, 5, 33}, Shape{100003}, Shape{1}}) {
      for (bool use_map : {false, true}) {
        if (use_map && s.size() != 3) continue;
        GlobalIndexMap map = use_map ? sliced : GlobalIndexMap{};
        Tensor x = Tensor::uniform(s, 24, 0.5, 2.0, t);  // no zeros: a dropped element shows
        Tensor r = Tensor::randn(s, 25, 1.0, t);
        Tensor dy = Tensor::randn(s, 26, 1.0, t);
        std::vector<Tensor> f = leaves({x, r}), u = leaves({x, r});
        Tensor yf = dropout_add(f[0], f[1], 0.3f, key, map);
        Tensor du = dropout(u[0], 0.3f, key, true, map);
        Tensor yu = add(u[1], du);
        EXPECT_TRUE(bitwise_equal(yf, yu)) << "forward " << str(s) << " map " << use_map;
        // The same elements dropped: y - r is zero exactly where dropout(x) is.
        std::vector<double> vy = yf.to_vector<double>(), vr = r.to_vector<double>();
        std::vector<double> vd = du.to_vector<double>();
        int64_t differ = 0, dropped = 0;
        for (size_t i = 0; i < vy.size(); ++i) {
          differ += (vy[i] == vr[i]) != (vd[i] == 0);
          dropped += vd[i] == 0;
        }
        EXPECT_EQ(differ, 0) << str(s);
        if (vy.size() > 100) {
          EXPECT_NEAR(double(dropped) / vy.size(), 0.3, 0.05) << str(s);
        }
        sum_all(mul(yf, dy)).backward();
        sum_all(mul(yu, dy)).backward();
        EXPECT_TRUE(bitwise_equal(f[0].grad(), u[0].grad())) << "dx " << str(s);
        EXPECT_TRUE(bitwise_equal(f[1].grad(), u[1].grad())) << "dresidual " << str(s);
      }
    }
  }
}

TEST(DropoutAdd, DoesNotDependOnThreadCount) {
  Tensor x = Tensor::randn({64, 1000}, 27), r = Tensor::randn({64, 1000}, 28);
  int saved = num_threads();
  std::vector<Tensor> ys;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    ys.push_back(dropout_add(x, r, 0.1f, RngKey{5, 6, 7}));
  }
  set_num_threads(saved);
  EXPECT_TRUE(bitwise_equal(ys[0], ys[1]));
}

TEST(DropoutAdd, ZeroProbabilityIsAdd) {
  Tensor x = Tensor::randn({5, 7}, 29), r = Tensor::randn({5, 7}, 30);
  EXPECT_TRUE(bitwise_equal(dropout_add(x, r, 0.0f, RngKey{1, 2, 3}), add(r, x)));
}

TEST(DropoutAdd, RejectsMismatchedShapesAndProbabilities) {
  Tensor x = Tensor::randn({5, 7}, 31);
  EXPECT_THROW(dropout_add(x, Tensor::randn({1, 7}, 32), 0.1f, RngKey{}), Error);
  EXPECT_THROW(dropout_add(x, Tensor::randn({5, 7}, 32), 1.0f, RngKey{}), Error);
  GlobalIndexMap bad = slice_map();  // rank 3 for a rank-2 tensor
  EXPECT_THROW(dropout_add(x, Tensor::randn({5, 7}, 32), 0.1f, RngKey{}, bad), Error);
}

TEST(DropoutAdd, DropoutSiteForwardAddEqualsAddOfForward) {
  InitStream init(3);
  Dropout site(0.25f, init);
  RunContext ctx;
  ctx.seed = 99;
  ctx.step = 4;
  ctx.batch_offset = 2;  // rows [2, 6) of 10, positions [3, 8) of 20
  ctx.batch_global = 10;
  ctx.seq_offset = 3;
  ctx.seq_global = 20;
  Tensor x = Tensor::uniform({4, 5, 33}, 33, 0.5, 2.0), r = Tensor::randn({4, 5, 33}, 34);
  for (bool training : {true, false}) {
    Tensor fused = site.forward_add(x, r, ctx, training);
    Tensor unfused = add(r, site.forward(x, ctx, training));
    EXPECT_TRUE(bitwise_equal(fused, unfused)) << "training " << training;
  }
}

}  // namespace
}  // namespace st
