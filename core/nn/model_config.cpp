// ModelConfig validation, and its enums parsed and named through their tables (model_config.h).
#include "core/nn/model_config.h"

#include "core/tensor/checked.h"

namespace st {

AttentionKind parse_attention(const std::string& s) { return kAttentionKindNames.parse(s, "model.attention"); }
ScaleMode parse_scale(const std::string& s) { return kScaleModeNames.parse(s, "model.scale"); }
NormPlacement parse_norm(const std::string& s) { return kNormPlacementNames.parse(s, "model.norm"); }
TaskKind parse_task(const std::string& s) { return kTaskKindNames.parse(s, "model.task"); }
Pooling parse_pooling(const std::string& s) { return kPoolingNames.parse(s, "model.pooling"); }
FfnActivation parse_activation(const std::string& s) { return kFfnActivationNames.parse(s, "model.activation"); }
const char* name_of(AttentionKind k) { return kAttentionKindNames.name(k); }
const char* name_of(ScaleMode k) { return kScaleModeNames.name(k); }
const char* name_of(NormPlacement k) { return kNormPlacementNames.name(k); }
const char* name_of(TaskKind k) { return kTaskKindNames.name(k); }
const char* name_of(Pooling k) { return kPoolingNames.name(k); }
const char* name_of(FfnActivation k) { return kFfnActivationNames.name(k); }

const AttentionKindSupport& support_of(AttentionKind k) {
  for (const AttentionKindSupport& s : kAttentionKindSupport)
    if (s.kind == k) return s;
  ST_THROW("model.attention: no support entry for kind ", static_cast<int>(k));
}

namespace {
// "simpletron" or "simpletron or softmax": the kinds whose entry has `flag` set.
std::string kinds_supporting(bool AttentionKindSupport::*flag) {
  std::string out;
  for (const AttentionKindSupport& s : kAttentionKindSupport)
    if (s.*flag) out += (out.empty() ? "" : " or ") + std::string(name_of(s.kind));
  return out;
}
}  // namespace

void ModelConfig::validate() const {
  ST_CHECK(vocab_size >= 2, "model.vocab_size: must be at least 2 (id 0 is padding), got ", vocab_size);
  ST_CHECK(max_len >= 1, "model.max_len: must be positive, got ", max_len);
  ST_CHECK(d_model >= 1, "model.d_model: must be positive, got ", d_model);
  ST_CHECK(heads >= 1, "model.heads: must be positive, got ", heads);
  ST_CHECK(layers >= 0, "model.layers: must not be negative, got ", layers);
  ST_CHECK(d_ff >= 1, "model.d_ff: must be positive, got ", d_ff);
  ST_CHECK(d_qkv >= 0 && d_mlp >= 0, "model.d_qkv / model.d_mlp: must not be negative");
  // Upper limits (docs/config.md): ids and labels are int32, and no size product can overflow.
  auto at_most = [](const char* key, int64_t v, int64_t limit) {
    ST_CHECK(v <= limit, key, ": ", v, " is above the limit of ", limit);
  };
  at_most("model.vocab_size", vocab_size, kMaxVocab);
  at_most("model.num_classes", num_classes, kMaxVocab);
  at_most("model.max_len", max_len, kMaxLen);
  at_most("model.d_model", d_model, kMaxWidth);
  at_most("model.d_qkv", d_qkv, kMaxWidth);
  at_most("model.heads", heads, kMaxWidth);
  at_most("model.d_ff", d_ff, kMaxHidden);
  at_most("model.d_mlp", d_mlp, kMaxHidden);
  at_most("model.layers", layers, kMaxLayers);
  at_most("model.chunk", chunk, kMaxLen);
  ST_CHECK(qkv_dim() % heads == 0, "model.d_qkv: ", qkv_dim(), " is not divisible by model.heads (",
           heads, ")");
  ST_CHECK(out_proj || qkv_dim() == d_model, "model.d_qkv: ", qkv_dim(),
           " differs from model.d_model (", d_model,
           ") without an output projection; set model.out_proj: true or model.d_qkv: 0");
  ST_CHECK(chunk >= 1, "model.chunk: must be at least 1, got ", chunk);
  ST_CHECK(ln_eps > 0, "model.ln_eps: must be positive, got ", ln_eps);
  ST_CHECK(dropout >= 0 && dropout < 1, "model.dropout: must be in [0, 1), got ", dropout);
  ST_CHECK(state_dropout >= 0 && state_dropout < 1, "model.state_dropout: must be in [0, 1), got ",
           state_dropout);
  ST_CHECK(label_smoothing >= 0 && label_smoothing < 1,
           "model.label_smoothing: must be in [0, 1), got ", label_smoothing);
  if (task == TaskKind::Classification)
    ST_CHECK(num_classes >= 2, "model.num_classes: must be at least 2, got ", num_classes);
  if (task == TaskKind::LanguageModel) {
    ST_CHECK(causal, "model.causal: a language model (model.task: lm) needs causal attention; "
                     "non-causal attention would see the tokens it predicts");
  } else {
    ST_CHECK(!causal, "model.causal: causal attention with a ", name_of(task),
             " head makes no sense (the pooled token would only see what precedes it); use "
             "model.task: lm or model.causal: false");
  }
  const AttentionKindSupport& supports = support_of(attention);
  ST_CHECK(!causal || supports.causal, "model.attention: ", name_of(attention),
           " supports non-causal attention only");
  ST_CHECK(!(state_dropout > 0 && !supports.state_dropout), "model.state_dropout: applies to ",
           kinds_supporting(&AttentionKindSupport::state_dropout), " attention only");
  ST_CHECK(!(state_dropout > 0 && causal), "model.state_dropout: applies to non-causal ",
           kinds_supporting(&AttentionKindSupport::state_dropout), " attention only");
  ST_CHECK(positions != PositionKind::Sinusoidal || d_model % 2 == 0,
           "model.positions: sinusoidal needs an even model.d_model (sine and cosine pairs), got ", d_model);
  ST_CHECK(!(tie_embeddings && task != TaskKind::LanguageModel),
           "model.tie_embeddings: applies to language models only");
}

int64_t ModelConfig::parameter_count() const {
  const char* what = "model: parameter count";
  auto mul = [&](int64_t a, int64_t b) { return checked_mul(a, b, what); };
  auto linear = [&](int64_t in, int64_t out) { return checked_add(mul(in, out), out, what); };  // with bias
  int64_t d = d_model, q = qkv_dim(), m = mlp_dim();
  int64_t n = mul(vocab_size, d);
  if (positions == PositionKind::Learned) n = checked_add(n, mul(max_len, d), what);
  if (uses_cls()) n = checked_add(n, d, what);
  if (embed_ln()) n = checked_add(n, 2 * d, what);
  int64_t block = 4 * d + 3 * linear(d, q) + (out_proj ? linear(q, d) : 0);  // ln1, ln2, q k v (o)
  block = checked_add(block, checked_add(linear(d, d_ff), linear(d_ff, d), what), what);
  n = checked_add(n, mul(layers, block), what);
  if (final_ln()) n = checked_add(n, 2 * d, what);
  if (task == TaskKind::LanguageModel && !tie_embeddings) n = checked_add(n, mul(vocab_size, d), what);
  if (task == TaskKind::Classification) n = checked_add(n, checked_add(linear(d, m), linear(m, num_classes), what), what);
  if (task == TaskKind::Retrieval)
    n = checked_add(n, checked_add(linear(2 * d, m), checked_add(linear(m, m), linear(m, 2), what), what), what);
  return n;
}

}  // namespace st
