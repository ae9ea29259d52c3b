// Every PyTorch model fixture of test_model_reference on CUDA: the model built and loaded on the
// CPU, moved with Module::to(cuda:0), the batch copied, one forward and backward pass.
// - fp32: logits and loss within 1e-5 and every parameter gradient within 1e-4 of the fixture
//   (relative to the largest reference magnitude), vanishing gradients below 1e-6 of the largest:
//   the CPU test's tolerances, since on CUDA only the summation order changes (~1e-6).
// - bf16 (PrecisionScope(Precision::BF16): matrix products round their operands to bf16 and
//   accumulate in f32) against the same f32 fixture, within the bf16 tolerances argued in
//   tests/support/model_fixture.h and exercised on the CPU emulation by test_model_bf16.
// Every test skips, with the reason, when no CUDA device is visible.
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/support/cuda_compare.h"
#include "tests/support/model_fixture.h"

namespace st {
namespace {

using testing::cuda0;
using testing::FixtureErrors;
using testing::run_model_fixture;

class ModelOnCuda : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelOnCuda, Fp32MatchesPyTorch) {
  ST_REQUIRE_CUDA();
  FixtureErrors e = run_model_fixture(GetParam(), cuda0(), Precision::FP32);
  EXPECT_LE(e.logits, 1e-5);
  EXPECT_LE(e.loss, 1e-5);
  EXPECT_LE(e.grads, 1e-4) << "worst: gradient of " << e.worst_grad;
  EXPECT_LT(e.vanishing, 1e-6) << "a gradient that vanishes in the reference does not here";
  EXPECT_EQ(e.missing_grads, "") << "parameters without a gradient";
  std::printf("[ cuda fp32 ] %-26s logits %.1e  loss %.1e  grads %.1e (%s)\n", GetParam().c_str(),
              e.logits, e.loss, e.grads, e.worst_grad.c_str());
}

TEST_P(ModelOnCuda, Bf16MatchesPyTorchWithinBf16Tolerance) {
  ST_REQUIRE_CUDA();
  FixtureErrors e = run_model_fixture(GetParam(), cuda0(), Precision::BF16);
  testing::expect_within_bf16_tolerance(e);
  std::printf("[ cuda bf16 ] %-26s logits %.1e  loss %.1e  grads %.1e (%s)  vanishing %.1e\n",
              GetParam().c_str(), e.logits, e.loss, e.grads, e.worst_grad.c_str(), e.vanishing);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelOnCuda, ::testing::ValuesIn(testing::model_fixture_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace st
