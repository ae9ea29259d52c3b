// st-eval: loss and accuracy of a checkpoint on any split.
//   st-eval --checkpoint FILE --data GLOB [--dump OUT.h5] [--batch N] [--teacher FILE]
//           [--device cpu|cuda|auto] [--precision fp32|bf16] [--threads N]
// The model is rebuilt from the config stored in the checkpoint. --dump writes, per example in
// split order, the logits (/logits (examples, classes), or (examples, length, vocab) for
// language models) and the labels (/labels).
// Embedding models (model.task: embedding) are compared with their teacher (--teacher, default
// the checkpoint's distill.teacher): loss 1 - cosine, mean cosine, retrieval top-1 (is the
// nearest teacher embedding the sentence's own?) and the Spearman correlation of pairwise
// similarities (launch/embedding_metrics.h); --dump writes /embeddings and /teacher_embeddings.
// --device cuda runs the model(s) on CUDA device 0 (auto: cuda when there is one); --precision
// bf16 evaluates with bf16 matrix products, as a bf16 training run's evaluations do. CPU threads
// follow the thread policy (core/backend/thread_policy.h; --threads overrides it), reported on
// stderr so that stdout keeps the result lines alone.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/nn/model.h"
#include "core/ops/precision.h"
#include "data/h5.h"
#include "data/loader.h"
#include "distributed/mpi_communicator.h"
#include "distributed/thread_setup.h"
#include "launch/checkpoint.h"
#include "launch/config/schema.h"
#include "launch/device.h"
#include "launch/embedding_metrics.h"
#include "launch/trainer.h"
#include "launch/cli.h"

