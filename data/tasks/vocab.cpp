// The fixed task vocabularies; see vocab.h.
#include "data/tasks/vocab.h"

#include <cstdio>

namespace st::tasks {

const std::vector<std::string>& listops_vocabulary() {
  static const std::vector<std::string> vocab = {
      "<pad>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "[MAX", "[MIN", "[MED", "[SM", "]"};
  return vocab;
}

int32_t listops_token_id(const std::string& token) {
  const auto& v = listops_vocabulary();
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] == token) return static_cast<int32_t>(i);
  return -1;
}

std::vector<std::string> byte_vocabulary() {
  std::vector<std::string> v{"<pad>"};
  for (int b = 0; b < 256; ++b) {
    if (b >= 0x20 && b < 0x7f) {
      v.emplace_back(1, static_cast<char>(b));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", b);
      v.emplace_back(buf);
    }
  }
  return v;
}

std::vector<std::string> pixel_vocabulary() {
  std::vector<std::string> v{"<pad>"};
  for (int g = 0; g < 256; ++g) {
    std::string token = "p";
    token += std::to_string(g);
    v.push_back(std::move(token));
  }
  return v;
}

bool is_byte_vocabulary(const std::vector<std::string>& vocab) {
  return vocab.size() == static_cast<size_t>(kByteVocabSize) && vocab[byte_id('A')] == "A" &&
         vocab[byte_id(0)] == "\\x00";
}

}  // namespace st::tasks
