// The model's configuration (docs/design.md, "The model") with validation. Every problem is reported by
// the config key it concerns (model.heads, model.attention, ...) before anything is allocated.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "core/nn/layers.h"
#include "core/tensor/enum_names.h"
#include "core/math/attention_scale.h"

namespace st {

// Each enum's names as they appear in configs, in one table beside it (enum_names.h): the
// config schema, st-import and the benchmarks read their choices from these.
enum class AttentionKind : uint8_t { SimpleTron, Softmax, LinearElu };
inline constexpr EnumNames<AttentionKind, 3> kAttentionKindNames{{{{"simpletron", AttentionKind::SimpleTron},
                                                                   {"softmax", AttentionKind::Softmax},
                                                                   {"linear_elu", AttentionKind::LinearElu}}}};
// What each kind supports, checked by ModelConfig::validate and the process grid before any work.
struct AttentionKindSupport {
  AttentionKind kind;
  bool causal;             // model.causal: true
  bool sequence_parallel;  // distributed.sp > 1
  bool state_dropout;      // model.state_dropout > 0 (a d_h x d_h state to drop from, non-causal)
};
inline constexpr std::array<AttentionKindSupport, 3> kAttentionKindSupport{{
    {AttentionKind::SimpleTron, /*causal=*/true, /*sequence_parallel=*/true, /*state_dropout=*/true},
    {AttentionKind::Softmax, /*causal=*/true, /*sequence_parallel=*/false, /*state_dropout=*/false},
    {AttentionKind::LinearElu, /*causal=*/false, /*sequence_parallel=*/true, /*state_dropout=*/false}}};
const AttentionKindSupport& support_of(AttentionKind k);
// ScaleMode (s = n^-1/2, (n d_h)^-1/2, 1/n, 1) is core/math/attention_scale.h's.
inline constexpr EnumNames<ScaleMode, 4> kScaleModeNames{{{{"sqrt_n", ScaleMode::SqrtN},
                                                           {"sqrt_n_dh", ScaleMode::SqrtNDh},
                                                           {"n", ScaleMode::N},
                                                           {"none", ScaleMode::None}}}};
// Position information added to the token embeddings: a learned (max_len, d) table, or fixed
// sinusoids (core/math/positions.h) with no parameters.
enum class PositionKind : uint8_t { Learned, Sinusoidal };
inline constexpr EnumNames<PositionKind, 2> kPositionKindNames{
    {{{"learned", PositionKind::Learned}, {"sinusoidal", PositionKind::Sinusoidal}}}};
enum class NormPlacement : uint8_t { PreLN, PostLN };
inline constexpr EnumNames<NormPlacement, 2> kNormPlacementNames{
    {{{"pre", NormPlacement::PreLN}, {"post", NormPlacement::PostLN}}}};
// Embedding: no head; the output is the L2-normalised pooled vector (B, d), trained to match a
// teacher's embeddings (distillation) with the loss 1 - cosine.
enum class TaskKind : uint8_t { Classification, Retrieval, LanguageModel, Embedding };
inline constexpr EnumNames<TaskKind, 4> kTaskKindNames{{{{"classification", TaskKind::Classification},
                                                         {"retrieval", TaskKind::Retrieval},
                                                         {"lm", TaskKind::LanguageModel},
                                                         {"embedding", TaskKind::Embedding}}}};
// Cls: a learned CLS vector prepended (no position of its own); Mean: mean over non-padding
// tokens; First: the sequence's first token as given (BERT's [CLS] token, with position 0).
enum class Pooling : uint8_t { Cls, Mean, First };
inline constexpr EnumNames<Pooling, 3> kPoolingNames{
    {{{"cls", Pooling::Cls}, {"mean", Pooling::Mean}, {"first", Pooling::First}}}};

// Rows (batch x positions) per slice of a block's FFN sublayer (map_slices in autograd.h): its
// backward's working set is one slice's, whatever N (Block::forward).
constexpr int64_t kFfnSliceRows = 16384;

struct ModelConfig {
  TaskKind task = TaskKind::Classification;
  int64_t vocab_size = 0;       // token ids in [0, vocab_size); 0 is padding
  int64_t max_len = 0;          // longest token sequence (without CLS)
  int64_t num_classes = 2;      // classification; retrieval is always 2
  int64_t d_model = 128;
  int64_t heads = 4;
  int64_t layers = 2;
  int64_t d_ff = 512;
  int64_t d_qkv = 0;            // 0: d_model
  int64_t d_mlp = 0;            // head hidden size; 0: d_model
  AttentionKind attention = AttentionKind::SimpleTron;
  ScaleMode scale = ScaleMode::SqrtN;
  bool causal = false;
  int64_t chunk = 64;           // causal chunk size
  bool out_proj = false;        // output projection Wo after attention
  PositionKind positions = PositionKind::Learned;
  NormPlacement norm = NormPlacement::PreLN;
  double ln_eps = 1e-6;
  FfnActivation activation = FfnActivation::GeluErf;
  FfnActivation head_activation = FfnActivation::GeluErf;  // after head.fc1 (classification)
  float dropout = 0.1f;         // embeddings, residual branches, FFN inner
  float state_dropout = 0.0f;   // dropout on the d_h x d_h state S (simpletron)
  Pooling pooling = Pooling::Cls;
  bool tie_embeddings = false;  // language model: logits = h E^T
  double label_smoothing = 0.0;
  uint64_t init_seed = 1;

  int64_t qkv_dim() const { return d_qkv ? d_qkv : d_model; }
  int64_t mlp_dim() const { return d_mlp ? d_mlp : d_model; }
  int64_t head_dim() const { return qkv_dim() / heads; }
  bool uses_cls() const { return task != TaskKind::LanguageModel && pooling == Pooling::Cls; }
  bool embed_ln() const { return norm == NormPlacement::PostLN; }
  bool final_ln() const { return norm == NormPlacement::PreLN; }
  int64_t classes() const { return task == TaskKind::Retrieval ? 2 : num_classes; }
  bool has_head() const { return task == TaskKind::Classification || task == TaskKind::Retrieval; }

  void validate() const;  // throws st::Error naming the key
  // Parameters this configuration makes, computed without building it (overflow is an error).
  int64_t parameter_count() const;

  // Upper limits of the sizes (ids and labels are int32; products fit 64 bits with room).
  static constexpr int64_t kMaxVocab = (int64_t{1} << 31) - 1;  // vocab_size, num_classes
  static constexpr int64_t kMaxLen = int64_t{1} << 30;          // max_len, chunk
  static constexpr int64_t kMaxWidth = int64_t{1} << 16;        // d_model, d_qkv, heads
  static constexpr int64_t kMaxHidden = int64_t{1} << 20;       // d_ff, d_mlp
  static constexpr int64_t kMaxLayers = int64_t{1} << 14;       // layers
};

// The tables above (and kFfnActivationNames, layers.h) both ways, errors naming the config key
// (model.attention, ...). Parsing an unknown name throws, listing the valid ones.
AttentionKind parse_attention(const std::string& s);
ScaleMode parse_scale(const std::string& s);
NormPlacement parse_norm(const std::string& s);
TaskKind parse_task(const std::string& s);
Pooling parse_pooling(const std::string& s);
FfnActivation parse_activation(const std::string& s);
const char* name_of(AttentionKind k);
const char* name_of(ScaleMode k);
const char* name_of(NormPlacement k);
const char* name_of(TaskKind k);
const char* name_of(Pooling k);
const char* name_of(FfnActivation k);

}  // namespace st
