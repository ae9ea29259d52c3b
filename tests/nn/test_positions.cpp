// Sinusoidal positions (model.positions: sinusoidal; core/math/positions.h): the table against
// the formula evaluated here in long double, far from the origin too; the model has no position
// parameters and its size does not depend on max_len; the rows a sequence-parallel rank adds are
// the global positions; and the cache hands out the same table until the rows change. The
// PyTorch fixture model_simpletron_sinusoidal_lm (test_model_reference) checks the whole model.
#include <gtest/gtest.h>

#include <cmath>

#include "core/math/positions.h"
#include "core/nn/model.h"

namespace st {
namespace {

TEST(Positions, SinusoidalTableFollowsTheFormula) {
  const int64_t d = 10;
  for (int64_t first : {int64_t{0}, int64_t{1000}, int64_t{1} << 20, (int64_t{1} << 30) - 3}) {
    Tensor t = sinusoidal_positions(first, 3, d, DType::F64, Device::cpu());
    auto v = t.to_vector<double>();
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t j = 0; j < d; ++j) {
        long double w = std::pow(10000.0L, -static_cast<long double>(2 * (j / 2)) / d);
        long double angle = static_cast<long double>(first + r) * w;
        double expect = kSinusoidAmplitude * static_cast<double>(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
        // Double's rounding of the angle p w_i (up to 2^30 radians) moves it by a few ulps of it.
        double tolerance = 1e-15 + 1e-15 * static_cast<double>(angle);
        EXPECT_NEAR(v[r * d + j], expect, tolerance) << "position " << first + r << " column " << j;
      }
  }
  auto f32 = sinusoidal_positions(5, 2, 4, DType::F32, Device::cpu()).to_vector<float>();
  EXPECT_EQ(f32[0], static_cast<float>(kSinusoidAmplitude * std::sin(5.0)));
  EXPECT_EQ(f32[1], static_cast<float>(kSinusoidAmplitude * std::cos(5.0)));
  EXPECT_NEAR(kSinusoidAmplitude, 0.02 * std::sqrt(2.0), 1e-17);
}

ModelConfig config(PositionKind positions, int64_t max_len) {
  ModelConfig c;
  c.task = TaskKind::LanguageModel;
  c.causal = true;
  c.vocab_size = 17;
  c.max_len = max_len;
  c.d_model = 8;
  c.heads = 2;
  c.layers = 1;
  c.d_ff = 16;
  c.dropout = 0.0f;
  c.positions = positions;
  return c;
}

TEST(Positions, SinusoidalModelHasNoPositionParameters) {
  SimpleTronModel small(config(PositionKind::Sinusoidal, 16)), huge(config(PositionKind::Sinusoidal, 1 << 20));
  EXPECT_EQ(small.parameter_count(), huge.parameter_count());
  EXPECT_EQ(small.parameter_count(), small.config().parameter_count());
  for (auto& [name, p] : huge.named_parameters()) EXPECT_NE(name, "embed.positions");
  SimpleTronModel learned(config(PositionKind::Learned, 16));
  EXPECT_EQ(learned.parameter_count(), small.parameter_count() + 16 * 8);
  // The other weights do not depend on the position kind.
  EXPECT_EQ(learned.embed->tokens.to_vector<float>(), small.embed->tokens.to_vector<float>());
}

TEST(Positions, SinusoidalRowsFollowTheTokenOffset) {
  SimpleTronModel m(config(PositionKind::Sinusoidal, 64));
  Tensor ids = Tensor::from_vector<int32_t>({3, 4, 5, 6, 7, 8, 9, 10}, {1, 8});
  RunContext whole;
  Tensor all = m.embed->forward(ids, whole);  // (1, 8, d)
  RunContext second;
  second.token_offset = 4;
  Tensor tail = m.embed->forward(ids.narrow(1, 4, 4).contiguous(), second);
  EXPECT_EQ(tail.to_vector<float>(), all.narrow(1, 4, 4).contiguous().to_vector<float>());
  // A different offset gives different rows.
  RunContext shifted;
  shifted.token_offset = 5;
  EXPECT_NE(m.embed->forward(ids.narrow(1, 4, 4).contiguous(), shifted).to_vector<float>(),
            tail.to_vector<float>());
}

TEST(Positions, RejectsAnOddWidth) {
  ModelConfig c = config(PositionKind::Sinusoidal, 16);
  c.d_model = 9;
  c.heads = 3;
  EXPECT_THROW(c.validate(), Error);
}

TEST(Positions, CacheKeepsOneTable) {
  SinusoidCache cache;
  const Tensor& a = cache.get(0, 4, 6, DType::F32, Device::cpu());
  const void* first = a.raw_data();
  EXPECT_EQ(cache.get(0, 4, 6, DType::F32, Device::cpu()).raw_data(), first);
  Tensor b = cache.get(2, 4, 6, DType::F32, Device::cpu());
  EXPECT_EQ(b.to_vector<float>(), sinusoidal_positions(2, 4, 6, DType::F32, Device::cpu()).to_vector<float>());
}

}  // namespace
}  // namespace st
