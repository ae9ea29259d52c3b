// Suite configs (a list of training configs run one after another): a valid suite parses, and
// hostile ones (values of the wrong YAML kind, a published figure that is not a number, unknown
// keys, a missing task config) are errors naming the file and line, never a YAML library message.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "launch/suite.h"
#include "tests/data/temp_dir.h"
#include "tests/support/expect_error.h"

namespace st {
namespace {

using testing::expect_error;
using testing::TempDir;

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name)) << text;
  return dir.file(name);
}

TEST(Suite, ParsesTasksWithTheirPublishedFigures) {
  TempDir dir;
  std::string task = write(dir, "task.yaml", "seed: 1\n");
  std::string path = write(dir, "suite.yaml",
                           "suite:\n  run_dir: runs/s\n  reference: a paper\n  tasks:\n"
                           "    - {name: a, config: " + task + ", published: 36.5}\n"
                           "    - {name: b, config: " + task + "}\n  skip_missing: true\n");
  ASSERT_TRUE(is_suite_config(path));
  Suite s = load_suite(path);
  EXPECT_EQ(s.run_dir, "runs/s");
  ASSERT_EQ(s.tasks.size(), 2u);
  EXPECT_EQ(s.tasks[0].name, "a");
  EXPECT_DOUBLE_EQ(s.tasks[0].published, 36.5);
  EXPECT_EQ(s.tasks[1].published, -1);
  EXPECT_TRUE(s.skip_missing);
}

TEST(Suite, HostileSuitesAreErrorsNamingFileAndLine) {
  TempDir dir;
  std::string task = write(dir, "task.yaml", "seed: 1\n");
  struct Case {
    std::string text;
    std::vector<std::string> parts;
  };
  const std::string head = "suite:\n  run_dir: r\n  tasks:\n";
  const std::vector<Case> cases = {
      {head + "    - {name: [a, b], config: " + task + "}\n", {":4", "name must be text, found a list"}},
      {head + "    - {name: a, config: " + task + ", published: abc}\n",
       {":4", "published 'abc' is not a number"}},
      {head + "    - {name: a, config: " + task + ", ? [x]: 1}\n", {":4", "a task key must be text"}},
      {head + "    - {name: a, config: missing.yaml}\n", {":4", "task config 'missing.yaml' does not exist"}},
      {"suite:\n  run_dir: {a: 1}\n  tasks: []\n", {":2", "suite.run_dir must be text, found a mapping"}},
      {"suite:\n  run_dir: r\n  tasks: []\nextra: 1\n", {":4", "unknown key 'extra' next to 'suite'"}},
      {"- suite\n", {": a suite config is a mapping"}},
      {head + "    - {name: a, config: " + task + "}\n  skip_missing: yes please\n",
       {":5", "suite.skip_missing 'yes please' is not true or false"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string path = write(dir, std::to_string(i) + ".yaml", cases[i].text);
    std::vector<std::string> parts = cases[i].parts;
    parts[0].insert(0, path);
    expect_error([&] { load_suite(path); }, parts);
  }
}

}  // namespace
}  // namespace st
