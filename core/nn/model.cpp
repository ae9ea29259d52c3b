// Embeddings, Block and the SimpleTRON model with its heads.
#include "core/nn/model.h"

#include "core/autograd/autograd.h"
#include "core/autograd/part_times.h"
#include "core/comm/communicator.h"

#include <algorithm>

namespace st {

Tensor l2_normalize_rows(const Tensor& x) {
  // x / sqrt(|x|^2 + 1e-24): rows of zeros stay zero.
  Tensor norm2 = sum(mul(x, x), {1}, true);  // (B, 1)
  return mul(x, exp(scale(log(add_scalar(norm2, 1e-24)), -0.5)));
}

int64_t embedding_target_rows(const Tensor& targets) {
  std::vector<double> t = targets.contiguous().to(Device::cpu()).to(DType::F64).to_vector<double>();
  int64_t B = targets.size(0), d = targets.numel() / std::max<int64_t>(B, 1), rows = 0;
  for (int64_t b = 0; b < B; ++b) {
    bool any = false;
    for (int64_t j = 0; j < d && !any; ++j) any = t[b * d + j] != 0;
    rows += any;
  }
  return rows;
}

namespace {
class Head : public Module {
 public:
  Head(const ModelConfig& cfg, InitStream& init) {
    int64_t d = cfg.d_model, m = cfg.mlp_dim();
    if (cfg.task == TaskKind::Classification) {
      fc1 = register_module("fc1", std::make_unique<Linear>(d, m, true, init));
      fc2 = register_module("fc2", std::make_unique<Linear>(m, cfg.num_classes, true, init));
    } else {
      fc1 = register_module("fc1", std::make_unique<Linear>(2 * d, m, true, init));
      fc2 = register_module("fc2", std::make_unique<Linear>(m, m, true, init));
      fc3 = register_module("fc3", std::make_unique<Linear>(m, 2, true, init));
    }
  }
  Linear *fc1 = nullptr, *fc2 = nullptr, *fc3 = nullptr;
};

class LmHead : public Module {
 public:
  LmHead(const ModelConfig& cfg, InitStream& init) {
    weight = register_parameter("weight", Tensor::randn({cfg.vocab_size, cfg.d_model}, init.next(), kInitStd));
  }
  Tensor weight;  // (vocab, d)
};

// A group of numbered children ("blocks.0", "blocks.1", ...).
class ModuleList : public Module {
 public:
  template <class M>
  M* append(std::unique_ptr<M> child) {
    return register_module(std::to_string(count_++), std::move(child));
  }

