// Every PyTorch model fixture (f32 reference) run on the CPU in bf16 compute precision
// (PrecisionScope(BF16): the CPU emulation of bf16 matrix products with f32 accumulation), so
// that the bf16 tolerances argued in tests/support/model_fixture.h, which test_model_cuda uses
// on the GPU, are exercised on every machine. Per fixture: the bf16 errors are within those
// tolerances and above f32 rounding (so bf16 really ran), and a deliberately wrong model (the
// first block's attention output doubled: a missing factor 1/2 in the attention scale) run in
// f32 misses the fixture by more than the tolerances and by over 4x the bf16 error.
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/support/model_fixture.h"

namespace st {
namespace {

using testing::FixtureErrors;
using testing::kBf16Model;
using testing::run_model_fixture;

class ModelBf16Emulation : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelBf16Emulation, MatchesPyTorchWithinBf16Tolerance) {
  FixtureErrors e = run_model_fixture(GetParam(), Device::cpu(), Precision::BF16);
  testing::expect_within_bf16_tolerance(e);
  // f32 agrees with the fixture to ~1e-6 (test_model_reference): larger errors show that the
  // products were rounded.
  EXPECT_GT(e.logits, 1e-4) << "bf16 logits as exact as f32: was bf16 used?";
  std::printf("[ cpu bf16  ] %-26s logits %.1e  loss %.1e  grads %.1e of the largest\n",
              GetParam().c_str(), e.logits, e.loss, e.grads_global);
}

TEST_P(ModelBf16Emulation, ToleranceCatchesAMissingAttentionScale) {
  // The attention output is linear in V for every attention kind: V's projection doubled is
  // the attention output doubled.
  auto w = testing::scale_parameter("blocks.0.attn.v.weight", 2.0);
  auto b = testing::scale_parameter("blocks.0.attn.v.bias", 2.0);
  FixtureErrors wrong = run_model_fixture(GetParam(), Device::cpu(), Precision::FP32,
                                          [&](SimpleTronModel& m) { w(m); b(m); });
  FixtureErrors bf16 = run_model_fixture(GetParam(), Device::cpu(), Precision::BF16);
  EXPECT_GT(wrong.logits, kBf16Model.logits);
  EXPECT_GT(wrong.grads_global, kBf16Model.grads_global);
  EXPECT_GT(wrong.logits, 4 * bf16.logits);
  EXPECT_GT(wrong.grads_global, 4 * bf16.grads_global);
  std::printf("[ wrong f32 ] %-26s logits %.1e  grads %.1e of the largest (bf16: %.1e, %.1e)\n",
              GetParam().c_str(), wrong.logits, wrong.grads_global, bf16.logits, bf16.grads_global);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelBf16Emulation,
                         ::testing::ValuesIn(testing::model_fixture_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace st
