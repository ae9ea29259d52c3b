// The shared per-element math (core/math) tested on the host: the CUDA kernels run the same
// functors, so these tests cover their math too.
#include <gtest/gtest.h>

#include <cmath>

#include "core/math/activations.h"
#include "core/math/adamw.h"
#include "core/math/bf16.h"
#include "core/math/fast_math.h"
#include "core/math/philox.h"
#include "core/math/rows.h"

namespace st {
namespace {

TEST(Math, PhiloxKnownAnswers) {
  // Known-answer vectors of Philox4x32-10 (Salmon et al., Random123).
  Philox4 z = philox4x32_10(0, 0, 0, 0, 0, 0);
  EXPECT_EQ(z.v[0], 0x6627e8d5u);
  EXPECT_EQ(z.v[1], 0xe169c58du);
  EXPECT_EQ(z.v[2], 0xbc57ac4cu);
  EXPECT_EQ(z.v[3], 0x9b00dbd8u);
  Philox4 f = philox4x32_10(~0u, ~0u, ~0u, ~0u, ~0u, ~0u);
  EXPECT_EQ(f.v[0], 0x408f276du);
  EXPECT_EQ(f.v[1], 0x41c83b0eu);
  EXPECT_EQ(f.v[2], 0xa20bc7c6u);
  EXPECT_EQ(f.v[3], 0x6d5451fdu);
  Philox4 pi = philox4x32_10(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u,
                             0x299f31d0u);
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(Math, DropoutKeepRateAndStreamsIndependent) {
  RngKey a{7, 1, 2}, b{7, 1, 3};
  int kept = 0, same = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    bool ka = dropout_keep(a, i, 0.25f);
    kept += ka;
    same += ka == dropout_keep(b, i, 0.25f);
  }
  EXPECT_NEAR(kept / double(n), 0.75, 0.01);
  EXPECT_NEAR(same / double(n), 0.75 * 0.75 + 0.25 * 0.25, 0.01);  // independent streams
}

TEST(Math, NormalHasUnitVariance) {
  RngKey k{99, 0, 0};
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double x = philox_normal(k, i);
    s += x;
    s2 += x * x;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.02);
}

TEST(Math, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 1.0f / 256)), 1.0f);                  // tie -> even
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);     // tie -> even
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 1.5f / 256)), 1.0f + 2.0f / 256);     // above tie
  EXPECT_EQ(bf16_to_float(float_to_bf16(-2.0f - 1.0f / 64)), -2.0f - 1.0f / 64);  // exact
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  EXPECT_TRUE(std::isinf(bf16_to_float(float_to_bf16(INFINITY))));
}

template <class F, class G>
void expect_derivative(F f, G g, double x) {
  double h = 1e-6;
  double numeric = (f(x + h) - f(x - h)) / (2 * h);
  EXPECT_NEAR(g(x, 1.0), numeric, 1e-7 * std::max(1.0, std::fabs(numeric))) << "at x = " << x;
}

TEST(Math, ActivationValuesAndDerivatives) {
  EXPECT_NEAR(GeluTanh{}(1.0), 0.8411919906082768, 1e-12);
  EXPECT_NEAR(GeluErf{}(1.0), 0.8413447460685429, 1e-12);
  EXPECT_NEAR(GeluErf{}(-2.0), -0.04550026389635842, 1e-12);
  EXPECT_EQ(Relu{}(-1.0), 0.0);
  EXPECT_EQ(EluPlusOne{}(2.0), 3.0);
  EXPECT_NEAR(EluPlusOne{}(-1.0), std::exp(-1.0), 1e-15);
  for (double x : {-3.1, -0.7, 0.2, 1.3, 4.0}) {
    expect_derivative(GeluTanh{}, GeluTanhGrad{}, x);
    expect_derivative(GeluErf{}, GeluErfGrad{}, x);
    expect_derivative(EluPlusOne{}, EluPlusOneGrad{}, x);
    expect_derivative(Relu{}, ReluGrad{}, x);
    expect_derivative([](double v) { return std::tanh(v); },
                      [](double v, double dy) { return TanhGradFromY{}(std::tanh(v), dy); }, x);
    expect_derivative([](double v) { return std::exp(v); },
                      [](double v, double dy) { return ExpGradFromY{}(std::exp(v), dy); }, x);
  }
  expect_derivative([](double v) { return std::log(v); }, LogGrad{}, 2.5);
}

TEST(Math, RowTerms) {
  // LayerNorm of (1, 2, 3): mean 2, var 2/3.
  double rs = LayerNormTerms::rstd(2.0 / 3.0, 0.0);
  EXPECT_NEAR(LayerNormTerms::forward(3.0, 2.0, rs, 2.0, 0.5), 2.0 * std::sqrt(1.5) + 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(CrossEntropyTerms::target_weight(true, 0.1, 10.0), 0.91);
  EXPECT_DOUBLE_EQ(CrossEntropyTerms::target_weight(false, 0.1, 10.0), 0.01);
  EXPECT_DOUBLE_EQ(SoftmaxTerms::softmax_grad(0.5, 2.0, 1.0), 0.5);
}

TEST(Math, AdamWFirstStepMovesByLr) {
  // After one step m/(sqrt(v)) = sign(g): the parameter moves by about lr (plus decay).
  AdamWStep s{0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, 1 - 0.9f, 1 - 0.999f};
  float p = 1.0f, m = 0, v = 0;
  s(p, m, v, 0.5f);
  EXPECT_NEAR(p, 1.0f * (1 - 0.01f * 0.1f) - 0.01f, 1e-6);
  EXPECT_NEAR(m, 0.05f, 1e-7);
  EXPECT_NEAR(v, 0.00025f, 1e-8);
}

}  // namespace
}  // namespace st

namespace st {
namespace {

TEST(Math, FastExpAndTanhAreAccurate) {
  double worst_exp = 0, worst_tanh = 0;
  for (int i = -2000000; i <= 2000000; ++i) {
    float x = static_cast<float>(i) * 4.35e-5f;  // [-87, 87]
    double e = std::exp(static_cast<double>(x));
    worst_exp = std::max(worst_exp, std::fabs(fast_exp(x) - e) / e);
    float y = static_cast<float>(i) * 5e-6f;  // [-10, 10]
    double t = std::tanh(static_cast<double>(y));
    if (t != 0) worst_tanh = std::max(worst_tanh, std::fabs(fast_tanh(y) - t) / std::fabs(t));
  }
  EXPECT_LT(worst_exp, 3e-7);   // ~2.5 ulp of float
  double worst_erf = 0;
  for (int i = -400000; i <= 400000; ++i) {
    float x = static_cast<float>(i) * 1e-5f;  // [-4, 4]
    worst_erf = std::max(worst_erf, std::fabs(fast_erf(x) - std::erf(static_cast<double>(x))));
  }
  EXPECT_LT(worst_erf, 6e-7);  // A&S 7.1.26 (1.5e-7) plus float rounding
  EXPECT_LT(worst_tanh, 4e-7);
  EXPECT_EQ(fast_exp(-INFINITY), 0.0f);
  EXPECT_EQ(fast_exp(-100.0f), 0.0f);
  EXPECT_TRUE(std::isinf(fast_exp(100.0f)));
  EXPECT_EQ(fast_tanh(0.0f), 0.0f);
  EXPECT_EQ(fast_tanh(30.0f), 1.0f);
  EXPECT_EQ(fast_tanh(-30.0f), -1.0f);
}

}  // namespace
}  // namespace st