 private:
  int count_ = 0;
};
}  // namespace

Embeddings::Embeddings(const ModelConfig& cfg, InitStream& init) : cfg_(cfg), drop_(cfg.dropout, init) {
  tokens = register_parameter("tokens", Tensor::randn({cfg.vocab_size, cfg.d_model}, init.next(), kInitStd));
  uint64_t position_seed = init.next();  // drawn either way: the other weights do not depend on the kind
  if (cfg.positions == PositionKind::Learned)
    positions = register_parameter("positions", Tensor::randn({cfg.max_len, cfg.d_model}, position_seed, kInitStd));
  if (cfg.uses_cls()) cls = register_parameter("cls", Tensor::randn({cfg.d_model}, init.next(), kInitStd));
  if (cfg.embed_ln()) ln = register_module("ln", std::make_unique<LayerNorm>(cfg.d_model, cfg.ln_eps));
}

Tensor Embeddings::forward(const Tensor& ids, const RunContext& ctx) const {
  PartScope part(ModelPart::Embedding);
  int64_t B = ids.size(0), N = ids.size(1), d = cfg_.d_model;
  int64_t first = ctx.token_offset;
  ST_CHECK(first + N <= cfg_.max_len, "model: sequence positions [", first, ", ", first + N,
           ") exceed model.max_len (", cfg_.max_len, ")");
  Tensor where = cfg_.positions == PositionKind::Learned
                     ? positions.narrow(0, first, N)
                     : sinusoids_.get(first, N, d, tokens.dtype(), tokens.device());  // (N, d)
  Tensor h = add(embedding(tokens, ids), where);  // (B, N, d)
  if (cls.defined() && ctx.first_in_sequence())
    h = concat({expand(cls.reshape({1, 1, d}), {B, 1, d}), h}, 1);
  if (ln) h = ln->forward(h);
  return drop_.forward(h, ctx, training());
}

Block::Block(const ModelConfig& cfg, InitStream& init)
    : norm_(cfg.norm), drop_attn_(cfg.dropout, init), drop_ffn_(cfg.dropout, init) {
  ln1 = register_module("ln1", std::make_unique<LayerNorm>(cfg.d_model, cfg.ln_eps));
  attn = register_module("attn", std::make_unique<Attention>(cfg, init));
  ln2 = register_module("ln2", std::make_unique<LayerNorm>(cfg.d_model, cfg.ln_eps));
  ffn = register_module("ffn", std::make_unique<FeedForward>(cfg.d_model, cfg.d_ff, cfg.dropout,
                                                             cfg.activation, init));
}

Tensor Block::forward(const Tensor& x, const AttentionMasks& m, const RunContext& ctx,
                      bool first_row_only) const {
  bool tr = training();
  if (first_row_only) {
    // Position 0 alone after the attention; dropout masks keep their global positions.
    RunContext c0 = ctx;
    if (c0.seq_global < 0) c0.seq_global = x.size(1);
    Tensor x0 = x.narrow(1, 0, 1);  // (B, 1, d)
    if (norm_ == NormPlacement::PreLN) {
      Tensor h = drop_attn_.forward_add(attn->forward(ln1->forward(x), m, ctx, true), x0, c0, tr);
      return drop_ffn_.forward_add(ffn->forward(ln2->forward(h), c0), h, c0, tr);
    }
    Tensor h = ln1->forward(drop_attn_.forward_add(attn->forward(x, m, ctx, true), x0, c0, tr));
    return ln2->forward(drop_ffn_.forward_add(ffn->forward(h, c0), h, c0, tr));
  }
  Tensor h = norm_ == NormPlacement::PreLN
                 ? drop_attn_.forward_add(attn->forward(ln1->forward(x), m, ctx), x, ctx, tr)
                 : ln1->forward(drop_attn_.forward_add(attn->forward(x, m, ctx), x, ctx, tr));
  // The FFN sublayer acts on each token alone: it runs on slices of kFfnSliceRows rows, each
  // with its dropout masks at its global positions, so its backward (and, under recompute, its
  // activations) never spans more than one slice.
  std::vector<Tensor> params = ln2->parameters();
  for (const Tensor& p : ffn->parameters()) params.push_back(p);
  int64_t len = std::max<int64_t>(1, kFfnSliceRows / std::max<int64_t>(1, h.size(0)));
  RunContext whole = ctx;
  if (whole.seq_global < 0) whole.seq_global = h.size(1);
  return map_slices("ffn_sublayer", h, 1, len, params,
                    [this, whole](const Tensor& slice, int64_t start) {
                      RunContext c = whole;
                      c.seq_offset += start;
                      return ffn_sublayer(slice, c);
                    },
                    ctx.recompute == Recompute::Block);
}

Tensor Block::ffn_sublayer(const Tensor& h, const RunContext& ctx) const {
  bool tr = training();
  if (norm_ == NormPlacement::PreLN) return drop_ffn_.forward_add(ffn->forward(ln2->forward(h), ctx), h, ctx, tr);
  return ln2->forward(drop_ffn_.forward_add(ffn->forward(h, ctx), h, ctx, tr));
}

SimpleTronModel::SimpleTronModel(const ModelConfig& cfg) : cfg_(cfg) {
  cfg.validate();
  InitStream init(cfg.init_seed);
  embed = register_module("embed", std::make_unique<Embeddings>(cfg, init));
  auto* list = register_module("blocks", std::make_unique<ModuleList>());
  for (int64_t i = 0; i < cfg.layers; ++i) blocks.push_back(list->append(std::make_unique<Block>(cfg, init)));
  if (cfg.final_ln()) final_ln = register_module("final_ln", std::make_unique<LayerNorm>(cfg.d_model, cfg.ln_eps));
  if (cfg.task == TaskKind::LanguageModel) {
    if (!cfg.tie_embeddings)
      lm_head = register_module("lm_head", std::make_unique<LmHead>(cfg, init))->weight;
  } else if (cfg.has_head()) {
    auto* head = register_module("head", std::make_unique<Head>(cfg, init));
    head_fc1 = head->fc1;
    head_fc2 = head->fc2;
    head_fc3 = head->fc3;
  }
}

Tensor SimpleTronModel::encode(const Tensor& ids, const RunContext& ctx, AttentionMasks* masks_out,
                               bool first_row_only) const {
  ST_CHECK(!(first_row_only && cfg_.causal), "model: encode(first_row_only) is not for causal models");
  ST_CHECK(ids.defined() && ids.dtype() == DType::I32 && ids.dim() == 2,
           "model: token ids must be i32 (batch, length), got ",
           ids.defined() ? dtype_name(ids.dtype()) : "undefined", " ",
           ids.defined() ? ids.shape() : Shape{});
  ST_CHECK(ctx.token_offset + ids.size(1) <= cfg_.max_len, "model: sequence length ",
           ctx.token_offset + ids.size(1), " exceeds model.max_len (", cfg_.max_len, ")");
  AttentionMasks masks = make_attention_masks(ids, cfg_.uses_cls() && ctx.first_in_sequence(), cfg_,
                                              embed->tokens.dtype(), embed->tokens.device(), ctx, mask_cache_);
  Tensor h = embed->forward(ids, ctx);  // (B, N [+1], d)
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block* block = blocks[i];
    bool first_row = first_row_only && i + 1 == blocks.size();
    if (ctx.recompute == Recompute::Block) {
      // Only h is kept for backward; the block runs again there (masks and ctx by value: the
      // same dropout masks, the same collectives).
      h = checkpoint("block", {h}, block->parameters(),
                     [block, masks, ctx, first_row](const std::vector<Tensor>& in) {
                       return block->forward(in[0], masks, ctx, first_row);
                     },
                     ctx.sequence_parallel());
    } else {
      h = block->forward(h, masks, ctx, first_row);
    }
  }
  if (first_row_only && blocks.empty()) h = h.narrow(1, 0, 1);
  if (final_ln) h = final_ln->forward(h);
  if (masks_out) *masks_out = masks;
  return h;
}

