// JSON bounds; see json_limits.h.
#include "data/json_limits.h"

#include "core/tensor/error.h"

namespace st {

void check_json_depth(const std::string& text, int max_depth, const std::string& what) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character is never a quote that ends the string
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ST_CHECK(++depth <= max_depth, what, ": JSON nested more than ", max_depth,
               " levels deep (at byte ", i, "); this format allows at most ", max_depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

}  // namespace st
