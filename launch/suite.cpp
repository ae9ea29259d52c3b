// Suite configs and the results table; see suite.h.
#include "launch/suite.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/tensor/error.h"
#include "data/io_error.h"
#include "data/json_limits.h"

namespace st {

bool is_suite_config(const std::string& path) {
  try {
    YAML::Node n = YAML::LoadFile(path);
    return n.IsMap() && n["suite"];
  } catch (const YAML::Exception&) {
    return false;
  }
}

namespace {
Suite parse_suite(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    ST_THROW(path, ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  ST_CHECK(root.IsMap(), path, ": a suite config is a mapping with the key 'suite'");
  // Keys and text values must be scalars (YAML also allows lists and mappings there).
  auto text = [](const YAML::Node& n, const std::string& where, const std::string& what) {
    ST_CHECK(n.IsScalar(), where, ": ", what, " must be text, found a ",
             n.IsMap() ? "mapping" : n.IsSequence() ? "list" : "null");
    return n.Scalar();
  };
  YAML::Node s = root["suite"];
  ST_CHECK(s && s.IsMap(), path, ": 'suite' must be a mapping with run_dir and tasks");
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string where = path + ":" + std::to_string(it->first.Mark().line + 1);
    std::string k = text(it->first, where, "a key");
    ST_CHECK(k == "suite", where, ": unknown key '", k, "' next to 'suite'");
  }
  Suite out;
  for (auto it = s.begin(); it != s.end(); ++it) {
    std::string where = path + ":" + std::to_string(it->first.Mark().line + 1);
    std::string k = text(it->first, where, "a key");
    if (k == "run_dir") out.run_dir = text(it->second, where, "suite.run_dir");
    else if (k == "reference") out.reference = text(it->second, where, "suite.reference");
    else if (k == "skip_missing") {
      const std::string v = text(it->second, where, "suite.skip_missing");
      ST_CHECK(v == "true" || v == "false", where, ": suite.skip_missing '", v, "' is not true or false");
      out.skip_missing = v == "true";
    }
    else if (k == "tasks") {
      // By value: the iterator's pair is a temporary proxy, and a range-for over its member
      // would outlive it. A Node copy shares the parsed node.
      const YAML::Node tasks = it->second;
      ST_CHECK(tasks.IsSequence(), where, ": suite.tasks must be a list");
      for (auto task_it = tasks.begin(); task_it != tasks.end(); ++task_it) {
        const YAML::Node t = *task_it;
        std::string tw = path + ":" + std::to_string(t.Mark().line + 1);
        ST_CHECK(t.IsMap() && t["name"] && t["config"], tw, ": each task needs name and config");
        for (auto f = t.begin(); f != t.end(); ++f) {
          std::string key = text(f->first, tw, "a task key");
          ST_CHECK(key == "name" || key == "config" || key == "published", tw, ": unknown task key '", key,
                   "' (valid: name, config, published)");
        }
        SuiteTask task{text(t["name"], tw, "name"), text(t["config"], tw, "config"), -1};
        if (t["published"]) {
          const std::string published = text(t["published"], tw, "published");
          char* end = nullptr;
          task.published = std::strtod(published.c_str(), &end);
          ST_CHECK(!published.empty() && *end == '\0' && std::isfinite(task.published), tw, ": published '",
                   published, "' is not a number (the published accuracy, in percent)");
        }
        ST_CHECK(std::filesystem::exists(task.config), tw, ": task config '", task.config, "' does not exist");
        out.tasks.push_back(task);
      }
    } else {
      ST_THROW(where, ": unknown key 'suite.", k, "' (valid: run_dir, reference, tasks, skip_missing)");
    }
  }
  ST_CHECK(!out.run_dir.empty(), path, ": suite.run_dir is missing");
  ST_CHECK(!out.tasks.empty(), path, ": suite.tasks is empty");
  return out;
}
}  // namespace

Suite load_suite(const std::string& path) {
  try {
    return parse_suite(path);
  } catch (const YAML::Exception& e) {  // a value of the wrong kind (a list for a name, text for a number)
    ST_THROW(path, ":", e.mark.line + 1, ": ", e.msg);
  }
}

std::string write_suite_results(const Suite& suite, const std::map<std::string, std::string>& no_data) {
  std::ostringstream md, csv;
  md << "| task | test accuracy (%) | published (%) |\n|---|---|---|\n";
  csv << "task,test_accuracy,published\n";
  // The published average covers the tasks that have a result, so that the two averages compare
  // the same tasks when some did not run.
  double sum = 0, pub_sum = 0;
  int n = 0, pub_n = 0;
  for (const SuiteTask& t : suite.tasks) {
    std::string path = suite.run_dir + "/" + t.name + "/results.json";
    double acc = -1;
    if (std::ifstream in{path}) {
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      check_json_depth(text, 8, path);
      nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
      if (!j.is_discarded() && j.is_object() && j.contains("test_accuracy") && j["test_accuracy"].is_number())
        acc = j["test_accuracy"].get<double>() * 100;
    }
    char a[32] = "not run", p[32] = "-";
    if (no_data.count(t.name)) std::snprintf(a, sizeof(a), "no data");
    if (acc >= 0) {
      std::snprintf(a, sizeof(a), "%.2f", acc);
      sum += acc;
      ++n;
    }
    if (t.published >= 0) {
      std::snprintf(p, sizeof(p), "%.2f", t.published);
      if (acc >= 0) {
        pub_sum += t.published;
        ++pub_n;
      }
    }
    md << "| " << t.name << " | " << a << " | " << p << " |\n";
    csv << t.name << "," << (acc >= 0 ? a : "") << "," << (t.published >= 0 ? p : "") << "\n";
  }
  char avg[32] = "-", pavg[32] = "-";
  if (n) std::snprintf(avg, sizeof(avg), "%.2f", sum / n);
  if (pub_n) std::snprintf(pavg, sizeof(pavg), "%.2f", pub_sum / pub_n);
  const int all = static_cast<int>(suite.tasks.size());
  md << "| **average**" << (n < all ? " (" + std::to_string(n) + " of " + std::to_string(all) + " tasks)" : "")
     << " | " << avg << " | " << pavg << " |\n";
  if (!suite.reference.empty()) md << "\nPublished numbers: " << suite.reference << "\n";
  bool first_missing = true;
  for (const SuiteTask& t : suite.tasks) {
    auto it = no_data.find(t.name);
    if (it == no_data.end()) continue;
    if (first_missing) md << "\nNo data (make it, then run the suite again: finished tasks are kept):\n";
    first_missing = false;
    md << "- " << t.name << ": " << it->second << "\n";
  }
  csv << "average," << (n ? avg : "") << "," << (pub_n ? pavg : "") << "\n";
  write_text_atomically(suite.run_dir + "/results.md", md.str());
  write_text_atomically(suite.run_dir + "/results.csv", csv.str());
  return md.str();
}

}  // namespace st
