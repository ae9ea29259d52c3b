// expect_error(f, parts): f must throw st::Error (or E) whose message contains every one of parts
// (errors must name what is wrong: the op, file, key, shapes...).
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/tensor/error.h"

namespace st::testing {

template <class E = Error>
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an error mentioning '" << parts[0] << "'";
  } catch (const E& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

}  // namespace st::testing
