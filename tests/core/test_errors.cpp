// Bad input: every mismatch is an st::Error whose message names the op and the shapes.
#include "tests/support/expect_error.h"
#include "tests/core/test_util.h"

namespace st {
namespace {

using testing::expect_error;

TEST(Errors, ShapeMismatchesNameOpAndShapes) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
  expect_error([&] { add(a, b); }, {"add", "(2, 3)", "(4, 5)"});
  expect_error([&] { matmul(a, b); }, {"matmul", "inner sizes", "(2, 3)", "(4, 5)"});
  expect_error([&] { matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 2})); },
               {"matmul", "batch"});
  expect_error([&] { a.reshape({5}); }, {"reshape", "(2, 3)", "(5,)"});
  expect_error([&] { a.narrow(1, 2, 2); }, {"narrow", "(2, 3)"});
  expect_error([&] { a.permute({0, 0}); }, {"permute"});
  expect_error([&] { layer_norm(a, Tensor::ones({2}), Tensor::zeros({2})); },
               {"layer_norm", "(2,)", "(2, 3)"});
  expect_error([&] { concat({a, b}, 0); }, {"concat", "(2, 3)", "(4, 5)"});
  expect_error([&] { a.size(2); }, {"dimension 2", "(2, 3)"});
}

TEST(Errors, DtypeMismatch) {
  expect_error([] { add(Tensor::zeros({2}), Tensor::zeros({2}, DType::F64)); },
               {"add", "f32", "f64"});
  expect_error([] { gelu(Tensor::zeros({2}, DType::I32)); }, {"gelu", "i32"});
  expect_error([] { embedding(Tensor::zeros({3, 2}), Tensor::zeros({2})); }, {"embedding", "i32"});
}

TEST(Errors, BackwardOnNonScalarWithoutGradient) {
  Tensor x = Tensor::ones({3}).set_requires_grad(true);
  expect_error([&] { scale(x, 2.0).backward(); }, {"backward", "non-scalar", "(3,)"});
  expect_error([&] { Tensor::ones({1}).backward(); }, {"backward", "does not require grad"});
  expect_error([&] { scale(x, 2.0).backward(Tensor::ones({4})); }, {"backward", "(4,)", "(3,)"});
}

TEST(Errors, EmbeddingIdOutOfRange) {
  Tensor table = Tensor::zeros({5, 2});
  expect_error([&] { embedding(table, Tensor::from_vector<int32_t>({1, 5}, {2})); },
               {"embedding", "id 5", "[0, 5)", "(5, 2)"});
  expect_error([&] { embedding(table, Tensor::from_vector<int32_t>({-1}, {1})); },
               {"embedding", "id -1"});
}

TEST(Errors, CrossEntropyBadLabels) {
  Tensor logits = Tensor::zeros({2, 3});
  expect_error([&] { cross_entropy(logits, Tensor::from_vector<int32_t>({0, 3}, {2})); },
               {"cross_entropy", "label 3", "row 1"});
  expect_error([&] { cross_entropy(logits, Tensor::from_vector<int32_t>({0}, {1})); },
               {"cross_entropy", "(2, 3)"});
}

TEST(Errors, BadArguments) {
  expect_error([] { dropout(Tensor::ones({2}), 1.0f, RngKey{}); }, {"dropout", "[0, 1)"});
  expect_error([] { sum(Tensor::ones({2, 2}), {0, 0}); }, {"sum", "axis 0"});
  expect_error([] { masked_fill(Tensor::ones({2, 3}), Tensor::ones({3, 3}, DType::I32), 0); },
               {"masked_fill", "(3, 3)"});
  expect_error([] { Tensor::zeros({-1}); }, {"negative"});
  expect_error([] { Tensor::ones({2}).item(); }, {"item", "(2,)"});
}

}  // namespace
}  // namespace st
