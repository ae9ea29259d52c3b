// Forward values of ops against hand-computed cases, and dropout's slicing property.
#include "core/math/segments.h"
#include "tests/core/test_util.h"

namespace st {
namespace {

TEST(OpsForward, BroadcastArithmetic) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector<float>({10, 20, 30}, {3});
  Tensor c = Tensor::from_vector<float>({2, 4}, {2, 1});
  testing::expect_values(add(a, b), {11, 22, 33, 14, 25, 36}, 0);
  testing::expect_values(sub(a, c), {-1, 0, 1, 0, 1, 2}, 0);
  testing::expect_values(mul(a, c), {2, 4, 6, 16, 20, 24}, 0);
  testing::expect_values(div(b, c), {5, 10, 15, 2.5, 5, 7.5}, 1e-6);
  testing::expect_values(add_scalar(scale(a, 2), 1), {3, 5, 7, 9, 11, 13}, 0);
}

TEST(OpsForward, MatmulSmallCases) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector<float>({1, 0, 0, 1, 1, 1}, {3, 2});
  testing::expect_values(matmul(a, b), {4, 5, 10, 11}, 0);
  testing::expect_values(matmul(a, a.transpose(0, 1)), {14, 32, 32, 77}, 0);
  Tensor batch = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  Tensor eye = Tensor::from_vector<float>({0, 1, 1, 0}, {2, 2});
  testing::expect_values(matmul(batch, eye), {2, 1, 4, 3, 6, 5, 8, 7}, 0);
}

TEST(OpsForward, Reductions) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  testing::expect_values(sum(a, {0}), {5, 7, 9}, 0);
  testing::expect_values(sum(a, {1}), {6, 15}, 0);
  testing::expect_values(mean(a, {0, 1}), {3.5}, 1e-6);
  EXPECT_EQ(sum(a, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_DOUBLE_EQ(sum_all(a).item(), 21);
}

TEST(OpsForward, SoftmaxLayerNormCrossEntropy) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}, {1, 3});
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  testing::expect_values(softmax(x), {std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z}, 1e-12);
  testing::expect_values(log_softmax(x), {1 - std::log(z), 2 - std::log(z), 3 - std::log(z)}, 1e-12);
  Tensor w = Tensor::ones({3}, DType::F64), b = Tensor::zeros({3}, DType::F64);
  double r = std::sqrt(1.5);
  testing::expect_values(layer_norm(x, w, b, 1e-12), {-r, 0, r}, 1e-9);
  Tensor labels = Tensor::from_vector<int32_t>({2}, {1});
  EXPECT_NEAR(cross_entropy(x, labels).item(), std::log(z) - 3, 1e-12);
  CrossEntropyOptions smooth;
  smooth.label_smoothing = 0.3;
  // q = (0.1, 0.1, 0.8): loss = lse - sum q x
  EXPECT_NEAR(cross_entropy(x, labels, smooth).item(), std::log(z) - (0.1 + 0.2 + 2.4), 1e-12);
  Tensor ignored = Tensor::from_vector<int32_t>({-100}, {1});
  EXPECT_EQ(cross_entropy(x, ignored, {.reduction = Reduction::Sum}).item(), 0.0);
}

TEST(OpsForward, MeanCrossEntropySkipsIgnoredRows) {
  Tensor x = Tensor::from_vector<double>({0, 0, 5, 1}, {2, 2});
  Tensor labels = Tensor::from_vector<int32_t>({0, -100}, {2});
  EXPECT_NEAR(cross_entropy(x, labels).item(), std::log(2.0), 1e-12);
}

TEST(OpsForward, FullyMaskedSoftmaxRowIsZero) {
  Tensor x = Tensor::zeros({1, 4}, DType::F64);
  Tensor m = masked_fill(x, Tensor::ones({1, 4}, DType::I32), -INFINITY);
  testing::expect_values(softmax(m), {0, 0, 0, 0}, 0);
  testing::expect_values(softmax(x), {0.25, 0.25, 0.25, 0.25}, 1e-15);
}

TEST(OpsForward, EmbeddingGathersRows) {
  Tensor table = Tensor::from_vector<float>({0, 1, 10, 11, 20, 21}, {3, 2});
  Tensor ids = Tensor::from_vector<int32_t>({2, 0, 2}, {3});
  testing::expect_values(embedding(table, ids), {20, 21, 0, 1, 20, 21}, 0);
}

