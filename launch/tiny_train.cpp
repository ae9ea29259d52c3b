// st-tiny-train: a small end-to-end SimpleTRON training run on data it generates, on the CPU.
// Task ("marked token"): sequences of tokens 1..8 with one marked token (9..16 = value + 8) at
// a random position; the label is the marked value, so the CLS token must find one token among
// N. Model: SimpleTRON classifier (2 layers, d 32, 4 heads), AdamW with a cosine schedule.
// Prints loss and validation accuracy as it trains; exits non-zero if it fails to learn.
//   st-tiny-train [steps] [length] [attention]     defaults: 300 64 simpletron
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/backend/thread_policy.h"
#include "core/nn/model.h"
#include "core/optim/adamw.h"
#include "core/optim/schedule.h"
#include "launch/cli.h"

namespace {

using namespace st;

constexpr int kValues = 8;

struct Batch {
  Tensor ids, labels;  // (B, N) i32, (B) i32
};

Batch marked_batch(int64_t B, int64_t N, uint64_t seed) {
  auto vals = Tensor::uniform({B, N}, seed, 1, kValues + 1, DType::I32).to_vector<int32_t>();
  auto pos = Tensor::uniform({B}, seed + 1, 0, N, DType::I32).to_vector<int32_t>();
  auto lab = Tensor::uniform({B}, seed + 2, 0, kValues, DType::I32).to_vector<int32_t>();
  for (int64_t b = 0; b < B; ++b) vals[b * N + pos[b]] = lab[b] + kValues + 1;
  return {Tensor::from_vector(vals, {B, N}), Tensor::from_vector(lab, {B})};
}

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
  int steps = 300;
  int64_t length = 64;
  std::string attention = "simpletron";
  CLI::App app{"st-tiny-train: a small SimpleTRON training run on data it generates (CPU); fails if it does not learn"};
  app.add_option("steps", steps, "training steps")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("length", length, "sequence length")->check(CLI::Range(int64_t{2}, int64_t{1} << 20))->capture_default_str();
  app.add_option("attention", attention, "attention kind: " + kAttentionKindNames.joined())
      ->check(CLI::IsMember(kAttentionKindNames.names()))
      ->capture_default_str();
  if (int code = parse_command_line(app, argc, argv, "st-tiny-train"); code >= 0) return code;
  try {
    ModelConfig cfg;
    cfg.vocab_size = 2 * kValues + 1;
    cfg.max_len = length;
    cfg.num_classes = kValues;
    cfg.d_model = 32;
    cfg.heads = 4;
    cfg.layers = 2;
    cfg.d_ff = 64;
    cfg.dropout = 0.0f;
    cfg.attention = parse_attention(attention);
    apply_threads_alone(0);
    SimpleTronModel model(cfg);
    AdamW opt(model.named_parameters(), AdamWConfig{.weight_decay = 0.01});
    LrSchedule sched{.kind = ScheduleKind::Cosine, .lr = 3e-3, .warmup = 20, .total_steps = steps};
    const int64_t batch = 32;
    Batch val = marked_batch(512, length, 999);
    std::printf("st-tiny-train: %s attention, %lld parameters, %d steps of batch %lld, length %lld, "
                "%d classes (chance %.1f%%), %d threads\n",
                name_of(cfg.attention), static_cast<long long>(model.parameter_count()), steps,
                static_cast<long long>(batch), static_cast<long long>(length), kValues,
                100.0 / kValues, num_threads());
    auto t0 = std::chrono::steady_clock::now();
    double acc = 0;
    for (int step = 1; step <= steps; ++step) {
      Batch b = marked_batch(batch, length, 100 + 3 * step);
      opt.zero_grad();
      RunContext ctx{.seed = 1, .step = static_cast<uint32_t>(step)};
      Tensor loss = model.loss(model.forward(b.ids, Tensor(), ctx), b.labels);
      loss.backward();
      double norm = clip_grad_norm(model.parameters(), 1.0);
      opt.step(sched.at(step));
      if (step % 50 == 0 || step == steps) {
        model.eval();
        {
          NoGradGuard ng;
          acc = accuracy(model.forward(val.ids, Tensor(), RunContext{}), val.labels);
        }
        model.train();
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("step %4d/%d  loss %.4f  grad norm %.3f  lr %.2e  val acc %5.1f%%  %.1fs\n", step,
                    steps, loss.item(), norm, sched.at(step), 100 * acc, secs);
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
