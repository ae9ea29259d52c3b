// Import of BERT-family checkpoints (a HuggingFace model directory: config.json and
// model.safetensors) into a SimpleTRON model with the same parameters (names as in
// docs/design.md, "The model"):
//   embeddings.word_embeddings            -> embed.tokens
//   embeddings.position_embeddings        -> embed.positions, plus token_type_embeddings[0]
//                                            folded in (every token has type 0)
//   embeddings.LayerNorm                  -> embed.ln            (post-LN: embedding LayerNorm)
//   encoder.layer.i.attention.self.{query,key,value} -> blocks.i.attn.{q,k,v}
//   encoder.layer.i.attention.output.dense           -> blocks.i.attn.o  (out_proj: true)
//   encoder.layer.i.attention.output.LayerNorm       -> blocks.i.ln1
//   encoder.layer.i.intermediate.dense / output.dense -> blocks.i.ffn.fc1 / fc2
//   encoder.layer.i.output.LayerNorm                 -> blocks.i.ln2
//   pooler.dense (pooling: first, classification)    -> head.fc1 with head_activation tanh
// Names may carry a "bert." prefix (task checkpoints). The tokenizer's [CLS] token is an ordinary
// token here (pooling mean or first; no learned CLS vector), so positions match BERT's.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/nn/model_config.h"
#include "core/tensor/tensor.h"

namespace st {

struct BertImportOptions {
  AttentionKind attention = AttentionKind::Softmax;  // simpletron: the same weights, linear attention
  TaskKind task = TaskKind::Embedding;               // embedding or classification
  Pooling pooling = Pooling::Mean;                   // mean or first
  int64_t num_classes = 2;                           // classification
  float dropout = -1;                                // < 0: the checkpoint's hidden_dropout_prob
  // Multiplies every attention output projection weight (blocks.i.attn.o.weight; not its bias).
  // 0 starts a SimpleTRON student with its attention branches off: its residual stream is then
  // the teacher's token-wise computation, and distillation learns the token mixing back.
  double attention_gain = 1.0;
};

struct BertImport {
  ModelConfig config;
  std::map<std::string, Tensor> params;  // our names; parameters the model has but BERT lacks are absent
  std::vector<std::string> notes;        // what was folded, dropped or left to fresh initialisation
};

// Reads DIR/config.json and DIR/model.safetensors. Errors name the file and the key or tensor.
BertImport import_bert(const std::string& dir, const BertImportOptions& options);

}  // namespace st