Tensor SimpleTronModel::pool(const Tensor& h, const AttentionMasks& m, const RunContext& ctx) const {
  int64_t B = h.size(0), N = h.size(1), d = h.size(2);
  if (cfg_.pooling == Pooling::Cls || cfg_.pooling == Pooling::First) {
    if (!ctx.first_in_sequence()) return Tensor();
    return h.narrow(1, 0, 1).reshape({B, d});
  }
  Tensor total, count;
  if (!m.valid.defined()) {
    total = sum(h, {1});
    count = Tensor::full({B, 1}, static_cast<double>(N), h.dtype(), h.device());
  } else {
    Tensor valid = m.valid.reshape({B, N, 1});
    total = sum(mul(h, valid), {1});  // (B, d)
    count = sum(valid, {1});          // (B, 1)
  }
  if (ctx.sequence_parallel()) {  // mean over the whole sequence
    total = all_reduce_sum(total, *ctx.sp);
    count = count.detach().contiguous().clone();
    ctx.sp->all_reduce_sum(count);
  }
  // Rows without any token (padding rows of an evaluation batch) pool to 0 instead of 0/0:
  // max(count, 1) = count + relu(1 - count) for whole counts, on the tensor's own device.
  count = add(count, relu(add_scalar(neg(count), 1.0)));
  return div(total, count);
}

