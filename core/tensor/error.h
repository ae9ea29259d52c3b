// Error reporting for library code: ST_CHECK throws st::Error with a message built from its
// arguments (streamed with operator<<). Programs catch st::Error once at the top.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <cstdint>
#include <ostream>

namespace st {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What an error is about, where a program's exit code tells them apart (docs/design.md, "Exit
// codes"): a config key's or option's value, or the data (a shard file missing, unreadable or
// malformed).
class ConfigError : public Error {
 public:
  using Error::Error;
};
class DataError : public Error {
 public:
  using Error::Error;
};

// Runs f(); an st::Error it throws (other than a ConfigError or DataError already) is thrown
// again as an E with the same message.
template <class E, class F>
decltype(auto) as_error(F&& f) {
  try {
    return f();
  } catch (const ConfigError&) {
    throw;
  } catch (const DataError&) {
    throw;
  } catch (const Error& e) {
    throw E(e.what());
  }
}

// Prints a shape as (2, 3) — declared here so that error messages can stream shapes.
inline std::ostream& operator<<(std::ostream& os, const std::vector<int64_t>& s) {
  os << '(';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ',';
  return os << ')';
}

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace st

#define ST_THROW(...) throw ::st::Error(::st::detail::concat(__VA_ARGS__))
#define ST_CHECK(cond, ...)                \
  do {                                     \
    if (!(cond)) ST_THROW(__VA_ARGS__);    \
  } while (0)
