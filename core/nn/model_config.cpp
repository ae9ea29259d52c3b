// ModelConfig validation and the config-file names of its enums.
#include "core/nn/model_config.h"

#include <array>
#include <utility>

namespace st {

namespace {
template <class E, size_t K>
E parse_enum(const std::string& s, const std::array<std::pair<const char*, E>, K>& names,
             const char* key) {
  std::string valid;
  for (auto& [n, e] : names) {
    if (s == n) return e;
    valid += std::string(valid.empty() ? "" : ", ") + n;
  }
  ST_THROW(key, ": unknown value '", s, "' (valid: ", valid, ")");
}
template <class E, size_t K>
const char* enum_name(E e, const std::array<std::pair<const char*, E>, K>& names) {
  for (auto& [n, v] : names)
    if (v == e) return n;
  return "?";
}

constexpr std::array<std::pair<const char*, AttentionKind>, 3> kAttention{
    {{"simpletron", AttentionKind::SimpleTron},
     {"softmax", AttentionKind::Softmax},
     {"linear_elu", AttentionKind::LinearElu}}};
constexpr std::array<std::pair<const char*, ScaleMode>, 4> kScale{{{"sqrt_n", ScaleMode::SqrtN},
                                                                   {"sqrt_n_dh", ScaleMode::SqrtNDh},
                                                                   {"n", ScaleMode::N},
                                                                   {"none", ScaleMode::None}}};
constexpr std::array<std::pair<const char*, NormPlacement>, 2> kNorm{
    {{"pre", NormPlacement::PreLN}, {"post", NormPlacement::PostLN}}};
constexpr std::array<std::pair<const char*, TaskKind>, 4> kTask{
    {{"classification", TaskKind::Classification},
     {"retrieval", TaskKind::Retrieval},
     {"lm", TaskKind::LanguageModel},
     {"embedding", TaskKind::Embedding}}};
constexpr std::array<std::pair<const char*, Pooling>, 3> kPooling{
    {{"cls", Pooling::Cls}, {"mean", Pooling::Mean}, {"first", Pooling::First}}};
constexpr std::array<std::pair<const char*, FfnActivation>, 4> kActivation{
    {{"gelu", FfnActivation::GeluErf},
     {"gelu_tanh", FfnActivation::GeluTanh},
     {"relu", FfnActivation::Relu},
     {"tanh", FfnActivation::Tanh}}};
}  // namespace

AttentionKind parse_attention(const std::string& s) { return parse_enum(s, kAttention, "model.attention"); }
ScaleMode parse_scale(const std::string& s) { return parse_enum(s, kScale, "model.scale"); }
NormPlacement parse_norm(const std::string& s) { return parse_enum(s, kNorm, "model.norm"); }
TaskKind parse_task(const std::string& s) { return parse_enum(s, kTask, "model.task"); }
Pooling parse_pooling(const std::string& s) { return parse_enum(s, kPooling, "model.pooling"); }
FfnActivation parse_activation(const std::string& s) {
  return parse_enum(s, kActivation, "model.activation");
}
const char* name_of(AttentionKind k) { return enum_name(k, kAttention); }
const char* name_of(ScaleMode k) { return enum_name(k, kScale); }
const char* name_of(NormPlacement k) { return enum_name(k, kNorm); }
const char* name_of(TaskKind k) { return enum_name(k, kTask); }
const char* name_of(Pooling k) { return enum_name(k, kPooling); }
const char* name_of(FfnActivation k) { return enum_name(k, kActivation); }

void ModelConfig::validate() const {
  ST_CHECK(vocab_size >= 2, "model.vocab_size: must be at least 2 (id 0 is padding), got ", vocab_size);
  ST_CHECK(max_len >= 1, "model.max_len: must be positive, got ", max_len);
  ST_CHECK(d_model >= 1, "model.d_model: must be positive, got ", d_model);
  ST_CHECK(heads >= 1, "model.heads: must be positive, got ", heads);
  ST_CHECK(layers >= 0, "model.layers: must not be negative, got ", layers);
  ST_CHECK(d_ff >= 1, "model.d_ff: must be positive, got ", d_ff);
  ST_CHECK(d_qkv >= 0 && d_mlp >= 0, "model.d_qkv / model.d_mlp: must not be negative");
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
  ST_CHECK(!(causal && attention == AttentionKind::LinearElu),
           "model.attention: linear_elu supports non-causal attention only");
  ST_CHECK(!(state_dropout > 0 && attention != AttentionKind::SimpleTron),
           "model.state_dropout: applies to simpletron attention only");
  ST_CHECK(!(state_dropout > 0 && causal),
           "model.state_dropout: applies to non-causal simpletron attention only");
  ST_CHECK(!(tie_embeddings && task != TaskKind::LanguageModel),
           "model.tie_embeddings: applies to language models only");
}

}  // namespace st
