// The config schema: every key with its type, default, range and documentation. It parses YAML
// files and --set overrides into a TrainConfig (unknown keys are errors naming the key path and
// the closest valid key; wrong types and out-of-range values are errors naming file and line),
// writes the resolved config back as YAML, and generates docs/config.md.
#pragma once
#include <string>
#include <vector>

#include "launch/config/train_config.h"

namespace st {

// Reads a YAML config file over the defaults, then applies overrides "key=value" (typed and
// checked like the file). Errors name the file:line or the --set argument.
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides);

// Applies a YAML text (used for configs stored in checkpoints).
TrainConfig train_config_from_yaml(const std::string& yaml_text, const std::string& origin);

// The resolved config as YAML, every key present.
std::string to_yaml(const TrainConfig& cfg);

// docs/config.md, generated from the schema.
std::string config_docs_markdown();

// The valid key paths ("model.d_model", ...), for suggestions and tests.
std::vector<std::string> config_keys();
// A key's value as the resolved YAML writes it.
std::string config_value(const TrainConfig& cfg, const std::string& key);
// Whether a key may differ from the stored config on --resume without --allow-change (layout,
// logging, checkpointing: nothing that changes what is trained); listed in docs/config.md.
bool free_on_resume(const std::string& key);
// Throws "<what>: unknown key 'KEY'; did you mean ...?" unless key is a config key.
void check_config_key(const std::string& key, const std::string& what);

}  // namespace st
