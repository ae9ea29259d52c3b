// The fused language-model head and cross-entropy (lm_head_cross_entropy) against the unfused
// path cross_entropy(matmul(h, W^T)): fp64 gradient checks over several row blocks, the f32
// values and gradients of the two paths, the argmax hits, the memory the fused op holds, and
// bad arguments.
#include "core/autograd/gradcheck.h"
#include "core/tensor/allocator.h"
#include "tests/core/test_util.h"
#include "tests/support/expect_error.h"

namespace st {
namespace {

using testing::bitwise_equal;
using testing::rand64;
using testing::rel_error;
using Inputs = std::vector<Tensor>;

// Labels in [0, vocab) with every `ignore_every`-th row set to `ignore` (0 = none ignored).
Tensor labels_of(int64_t rows, int64_t vocab, uint64_t seed, int32_t ignore, int64_t ignore_every) {
  std::vector<int32_t> v = Tensor::uniform({rows}, seed, 0, static_cast<double>(vocab), DType::I32).to_vector<int32_t>();
  for (int64_t r = 0; ignore_every > 0 && r < rows; r += ignore_every) v[static_cast<size_t>(r)] = ignore;
  return Tensor::from_vector<int32_t>(v, {rows});
}

TEST(LmHeadLoss, GradcheckOverSeveralBlocks) {
  // 7 rows in blocks of 3 (3, 3, 1), smoothing, an ignored label; per-row, summed and mean.
  Tensor labels = labels_of(7, 5, 11, -100, 4);
  for (Reduction red : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
    CrossEntropyOptions opt;
    opt.label_smoothing = 0.1;
    opt.reduction = red;
    GradcheckResult r = gradcheck(
        [&](const Inputs& x) { return lm_head_cross_entropy(x[0], x[1], labels, opt, 3).loss; },
        {rand64({7, 4}, 1), rand64({5, 4}, 2)});
    EXPECT_TRUE(r.ok) << r.message;
  }
}

// The fused and the unfused path on the same f32 rows: values, gradients and hits.
struct Paths {
  Tensor loss, hits, dh, dw;
};
Paths run_path(const Tensor& h0, const Tensor& w0, const Tensor& labels, const CrossEntropyOptions& opt,
               int64_t block_rows /* -1: unfused */) {
  Tensor h = h0.detach().clone(), w = w0.detach().clone();
  h.set_requires_grad(true);
  w.set_requires_grad(true);
  Paths p;
  if (block_rows < 0) {
    Tensor logits = matmul(h, w.transpose(0, 1));
    p.loss = cross_entropy(logits, labels, opt);
    p.hits = argmax_hits(logits.detach(), labels, opt.ignore_index);
  } else {
    LmHeadLoss f = lm_head_cross_entropy(h, w, labels, opt, block_rows);
    p.loss = f.loss;
    p.hits = f.hits;
  }
  sum_all(p.loss).backward();
  p.dh = h.grad();
  p.dw = w.grad();
  return p;
}

TEST(LmHeadLoss, MatchesTheUnfusedHeadAndLoss) {
  int64_t R = 300, d = 32, V = 1000;
  Tensor w = Tensor::randn({V, d}, 4, 0.3, DType::F32);
  Tensor labels = labels_of(R, V, 5, 0, 7);
  // Rows near their label's weight row, so that a good share of argmaxes hit.
  Tensor h = add(scale(embedding(w, labels), 2.0), Tensor::randn({R, d}, 3, 0.3, DType::F32)).detach();
  CrossEntropyOptions opt;
  opt.ignore_index = 0;
  opt.label_smoothing = 0.05;
  opt.reduction = Reduction::None;
  Paths ref = run_path(h, w, labels, opt, -1);
  EXPECT_GT(ref.hits.item(), 0.0);
  for (int64_t rows : {int64_t(1), int64_t(64), int64_t(299), int64_t(0)}) {
    Paths f = run_path(h, w, labels, opt, rows);
    SCOPED_TRACE("block_rows " + std::to_string(rows));
    // One block is the unfused computation itself: the same GEMM and the same loss kernel.
    // Smaller blocks give the GEMM other row counts, whose kernels may round a logit's dot
    // product differently in its last bit; dh and dW also sum over the blocks in another order.
    if (rows == 0) {
      EXPECT_TRUE(bitwise_equal(f.loss, ref.loss)) << rel_error(f.loss, ref.loss);
    }
    EXPECT_LE(rel_error(f.loss, ref.loss), 1e-6);
    EXPECT_EQ(f.hits.item(), ref.hits.item());
    EXPECT_LE(rel_error(f.dh, ref.dh), 1e-6);
    EXPECT_LE(rel_error(f.dw, ref.dw), 1e-6);
  }
}

TEST(LmHeadLoss, ReductionsAgreeWithCrossEntropy) {
  Tensor h = Tensor::randn({40, 8}, 6, 1.0, DType::F64), w = Tensor::randn({30, 8}, 7, 1.0, DType::F64);
  Tensor labels = labels_of(40, 30, 8, -100, 3);
  for (Reduction red : {Reduction::Sum, Reduction::Mean}) {
    CrossEntropyOptions opt;
    opt.reduction = red;
    Tensor fused = lm_head_cross_entropy(h, w, labels, opt, 16).loss;
    Tensor plain = cross_entropy(matmul(h, w.transpose(0, 1)), labels, opt);
    EXPECT_NEAR(fused.item(), plain.item(), 1e-12);
  }
}

TEST(LmHeadLoss, HoldsOneBlockOfLogitsNotAll) {
  // 4096 rows x 8192 classes: the unfused logits are 128 MiB (and their gradient as much
  // again); the fused op with 64-row blocks holds 2 MiB blocks.
  int64_t R = 4096, d = 16, V = 8192;
  Tensor h = Tensor::randn({R, d}, 9, 1.0, DType::F32), w = Tensor::randn({V, d}, 10, 0.1, DType::F32);
  h.set_requires_grad(true);
  w.set_requires_grad(true);
  Tensor labels = labels_of(R, V, 11, -100, 0);
  int64_t base = memory_stats().bytes_in_use;
  reset_peak_memory();
  {
    CrossEntropyOptions opt;
    opt.reduction = Reduction::Sum;
    lm_head_cross_entropy(h, w, labels, opt, 64).loss.backward();
  }
  int64_t fused_peak = memory_stats().peak_bytes - base;
  int64_t logits_bytes = R * V * 4, grads_bytes = (R + V) * d * 4, block_bytes = 64 * V * 4;
  // Beyond the gradients of h and W and a few per-row vectors: at most two blocks at a time.
  EXPECT_LE(fused_peak, grads_bytes + 2 * block_bytes + 64 * R * 4) << "peak " << fused_peak;
  h.zero_grad();
  w.zero_grad();
  base = memory_stats().bytes_in_use;
  reset_peak_memory();
  sum_all(cross_entropy(matmul(h, w.transpose(0, 1)), labels)).backward();
  EXPECT_GE(memory_stats().peak_bytes - base, logits_bytes) << "the unfused path should hold the logits";
}

TEST(LmHeadLoss, BadArgumentsAreNamed) {
  using testing::expect_error;
  Tensor h = Tensor::randn({4, 3}, 1, 1.0, DType::F32), w = Tensor::randn({5, 3}, 2, 1.0, DType::F32);
  Tensor good = Tensor::from_vector<int32_t>({0, 1, 2, 4}, {4});
  expect_error([&] { lm_head_cross_entropy(h, w, Tensor::from_vector<int32_t>({0, 1, 5, 4}, {4})); },
               {"lm_head_cross_entropy: label 5 at row 2 is outside [0, 5)"});
  expect_error([&] { lm_head_cross_entropy(h, Tensor::randn({5, 2}, 2, 1.0, DType::F32), good); },
               {"lm_head_cross_entropy", "(4, 3)", "(5, 2)"});
  expect_error([&] { lm_head_cross_entropy(h, w, Tensor::from_vector<int32_t>({0, 1, 2}, {3})); },
               {"lm_head_cross_entropy", "labels must be i32 (4)"});
  expect_error([&] { lm_head_cross_entropy(h, w, good, {}, -1); }, {"block_rows", "-1"});
}

TEST(LmHeadLoss, AutomaticBlockKeepsOneBlockWithinItsBudget) {
  EXPECT_EQ(lm_head_block_rows(65536, 32768), kLmHeadBlockElements / 32768);
  EXPECT_EQ(lm_head_block_rows(100, 256), 100);
  EXPECT_EQ(lm_head_block_rows(10, kLmHeadBlockElements * 4), 1);
  EXPECT_EQ(lm_head_block_rows(0, 256), 1);
}

}  // namespace
}  // namespace st