// The embedding backward's order (core/math/segments.h), written out the slow way: for each id,
// its tokens in order, cut where the sorted index crosses a multiple of kSegmentPiece.
TEST(OpsForward, EmbeddingBackwardAddsRunsPieceByPiece) {
  const int64_t V = 5, D = 3, T = 3 * kSegmentPiece + 17;
  std::vector<int32_t> id_values(T);
  for (int64_t t = 0; t < T; ++t) id_values[t] = t % 7 == 0 ? 3 : (t % 4 == 0 ? 1 : 0);
  Tensor ids = Tensor::from_vector(id_values, {T});
  Tensor dout = Tensor::randn({T, D}, 21);
  Tensor dtable = Tensor::randn({V, D}, 22);
  std::vector<float> g = dout.to_vector<float>(), expected = dtable.to_vector<float>();
  int64_t sorted_index = 0;
  for (int32_t id = 0; id < V; ++id) {
    std::vector<int64_t> tokens;
    for (int64_t t = 0; t < T; ++t)
      if (id_values[t] == id) tokens.push_back(t);
    if (tokens.empty()) continue;
    for (int64_t j = 0; j < D; ++j) {
      std::vector<float> pieces;
      float piece = 0;
      for (size_t k = 0; k < tokens.size(); ++k) {
        if (k > 0 && (sorted_index + int64_t(k)) % kSegmentPiece == 0) {
          pieces.push_back(piece);
          piece = 0;
        }
        piece += g[tokens[k] * D + j];
      }
      pieces.push_back(piece);
      float total = pieces[0];
      if (pieces.size() > 1) {
        total = 0;
        for (float p : pieces) total += p;
      }
      expected[id * D + j] += total;
    }
    sorted_index += static_cast<int64_t>(tokens.size());
  }
  for (int threads : {1, 2}) {
    int before = num_threads();
    set_num_threads(threads);
    Tensor got = dtable.clone();
    cpu_backend().embedding_backward(ids, dout, got);
    set_num_threads(before);
    testing::expect_values(got, std::vector<double>(expected.begin(), expected.end()), 0);
  }
}

TEST(OpsForward, DropoutScalesKeptElementsAndDropsAboutP) {
  Tensor x = Tensor::ones({100, 100});
  Tensor y = dropout(x, 0.2f, RngKey{1, 2, 3});
  int zeros = 0;
  for (float v : y.to_vector<float>()) {
    if (v == 0) ++zeros;
    else EXPECT_FLOAT_EQ(v, 1.25f);
  }
  EXPECT_NEAR(zeros / 10000.0, 0.2, 0.02);
  EXPECT_TRUE(dropout(x, 0.2f, RngKey{1, 2, 3}, /*training=*/false).same_storage(x));
}

TEST(OpsForward, DropoutOfASliceMatchesTheSliceOfDropout) {
  // A rank holding columns [5, 12) of a (3, 20, 4) tensor drops what one process would.
  Tensor full = Tensor::randn({3, 20, 4}, 9);
  RngKey key{11, 4, 2};
  Tensor whole = dropout(full, 0.4f, key);
  GlobalIndexMap map;
  map.ndim = 3;
  map.offset[1] = 5;
  map.global_strides[0] = 80;
  map.global_strides[1] = 4;
  map.global_strides[2] = 1;
  Tensor part = dropout(full.narrow(1, 5, 7), 0.4f, key, true, map);
  EXPECT_TRUE(testing::bitwise_equal(part, whole.narrow(1, 5, 7)));
}

TEST(OpsForward, ConcatAndNarrow) {
  Tensor a = Tensor::from_vector<float>({1, 2}, {1, 2});
  Tensor b = Tensor::from_vector<float>({3, 4, 5, 6}, {2, 2});
  Tensor c = concat({a, b}, 0);
  testing::expect_values(c, {1, 2, 3, 4, 5, 6}, 0);
  testing::expect_values(concat({a, a}, 1), {1, 2, 1, 2}, 0);
  testing::expect_values(c.narrow(0, 1, 2).narrow(1, 1, 1), {4, 6}, 0);
}

}  // namespace
}  // namespace st