ModelOutput SimpleTronModel::run(const Tensor& ids, const Tensor& ids2, const RunContext& ctx) const {
  ModelOutput out;
  auto zero_loss_of = [](const Tensor& t) { return scale(sum_all(t), 0.0); };
  // Pooling that reads position 0 needs no other row of the last block (the same values and
  // gradients for less work); not under sequence parallelism, where ranks share the sequence.
  bool first = (cfg_.pooling == Pooling::Cls || cfg_.pooling == Pooling::First) && !cfg_.causal &&
               !ctx.sequence_parallel();
  switch (cfg_.task) {
    case TaskKind::LanguageModel: {
      out.hidden = encode(ids, ctx);  // (B, N, d)
      out.head_weight = lm_head.defined() ? lm_head : embed->tokens;  // (vocab, d)
      out.zero_loss = add(zero_loss_of(out.hidden), zero_loss_of(out.head_weight));
      return out;
    }
    case TaskKind::Classification: {
      AttentionMasks m;
      Tensor h = encode(ids, ctx, &m, first);
      Tensor pooled = pool(h, m, ctx);
      if (ctx.first_in_sequence()) {
        PartScope part(ModelPart::Head);
        Tensor z = activate(head_fc1->forward(pooled), cfg_.head_activation);
        out.logits = head_fc2->forward(z);
      }
      out.zero_loss = zero_loss_of(pooled.defined() ? pooled : h);
      return out;
    }
    case TaskKind::Embedding: {
      AttentionMasks m;
      Tensor h = encode(ids, ctx, &m, first);
      Tensor pooled = pool(h, m, ctx);
      if (ctx.first_in_sequence()) out.logits = l2_normalize_rows(pooled);
      out.zero_loss = zero_loss_of(pooled.defined() ? pooled : h);
      return out;
    }
    case TaskKind::Retrieval: {
      ST_CHECK(ids2.defined() && ids2.shape() == ids.shape(),
               "model: retrieval needs two documents of equal shape, got ", ids.shape(), " and ",
               ids2.defined() ? ids2.shape() : Shape{});
      // One shared encoder over both documents. The second document's dropout uses another
      // stream (seed), so masks stay functions of (row, position) under data parallelism.
      AttentionMasks m1, m2;
      RunContext ctx2 = ctx;
      ctx2.seed = ctx.seed ^ 0x9E3779B97F4A7C15ull;
      Tensor h1 = encode(ids, ctx, &m1, first), h2 = encode(ids2, ctx2, &m2, first);
      Tensor p1 = pool(h1, m1, ctx), p2 = pool(h2, m2, ctx2);
      if (ctx.first_in_sequence()) {
        Tensor z = relu(head_fc1->forward(concat({p1, p2}, 1)));
        z = relu(head_fc2->forward(z));
        out.logits = head_fc3->forward(z);
        out.zero_loss = zero_loss_of(out.logits);
      } else {
        out.zero_loss = p1.defined() ? add(zero_loss_of(p1), zero_loss_of(p2)) : add(zero_loss_of(h1), zero_loss_of(h2));
      }
      return out;
    }
  }
  return out;
}

Tensor SimpleTronModel::forward(const Tensor& ids, const Tensor& ids2, const RunContext& ctx) const {
  return logits(run(ids, ids2, ctx));
}

Tensor SimpleTronModel::logits(const ModelOutput& out) const {
  if (out.logits.defined() || !out.hidden.defined()) return out.logits;
  return matmul(out.hidden, out.head_weight.transpose(0, 1));  // (B, N, vocab)
}

Tensor SimpleTronModel::next_token_targets(const Tensor& ids) {
  int64_t B = ids.size(0), N = ids.size(1);
  Tensor last = Tensor::zeros({B, 1}, DType::I32, ids.device());
  if (N < 2) return Tensor::zeros({B, N}, DType::I32, ids.device());
  return concat({ids.detach().narrow(1, 1, N - 1), last}, 1);  // (B, N)
}

int32_t SimpleTronModel::ignored_target() const { return cfg_.task == TaskKind::LanguageModel ? 0 : -100; }

