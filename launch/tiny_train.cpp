// st-tiny-train: a small end-to-end training run through the library, on data it generates.
// Task: sequences of random tokens; the label is the token found right after a marker token,
// somewhere in the sequence. Model: embedding + positions -> LayerNorm -> attention-free
// mixing (mean of GELU features gated by the marker) -> classifier. Plain SGD with momentum.
// Prints loss and accuracy as it trains and exits non-zero if it fails to learn.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/ops/ops.h"

namespace {

using namespace st;

constexpr int kVocab = 16;       // tokens 2..15 are data, 1 is the marker, 0 unused
constexpr int kClasses = 14;     // label = following data token - 2
constexpr int kLen = 32;
constexpr int kDim = 48;

struct Batch {
  Tensor ids;     // (B, N) i32
  Tensor marker;  // (B, N, 1) f32: 1 at the position after the marker
  Tensor labels;  // (B) i32
};

Batch make_batch(int B, uint64_t seed) {
  Tensor r = Tensor::uniform({B, kLen}, seed, 2, kVocab, DType::I32);
  Tensor pos = Tensor::uniform({B}, seed + 1, 0, kLen - 1, DType::I32);
  std::vector<int32_t> ids = r.to_vector<int32_t>(), where = pos.to_vector<int32_t>();
  std::vector<float> mark(B * kLen, 0.0f);
  std::vector<int32_t> labels(B);
  for (int b = 0; b < B; ++b) {
    for (int n = 0; n < kLen; ++n)
      if (ids[b * kLen + n] == 1) ids[b * kLen + n] = 2;
    ids[b * kLen + where[b]] = 1;
    labels[b] = ids[b * kLen + where[b] + 1] - 2;
    mark[b * kLen + where[b] + 1] = 1.0f;
  }
  return {Tensor::from_vector(ids, {B, kLen}), Tensor::from_vector(mark, {B, kLen, 1}),
          Tensor::from_vector(labels, {B})};
}

struct Model {
  Tensor tokens = Tensor::randn({kVocab, kDim}, 1, 0.5).set_requires_grad(true);
  Tensor ln_w = Tensor::ones({kDim}).set_requires_grad(true);
  Tensor ln_b = Tensor::zeros({kDim}).set_requires_grad(true);
  Tensor w1 = Tensor::randn({kDim, 4 * kDim}, 2, 0.15).set_requires_grad(true);
  Tensor w2 = Tensor::randn({4 * kDim, kClasses}, 3, 0.07).set_requires_grad(true);
  std::vector<Tensor> params() { return {tokens, ln_w, ln_b, w1, w2}; }

  Tensor logits(const Batch& b, uint64_t step, bool training) {
    Tensor h = embedding(tokens, b.ids);                              // (B, N, d)
    h = layer_norm(h, ln_w, ln_b, 1e-6);
    h = sum(mul(h, b.marker), {1});                                   // (B, d)
    h = dropout(gelu(matmul(h, w1)), 0.1f, RngKey{7, static_cast<uint32_t>(step), 1}, training);
    return matmul(h, w2);                                             // (B, classes)
  }
};

double accuracy(const Tensor& logits, const Tensor& labels) {
  auto l = logits.to_vector<float>();
  auto y = labels.to_vector<int32_t>();
  int64_t C = logits.size(1), right = 0;
  for (size_t r = 0; r < y.size(); ++r) {
    int64_t best = 0;
    for (int64_t c = 1; c < C; ++c)
      if (l[r * C + c] > l[r * C + best]) best = c;
    right += best == y[r];
  }
  return static_cast<double>(right) / static_cast<double>(y.size());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    int steps = argc > 1 ? std::stoi(argv[1]) : 300;
    const int batch = 64;
    const double lr = 0.02, momentum = 0.9;
    Model model;
    std::vector<Tensor> velocity;
    for (auto& p : model.params()) velocity.push_back(Tensor::zeros(p.shape()));
    Batch val = make_batch(1024, 999999);
    auto t0 = std::chrono::steady_clock::now();
    std::printf("st-tiny-train: %d steps, batch %d, %d classes (chance %.1f%%), %d threads\n",
                steps, batch, kClasses, 100.0 / kClasses, num_threads());
    double acc = 0;
    for (int step = 1; step <= steps; ++step) {
      Batch b = make_batch(batch, 1000 + 2 * step);
      Tensor loss = cross_entropy(model.logits(b, step, true), b.labels);
      for (auto& p : model.params()) p.zero_grad();
      loss.backward();
      {
        NoGradGuard ng;
        auto ps = model.params();
        for (size_t i = 0; i < ps.size(); ++i) {
          velocity[i] = add(scale(velocity[i], momentum), ps[i].grad());
          copy_into(ps[i], sub(ps[i].detach(), scale(velocity[i], lr)));
        }
      }
      if (step % 50 == 0 || step == steps) {
        NoGradGuard ng;
        acc = accuracy(model.logits(val, 0, false), val.labels);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("step %4d/%d  loss %.5f  val acc %5.1f%%  %.1fs\n", step, steps, loss.item(),
                    100 * acc, secs);
        std::fflush(stdout);
      }
    }
    if (acc < 0.5) {
      std::fprintf(stderr, "st-tiny-train: validation accuracy %.1f%% is below 50%%\n", 100 * acc);
      return 1;
    }
    std::printf("st-tiny-train: done, validation accuracy %.1f%%\n", 100 * acc);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "st-tiny-train: error: %s\n", e.what());
    return 1;
  }
}
