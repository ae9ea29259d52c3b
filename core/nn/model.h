// The SimpleTRON model (docs/design.md, "The model"): embeddings (tokens + learned positions, optional
// CLS, optional embedding LayerNorm), L blocks (pre-LN or post-LN) of attention + FFN, and a
// head: classification, retrieval (one shared encoder over both documents) or language model.
// Parameter names are fixed: embed.tokens, blocks.{i}.attn.q.weight, head.fc1.bias, ...
#pragma once
#include <vector>

#include "core/nn/attention.h"
#include "core/nn/model_config.h"
#include "core/nn/positions.h"

namespace st {

class Embeddings : public Module {
 public:
  Embeddings(const ModelConfig& cfg, InitStream& init);
  // ids (B, N) -> (B, N [+1 with CLS], d); positions start at ctx.token_offset.
  Tensor forward(const Tensor& ids, const RunContext& ctx) const;
  Tensor tokens, positions, cls;  // positions: learned only (model.positions)
  LayerNorm* ln = nullptr;

 private:
  ModelConfig cfg_;
  Dropout drop_;
  mutable SinusoidCache sinusoids_;  // model.positions: sinusoidal
};

class Block : public Module {
 public:
  Block(const ModelConfig& cfg, InitStream& init);
  // (B, N, d) -> (B, N, d); first_row_only: (B, 1, d), the output at position 0 alone (the
  // attention still reads every position's keys and values).
  Tensor forward(const Tensor& x, const AttentionMasks& masks, const RunContext& ctx,
                 bool first_row_only = false) const;
  LayerNorm *ln1, *ln2;
  Attention* attn;
  FeedForward* ffn;

 private:
  // The FFN sublayer with its residual (and, post-LN, ln2): (B, n, d) -> (B, n, d), per token.
  Tensor ffn_sublayer(const Tensor& h, const RunContext& ctx) const;
  NormPlacement norm_;
  Dropout drop_attn_, drop_ffn_;
};

// What one forward pass produced on this process.
struct ModelOutput {
  // (B, classes) for classification/retrieval, the normalised embedding (B, d) for the
  // embedding task. Undefined on sequence-parallel ranks other than the first for
  // classification/retrieval (the head runs where the CLS token / the pooled vector is), and
  // for language models (SimpleTronModel::logits makes theirs).
  Tensor logits;
  // Language models: the last hidden states (B, N, d) and the head weight (V, d) (the token
  // embedding when tied). Training never forms the (B, N, V) logits: loss_sum runs the head and
  // the loss together over blocks of rows (lm_head_cross_entropy).
  Tensor hidden, head_weight;
  bool has_output() const { return logits.defined() || hidden.defined(); }
  // 0 * sum(output): a loss of exactly zero connected to this rank's whole graph. A rank without
  // logits (a later sequence-parallel rank of a classifier) calls backward() from it, so it still
  // runs its share of the backward pass and joins its collectives.
  Tensor zero_loss;
};

// Rows of x (B, d) scaled to unit L2 norm (rows of zeros stay zero).
Tensor l2_normalize_rows(const Tensor& x);
// Rows of an embedding-task target (B, d) that are not all zero (the counted rows).
int64_t embedding_target_rows(const Tensor& targets);

class SimpleTronModel : public Module {
 public:
  explicit SimpleTronModel(const ModelConfig& cfg);  // validates cfg first
  const ModelConfig& config() const { return cfg_; }

  // ids (B, N) i32 (0 = padding); ids2 (B, N) for retrieval, else undefined. Under sequence
  // parallelism ids are this rank's columns (ctx.token_offset, ctx.sp).
  ModelOutput run(const Tensor& ids, const Tensor& ids2, const RunContext& ctx) const;
  // logits(run(...)): the single-process convenience.
  Tensor forward(const Tensor& ids, const Tensor& ids2, const RunContext& ctx) const;
  // A run's logits: out.logits, or for a language model hidden @ head_weight^T (B, N, vocab).
  Tensor logits(const ModelOutput& out) const;
  // Encoder output after the last block (and final LayerNorm): (B, N [+1], d); with
  // first_row_only, (B, 1, d): position 0 only, the last block skipping the other rows (exact:
  // rows do not mix after its attention). Not for causal models.
  Tensor encode(const Tensor& ids, const RunContext& ctx, AttentionMasks* masks_out = nullptr,
                bool first_row_only = false) const;
  // Mean cross-entropy (with the configured label smoothing). labels: (B) i32 for
  // classification/retrieval; for language models the targets are ids shifted by one (pass
  // ids), padding targets ignored.
  Tensor loss(const Tensor& logits, const Tensor& labels) const;
  // Summed cross-entropy, and in *counted (when given) the number of counted targets as a ()
  // f64 tensor on the logits' device (nothing is read back), for losses normalised across
  // processes. targets: (B) class ids (-100 ignored) or, for language models, (B, N) next-token
  // ids aligned with logits (0 ignored). Embedding task: targets are the teacher's normalised
  // embeddings (B, d), the loss is the sum of 1 - cosine over rows whose target is not zero.
  Tensor loss_sum(const Tensor& logits, const Tensor& targets, Tensor* counted) const;
  // loss_sum of a run's output (which must have one: out.has_output()), and in *hits (when
  // given; not for the embedding task) the counted targets whose first largest logit is theirs,
  // () f64. Language models run the head and the loss fused over blocks of rows, from the same
  // logits for both, never whole in memory.
  Tensor loss_sum(const ModelOutput& out, const Tensor& targets, Tensor* counted, Tensor* hits = nullptr) const;
  // The index a target takes to be ignored by loss_sum: 0 (padding) for language models, else -100.
  int32_t ignored_target() const;
  // Next-token targets of ids (B, N): ids shifted left, the last column 0 (ignored); on ids' device.
  static Tensor next_token_targets(const Tensor& ids);

  Embeddings* embed;
  std::vector<Block*> blocks;
  LayerNorm* final_ln = nullptr;
  Linear *head_fc1 = nullptr, *head_fc2 = nullptr, *head_fc3 = nullptr;
  Tensor lm_head;  // (vocab, d), undefined when tied

 private:
  // (B, N, d) -> (B, d); undefined where the pooled vector does not live (SP, CLS pooling).
  Tensor pool(const Tensor& h, const AttentionMasks& masks, const RunContext& ctx) const;
  ModelConfig cfg_;
  mutable MaskCache mask_cache_;  // shape-only attention masks, built once per shape
};

}  // namespace st
