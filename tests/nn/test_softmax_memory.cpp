// The softmax baseline's memory in N: the activation estimate (core/nn/memory_estimate.h) is
// linear for the fused attention with padding at the ends of the sequences and quadratic where an
// N x N buffer exists, and the masks built for a padded batch (core/nn/attention_masks.h) are
// O(N) with lengths exactly where the padding is at the ends.
#include <gtest/gtest.h>

#include <vector>

#include "core/nn/attention_masks.h"
#include "core/nn/memory_estimate.h"

namespace st {
namespace {

ModelConfig softmax_config() {
  ModelConfig c;
  c.attention = AttentionKind::Softmax;
  c.vocab_size = 256;
  c.max_len = 1 << 20;
  c.d_model = 64;
  c.heads = 4;
  c.layers = 3;
  c.d_ff = 128;
  return c;
}

double activations(const ModelConfig& c, int64_t n, const SoftmaxMemoryPath& path) {
  return estimate_activations(c, 2, n, 1, path).total();
}

TEST(SoftmaxMemory, FusedWithPaddingAtTheEndsIsLinearInN) {
  ModelConfig c = softmax_config();
  SoftmaxMemoryPath fused;
  fused.fused = true;
  for (int64_t n : {1024, 65536, 1 << 20})
    EXPECT_DOUBLE_EQ(activations(c, 2 * n, fused), 2 * activations(c, n, fused)) << "N " << n;
}

TEST(SoftmaxMemory, NByNBuffersAreCountedWhereTheyExist) {
  ModelConfig c = softmax_config();
  SoftmaxMemoryPath unfused, bias, workspace;
  bias.fused = workspace.fused = true;
  bias.padding_inside = true;
  const int64_t n = 4096;
  workspace.dp_workspace_bytes = 2.0 * c.heads * n * n * 2;  // B H N^2 bf16 at B = 2
  SoftmaxMemoryPath fused;
  fused.fused = true;
  double linear = activations(c, n, fused);
  // unfused: layers x B H N^2 f32 probabilities saved, plus 3 such buffers while a layer runs
  ModelConfig no_softmax = c;
  no_softmax.attention = AttentionKind::SimpleTron;
  double blocks = activations(no_softmax, n, unfused);
  EXPECT_DOUBLE_EQ(activations(c, n, unfused) - blocks, (3.0 + 3.0) * 2 * c.heads * double(n) * n * 4);
  EXPECT_DOUBLE_EQ(activations(c, n, bias) - linear, 3.0 * 2 * double(n) * n * 2);  // layers x B N^2 bf16
  EXPECT_DOUBLE_EQ(activations(c, n, workspace) - linear, workspace.dp_workspace_bytes);
  EXPECT_GT(activations(c, 2 * n, unfused), 3.5 * activations(c, n, unfused));
}

TEST(SoftmaxMemory, OtherKindsIgnoreTheSoftmaxPath) {
  ModelConfig c = softmax_config();
  c.attention = AttentionKind::SimpleTron;
  SoftmaxMemoryPath bias;
  bias.fused = bias.padding_inside = true;
  EXPECT_DOUBLE_EQ(activations(c, 4096, bias), activations(c, 4096, SoftmaxMemoryPath{}));
  EXPECT_DOUBLE_EQ(estimate_activations(c, 2, 4096, 4, {}).total(), activations(c, 4096, {}) / 4);
}

// Example 0 has 5 tokens then padding, example 1 is full; with a CLS position prepended.
Tensor suffix_padded_ids(int64_t n) {
  std::vector<int32_t> ids(static_cast<size_t>(2 * n), 7);
  for (int64_t j = 5; j < n; ++j) ids[static_cast<size_t>(j)] = 0;
  return Tensor::from_vector(ids, {2, n});
}

int64_t mask_elements(const AttentionMasks& m) {
  int64_t total = 0;
  for (const Tensor* t : {&m.valid, &m.example_scale, &m.position_scale, &m.key_padding, &m.key_lengths,
                          &m.causal_mask})
    if (t->defined()) total += t->numel();
  return total;
}

TEST(SoftmaxMemory, KeyLengthsWhenThePaddingIsAtTheEnds) {
  ModelConfig c = softmax_config();
  MaskCache cache;
  RunContext ctx;
  ctx.padding_at_end = true;
  AttentionMasks m = make_attention_masks(suffix_padded_ids(64), true, c, DType::F32, Device::cpu(), ctx, cache);
  ASSERT_TRUE(m.key_lengths.defined());
  EXPECT_EQ(m.key_lengths.shape(), Shape({2, 1, 1, 1}));
  EXPECT_EQ(m.key_lengths.dtype(), DType::I32);
  EXPECT_EQ(m.key_lengths.to_vector<int32_t>(), (std::vector<int32_t>{6, 65}));  // CLS + tokens
  // The key mask agrees: exactly the keys at or beyond the length are padding.
  std::vector<int32_t> padding = m.key_padding.to_vector<int32_t>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t j = 0; j < 65; ++j)
      EXPECT_EQ(padding[static_cast<size_t>(b * 65 + j)], j >= (b == 0 ? 6 : 65) ? 1 : 0) << b << " " << j;
  ctx.padding_at_end = false;
  EXPECT_FALSE(make_attention_masks(suffix_padded_ids(64), true, c, DType::F32, Device::cpu(), ctx, cache)
                   .key_lengths.defined());
  c.attention = AttentionKind::SimpleTron;
  ctx.padding_at_end = true;
  EXPECT_FALSE(make_attention_masks(suffix_padded_ids(64), true, c, DType::F32, Device::cpu(), ctx, cache)
                   .key_lengths.defined());
}

TEST(SoftmaxMemory, PaddedMasksAreLinearInN) {
  ModelConfig c = softmax_config();
  MaskCache cache;
  RunContext ctx;
  ctx.padding_at_end = true;
  int64_t small = mask_elements(make_attention_masks(suffix_padded_ids(512), true, c, DType::F32, Device::cpu(),
                                                     ctx, cache));
  int64_t large = mask_elements(make_attention_masks(suffix_padded_ids(1024), true, c, DType::F32, Device::cpu(),
                                                     ctx, cache));
  EXPECT_LE(large, 2 * small);
}

}  // namespace
}  // namespace st
