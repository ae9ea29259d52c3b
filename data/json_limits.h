// Bounds on JSON read from files, checked on the text before it is parsed: a JSON value nested
// deeper than its format allows (say '[' * 100000) is refused with a clear error instead of
// being built and walked recursively (a stack overflow).
#pragma once
#include <string>

namespace st {

// Throws "WHAT: JSON nested N levels deep, at most MAX are allowed" when arrays and objects in
// text nest deeper than max_depth (strings and escapes are skipped; the text need not be valid).
void check_json_depth(const std::string& text, int max_depth, const std::string& what);

}  // namespace st
