// A name table for an enum: its {name, value} pairs in a fixed order, defined once beside the
// enum it names. Configs, command lines and benchmarks parse and print the enum through it, and
// list its names as the valid choices, so a new value is added in one place.
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor/error.h"

namespace st {

template <class E, size_t K>
struct EnumNames {
  std::array<std::pair<const char*, E>, K> entries;

  // The value named s; throws naming `key` and listing the valid names otherwise.
  E parse(const std::string& s, const char* key) const {
    for (const auto& [n, e] : entries)
      if (s == n) return e;
    ST_THROW(key, ": unknown value '", s, "' (valid: ", joined(), ")");
  }
  const char* name(E e) const {
    for (const auto& [n, v] : entries)
      if (v == e) return n;
    return "?";
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : entries) out.emplace_back(entry.first);
    return out;
  }
  std::string joined(const char* sep = ", ") const {
    std::string out;
    for (const auto& entry : entries) out += (out.empty() ? "" : sep) + std::string(entry.first);
    return out;
  }
};

}  // namespace st