Tensor SimpleTronModel::loss_sum(const Tensor& logits, const Tensor& targets, Tensor* counted) const {
  CrossEntropyOptions opt;
  opt.label_smoothing = cfg_.label_smoothing;
  opt.reduction = Reduction::Sum;
  if (cfg_.task == TaskKind::Embedding) {
    ST_CHECK(targets.shape() == logits.shape() && targets.dtype() == logits.dtype(),
             "model: embedding targets must be ", dtype_name(logits.dtype()), " ", logits.shape(),
             " (the teacher's normalised embeddings), got ", dtype_name(targets.dtype()), " ",
             targets.shape());
    int64_t rows = embedding_target_rows(targets);
    if (counted) *counted = Tensor::full({}, static_cast<double>(rows), DType::F64, logits.device());
    // sum over counted rows of (1 - cos); rows with a zero target contribute 0.
    return add_scalar(neg(sum_all(mul(logits, targets))), static_cast<double>(rows));
  }
  Tensor flat_logits = logits, flat_targets = targets;
  if (cfg_.task == TaskKind::LanguageModel) {
    ST_CHECK(targets.dim() == 2 && targets.size(0) == logits.size(0) && targets.size(1) == logits.size(1),
             "model: language-model targets must be (", logits.size(0), ", ", logits.size(1),
             "), got ", targets.shape());
    opt.ignore_index = 0;  // padding
    flat_logits = logits.reshape({-1, logits.size(-1)});
    flat_targets = targets.contiguous().reshape({-1});
  }
  if (counted) *counted = count_not_equal(flat_targets, opt.ignore_index);
  return cross_entropy(flat_logits, flat_targets, opt);
}

Tensor SimpleTronModel::loss_sum(const ModelOutput& out, const Tensor& targets, Tensor* counted,
                                 Tensor* hits) const {
  ST_CHECK(out.has_output(), "model: loss_sum of a run without output on this process");
  ST_CHECK(!hits || cfg_.task != TaskKind::Embedding, "model: the embedding task has no argmax hits");
  if (!out.hidden.defined()) {
    PartScope part(ModelPart::Head);
    Tensor total = loss_sum(out.logits, targets, counted);
    if (hits) *hits = argmax_hits(out.logits.detach(), targets.contiguous(), ignored_target());
    return total;
  }
  int64_t B = out.hidden.size(0), N = out.hidden.size(1), d = out.hidden.size(2);
  ST_CHECK(targets.dim() == 2 && targets.size(0) == B && targets.size(1) == N,
           "model: language-model targets must be (", B, ", ", N, "), got ", targets.shape());
  CrossEntropyOptions opt;
  opt.label_smoothing = cfg_.label_smoothing;
  opt.reduction = Reduction::Sum;
  opt.ignore_index = ignored_target();  // padding
  PartScope part(ModelPart::Head);
  Tensor flat_targets = targets.contiguous().reshape({B * N});
  if (counted) *counted = count_not_equal(flat_targets, opt.ignore_index);
  LmHeadLoss res = lm_head_cross_entropy(out.hidden.reshape({B * N, d}), out.head_weight, flat_targets, opt);
  if (hits) *hits = res.hits;
  return res.loss;
}

Tensor SimpleTronModel::loss(const Tensor& logits, const Tensor& labels) const {
  if (cfg_.task == TaskKind::Embedding) {
    int64_t rows = embedding_target_rows(labels);
    Tensor total = loss_sum(logits, labels, nullptr);
    return scale(total, 1.0 / static_cast<double>(std::max<int64_t>(rows, 1)));
  }
  CrossEntropyOptions opt;
  opt.label_smoothing = cfg_.label_smoothing;
  if (cfg_.task != TaskKind::LanguageModel) return cross_entropy(logits, labels, opt);
  int64_t B = logits.size(0), N = logits.size(1), V = logits.size(2);
  ST_CHECK(labels.shape() == (Shape{B, N}), "model: language-model targets must be the ids (", B,
           ", ", N, "), got ", labels.shape());
  if (N < 2) return scale(sum_all(logits), 0.0);
  opt.ignore_index = 0;  // padding
  Tensor pred = logits.narrow(1, 0, N - 1).reshape({B * (N - 1), V});
  Tensor target = labels.narrow(1, 1, N - 1).contiguous().reshape({B * (N - 1)});
  return cross_entropy(pred, target, opt);
}

}  // namespace st