int main(int argc, char** argv) {
  using namespace st;
  MpiEnvironment env(&argc, &argv);
  CLI::App app{"st-eval: evaluate a checkpoint on a split"};
  std::string ckpt, data, dump;
  int64_t batch = 32;
  app.add_option("--checkpoint", ckpt, "Checkpoint file (RUN/checkpoints/best.h5 or step-*.h5)")->required();
  app.add_option("--data", data, "Shards to evaluate (glob)")->required();
  app.add_option("--dump", dump, "Write logits and labels per example to this HDF5 file");
  app.add_option("--batch", batch, "Examples per batch")->check(CLI::PositiveNumber);
  std::string teacher_path;
  app.add_option("--teacher", teacher_path, "Embedding models: the teacher (default: the stored distill.teacher)");
  std::string device_setting = "cpu", precision_setting = "fp32";
  app.add_option("--device", device_setting, "cpu | cuda | auto (cuda device 0; auto: cuda when the build has CUDA and a device is visible)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  app.add_option("--precision", precision_setting, "fp32 | bf16 (bf16 matrix products with fp32 accumulation)")
      ->check(CLI::IsMember(kPrecisionNames.names()));
  int64_t threads = 0;
  app.add_option("--threads", threads, "CPU threads (0: automatic; see the config key threads)")
      ->check(CLI::Range(0, 65536))->capture_default_str();
  if (int code = parse_command_line(app, argc, argv, "st-eval"); code >= 0) return code;
  try {
    ThreadSetup thread_setup = setup_threads(threads, nullptr);
    for (const std::string& line : thread_setup.lines) std::fprintf(stderr, "st-eval: %s\n", line.c_str());
    for (const std::string& line : thread_setup.warnings) std::fprintf(stderr, "st-eval: %s\n", line.c_str());
    Device device = choose_device(device_setting, cuda_built(), cuda_device_count(), 0).device;
    PrecisionScope precision(parse_precision(precision_setting));
    auto on_device = [&](const Tensor& t) { return t.defined() ? t.to(device) : t; };
    CheckpointState saved = load_checkpoint(ckpt, nullptr, nullptr);
    TrainConfig cfg = train_config_from_yaml(saved.config_yaml, ckpt + " (stored config)");
    cfg.data.train = data;  // check the split against the model the same way training does
    cfg.data.val.clear();
    cfg.data.test.clear();
    ModelConfig stored = cfg.model;
    resolve_against_data(cfg);
    SimpleTronModel model(stored);
    load_checkpoint(ckpt, &model, nullptr);
    model.eval();
    model.to(device);
    LoaderConfig lc;
    lc.glob = data;
    lc.batch_size = batch;
    lc.training = false;
    Loader loader(lc);
    NoGradGuard ng;
    if (stored.task == TaskKind::Embedding) {
      if (teacher_path.empty()) teacher_path = cfg.distill.teacher;
      ST_CHECK(!teacher_path.empty(), "--teacher: ", ckpt, " is an embedding model without a stored distill.teacher; "
               "name the teacher");
      std::unique_ptr<SimpleTronModel> teacher = load_model(teacher_path);
      teacher->to(device);
      ST_CHECK(teacher->config().d_model == stored.d_model, "--teacher: ", teacher_path, " has d_model ",
               teacher->config().d_model, ", the model ", stored.d_model);
      std::vector<float> emb, temb;
      Batch b;
      while (loader.next(b)) {
        if (b.valid == 0) continue;
        Tensor ids = on_device(b.inputs.narrow(0, 0, b.valid).contiguous());
        auto s = model.forward(ids, Tensor(), RunContext{}).contiguous().to_vector<float>();
        auto t = teacher->forward(ids, Tensor(), RunContext{}).contiguous().to_vector<float>();
        emb.insert(emb.end(), s.begin(), s.end());
        temb.insert(temb.end(), t.begin(), t.end());
      }
      EmbeddingAgreement a = embedding_agreement(emb, temb, stored.d_model);
      std::printf("st-eval: %s on %s against %s: loss %.4f, cosine %.4f, retrieval top-1 %.2f%%, similarity "
                  "Spearman %.4f over %lld sentences\n", ckpt.c_str(), data.c_str(), teacher_path.c_str(),
                  1 - a.mean_cosine, a.mean_cosine, 100 * a.retrieval_top1, a.similarity_spearman,
                  static_cast<long long>(a.rows));
      if (!dump.empty()) {
        h5::write_file_atomically(dump, [&](h5::File& f) {
          f.write_f32("embeddings", {a.rows, stored.d_model}, emb.data());
          f.write_f32("teacher_embeddings", {a.rows, stored.d_model}, temb.data());
          f.set_attribute("checkpoint", ckpt);
          f.set_attribute("teacher", teacher_path);
          f.set_attribute("data", data);
        });
        std::printf("st-eval: embeddings of %lld sentences written to %s\n", static_cast<long long>(a.rows), dump.c_str());
      }
      return 0;
    }
    double loss_sum = 0, counted = 0, right = 0, acc_n = 0;
    std::vector<float> logits_out;
    std::vector<int32_t> labels_out;
    Shape per_example;
    Batch b;
    bool lm = stored.task == TaskKind::LanguageModel;
    while (loader.next(b)) {
      RunContext ctx;  // padding decided on the host, as st-train does
      BatchPadding padding = batch_padding(b);
      ctx.may_pad = padding.any;
      ctx.padding_at_end = padding.at_end;
      ModelOutput out = model.run(on_device(b.inputs), on_device(b.inputs2), ctx);
      Tensor targets = on_device(lm ? SimpleTronModel::next_token_targets(b.inputs) : b.labels);
      Tensor n, hits;  // a language model's head and loss run fused: no (B, N, V) logits
      loss_sum += model.loss_sum(out, targets, &n, &hits).item();
      counted += n.item();
      right += hits.item();
      acc_n += n.item();
      if (!dump.empty()) {
        Tensor logits = model.logits(out);
        int64_t per = logits.numel() / logits.size(0);
        per_example = Shape(logits.shape().begin() + 1, logits.shape().end());
        auto l = logits.contiguous().to_vector<float>();
        logits_out.insert(logits_out.end(), l.begin(), l.begin() + b.valid * per);
        auto lab = lm ? b.inputs.to_vector<int32_t>() : b.labels.to_vector<int32_t>();
        int64_t lper = lm ? b.inputs.size(1) : 1;
        labels_out.insert(labels_out.end(), lab.begin(), lab.begin() + b.valid * lper);
      }
    }
    std::printf("st-eval: %s on %s: loss %.4f, accuracy %.2f%% over %.0f %s\n", ckpt.c_str(), data.c_str(),
                counted ? loss_sum / counted : 0.0, acc_n ? 100 * right / acc_n : 0.0, acc_n,
                lm ? "tokens" : "examples");
    if (!dump.empty()) {
      int64_t examples = loader.total_examples();
      h5::write_file_atomically(dump, [&](h5::File& f) {
        std::vector<int64_t> dims{examples};
        dims.insert(dims.end(), per_example.begin(), per_example.end());
        f.write_f32("logits", dims, logits_out.data());
        std::vector<int64_t> ldims{examples};
        if (lm) ldims.push_back(static_cast<int64_t>(labels_out.size()) / examples);
        f.write_i32("labels", ldims, labels_out.data());
        f.set_attribute("checkpoint", ckpt);
        f.set_attribute("data", data);
      });
      std::printf("st-eval: logits and labels of %lld examples written to %s\n", static_cast<long long>(examples), dump.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "st-eval: error: %s\n", e.what());
    return 1;
  }
}
