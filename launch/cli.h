// The command line of every program: CLI11, a --version flag printing version_text(), and one
// rule for how parsing ends (docs/design.md, "Exit codes"): --help and --version exit 0, a usage
// error prints CLI11's message and the usage line and exits 2 (kExitUsage).
//
//   CLI::App app{"st-foo: what it does"};
//   ... add options ...
//   if (int code = st::parse_command_line(app, argc, argv, "st-foo"); code >= 0) return code;
#pragma once
#include <CLI/CLI.hpp>
#include <sstream>
#include <string_view>

#include "core/build_info.h"
#include "distributed/exit_codes.h"

namespace st {

// The exit code after CLI11 stopped with `e`: 0 for --help or --version, kExitUsage otherwise.
// CLI11's message is printed when `print` (false on all ranks but one of a multi-process job).
inline int usage_exit(const CLI::App& app, const CLI::Error& e, bool print = true) {
  std::ostringstream sink;
  int code = print ? app.exit(e) : app.exit(e, sink, sink);
  return code == 0 ? kExitOk : kExitUsage;
}

// Sequence lengths and token counts: a plain integer or one with a binary suffix, as they are
// usually written (2k = 2048, 16k = 16384, 1M = 1048576).
inline CLI::Validator token_count() {
  CLI::Validator v = CLI::AsSizeValue(false);
  v.description("");
  return v;
}

// Adds --version, then parses. Returns -1 when the program should go on, else its exit code.
inline int parse_command_line(CLI::App& app, int argc, char** argv, std::string_view program, bool print = true) {
  app.set_version_flag("--version", version_text(program));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return usage_exit(app, e, print);
  }
  return -1;
}

}  // namespace st
