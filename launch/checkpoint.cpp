// Checkpoint files; see checkpoint.h.
#include "launch/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "core/tensor/checked.h"
#include "data/crc32c.h"
#include "data/h5.h"
#include "launch/config/schema.h"

namespace st {

namespace fs = std::filesystem;

namespace {
std::string fmt_hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

constexpr int64_t kVersion = 2;  // 2: the checksums attribute; 1 (still read): none

// The "checksums" attribute: one line "DATASET CRC32C-HEX" per dataset.
using Checksums = std::map<std::string, uint32_t>;

// The checksums a file promises: none for version 1; for version 2 every dataset's, parsed
// strictly (a damaged attribute is an error naming the file).
std::optional<Checksums> read_checksums(const h5::File& f) {
  int64_t version = f.int_attribute("version");
  ST_CHECK(version == 1 || version == kVersion, f.path(), ": checkpoint version ", version,
           " is not supported (this build reads 1 and 2)");
  if (version == 1) return std::nullopt;
  ST_CHECK(f.has_attribute("checksums"), f.path(), ": version 2 checkpoint without its checksums attribute");
  Checksums sums;
  std::istringstream in(f.string_attribute("checksums"));
  std::string name, hex;
  while (in >> name >> hex) {
    char* end = nullptr;
    unsigned long v = std::strtoul(hex.c_str(), &end, 16);
    ST_CHECK(hex.size() == 8 && end == hex.c_str() + 8 && v <= 0xFFFFFFFFul, f.path(),
             ": damaged checksums attribute (entry '", name, " ", hex, "')");
    sums[name] = static_cast<uint32_t>(v);
  }
  return sums;
}

// Dataset ds of f, which must exist with the shape `expect`, match its checksum (version 2) and
// hold finite values only (errors name the file and `what`).
Tensor read_checked(const h5::File& f, const std::string& ds, const Shape& expect, const std::string& what,
                    const std::optional<Checksums>& sums) {
  ST_CHECK(f.has(ds), f.path(), ": missing ", what, " (", ds, "): was it saved from a different model?");
  h5::DatasetInfo info = f.info(ds);
  Shape shape(info.dims.begin(), info.dims.end());
  ST_CHECK(shape == expect, f.path(), ": ", what, " has shape ", shape, ", this model expects ", expect,
           " (model.* keys that change its size differ from the file's)");
  std::vector<float> values = f.read_f32(ds);
  if (sums) {
    auto it = sums->find(ds);
    ST_CHECK(it != sums->end(), f.path(), ": ", what, " (", ds, ") has no checksum: the file is damaged");
    uint32_t got = crc32c(values.data(), values.size() * sizeof(float));
    ST_CHECK(got == it->second, f.path(), ": ", what, " (", ds, ") fails its checksum (stored ", fmt_hex(it->second),
             ", read ", fmt_hex(got), "): the file is damaged");
  }
  int64_t bad = 0;
  for (float v : values) bad += std::isfinite(v) ? 0 : 1;
  ST_CHECK(bad == 0, f.path(), ": ", what, " (", ds, ") holds ", bad, " non-finite value(s); refusing to load it");
  return Tensor::from_vector(values, shape);
}

// Parameters, then optimizer moments (when given), then the attributes, into a temporary file
// that is synced and renamed into place.
void write_checkpoint(const std::string& path, const SimpleTronModel& model, MomentStream* optimizer,
                      const CheckpointState& st) {
  fs::path target(path);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  // Written as PATH.tmp, synced and renamed: a failure never replaces a good checkpoint.
  h5::write_file_atomically(path, [&](h5::File& f) {
    std::string sums;  // the checksums attribute
    auto write = [&](const std::string& ds, const Tensor& t) {
      Tensor host = t.detach().contiguous().to(Device::cpu());
      f.write_f32(ds, host.shape(), host.data<float>());
      sums += ds + " " + fmt_hex(crc32c(host.data<float>(), static_cast<size_t>(host.numel()) * sizeof(float))) + "\n";
    };
    for (auto& [name, p] : model.named_parameters()) write("params/" + name, p);
    if (optimizer)
      while (optimizer->next([&](const std::string& name, const Tensor& m, const Tensor& v) {
        write("optim/m/" + name, m);
        write("optim/v/" + name, v);
      })) {
      }
    f.set_attribute("format", std::string("simpletron-checkpoint"));
    f.set_attribute("version", kVersion);
    f.set_attribute("checksums", sums);
    f.set_attribute("step", st.step);
    f.set_attribute("optimizer_step", optimizer ? optimizer->step() : int64_t(0));
    f.set_attribute("loader_epoch", st.cursor.epoch);
    f.set_attribute("loader_position", st.cursor.position);
    f.set_attribute("loader_dp", st.loader_dp);
    f.set_attribute("loader_micro_batch", st.loader_micro_batch);
    f.set_attribute("skipped_steps", st.skipped_steps);
    f.set_attribute("best_metric", st.best_metric);
    f.set_attribute("best_step", st.best_step);
    f.set_attribute("seed", static_cast<int64_t>(st.seed));
    f.set_attribute("config", st.config_yaml);
  });
}
}  // namespace

void save_checkpoint(const std::string& path, const SimpleTronModel& model, MomentStream& optimizer,
                     const CheckpointState& st) {
  write_checkpoint(path, model, &optimizer, st);
}

void save_weights(const std::string& path, const SimpleTronModel& model, const std::string& config_yaml) {
  CheckpointState st;
  st.config_yaml = config_yaml;
  write_checkpoint(path, model, nullptr, st);
}

WeightsReport load_weights(const std::string& path, SimpleTronModel& model, bool require_all) {
  h5::File f = h5::File::open_read(path);
  ST_CHECK(f.has_attribute("format") && f.string_attribute("format") == "simpletron-checkpoint", path,
           ": not a simpletron checkpoint (attribute format missing or different)");
  std::optional<Checksums> sums = read_checksums(f);
  WeightsReport rep;
  std::map<std::string, Tensor> state;
  std::set<std::string> names;
  for (auto& [name, p] : model.named_parameters()) {
    names.insert(name);
    std::string ds = "params/" + name;
    if (!f.has(ds) && !require_all) {
      rep.fresh.push_back(name);
      continue;
    }
    state[name] = read_checked(f, ds, p.shape(), "parameter " + name, sums);
    rep.loaded.push_back(name);
  }
  for (const std::string& n : f.list("params"))
    if (!names.count(n)) rep.unused.push_back(n);
  NoGradGuard ng;
  for (auto& [name, p] : model.named_parameters())
    if (state.count(name)) copy_into(p, state.at(name));
  return rep;
}

CheckpointState load_checkpoint(const std::string& path, SimpleTronModel* model, AdamWState* optimizer) {
  h5::File f = h5::File::open_read(path);
  ST_CHECK(f.has_attribute("format") && f.string_attribute("format") == "simpletron-checkpoint", path,
           ": not a simpletron checkpoint (attribute format missing or different)");
  std::optional<Checksums> sums = read_checksums(f);
  CheckpointState st;
  st.step = f.int_attribute("step");
  st.cursor.epoch = f.int_attribute("loader_epoch");
  st.cursor.position = f.int_attribute("loader_position");
  st.loader_dp = f.int_attribute("loader_dp");
  st.loader_micro_batch = f.int_attribute("loader_micro_batch");
  st.skipped_steps = f.int_attribute("skipped_steps");
  st.best_metric = f.double_attribute("best_metric");
  st.best_step = f.int_attribute("best_step");
  st.seed = static_cast<uint64_t>(f.int_attribute("seed"));
  st.config_yaml = f.string_attribute("config");
  if (model) {
    std::map<std::string, Tensor> state;
    auto read = [&](const std::string& ds, const Shape& expect, const std::string& what) {
      return read_checked(f, ds, expect, what, sums);
    };
    for (auto& [name, p] : model->named_parameters()) state[name] = read("params/" + name, p.shape(), "parameter " + name);
    AdamWState moments;
    if (optimizer) {
      for (auto& [name, p] : model->named_parameters()) {
        moments.names.push_back(name);
        moments.m.push_back(read("optim/m/" + name, p.shape(), "AdamW moment m of " + name));
        moments.v.push_back(read("optim/v/" + name, p.shape(), "AdamW moment v of " + name));
      }
      moments.step = f.int_attribute("optimizer_step");
    }
    // Everything read and checked: now change the model.
    model->load_state(state);
    if (optimizer) *optimizer = std::move(moments);
  }
  return st;
}

std::unique_ptr<SimpleTronModel> load_model(const std::string& path) {
  CheckpointState saved = load_checkpoint(path, nullptr, nullptr);
  ModelConfig mc = train_config_from_yaml(saved.config_yaml, path + " (stored config)").model;
  auto model = std::make_unique<SimpleTronModel>(mc);
  load_weights(path, *model, true);
  model->eval();
  return model;
}

std::string verify_checkpoint(const std::string& path) {
  try {
    h5::File f = h5::File::open_read(path);
    ST_CHECK(f.has_attribute("format") && f.string_attribute("format") == "simpletron-checkpoint", path,
             ": not a simpletron checkpoint (attribute format missing or different)");
    std::optional<Checksums> sums = read_checksums(f);
    load_checkpoint(path, nullptr, nullptr);  // every attribute is there and readable
    TrainConfig cfg = train_config_from_yaml(f.string_attribute("config"), path + " (stored config)");
    cfg.model.validate();
    // The datasets hold the parameters and two moments of that model: no more, whatever the file's
    // dimensions claim (a damaged one could ask for any allocation).
    int64_t budget = checked_mul(cfg.model.parameter_count(), 3, "checkpoint size");
    for (const char* group : {"params", "optim/m", "optim/v"})
      for (const std::string& name : f.list(group)) {
        std::string ds = std::string(group) + "/" + name;
        h5::DatasetInfo info = f.info(ds);
        int64_t elements = 1;
        for (int64_t d : info.dims) elements = checked_mul(elements, d, "checkpoint dataset size");
        budget -= elements;
        ST_CHECK(budget >= 0, path, ": ", ds, " makes the datasets larger than the stored model's parameters and "
                 "moments: the file is damaged");
        read_checked(f, ds, Shape(info.dims.begin(), info.dims.end()), "dataset", sums);
      }
    if (sums)
      for (const auto& [ds, crc] : *sums)
        ST_CHECK(f.has(ds), path, ": ", ds, " is listed in the checksums but missing: the file is damaged");
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::string checkpoint_dir(const std::string& run_dir) { return run_dir + "/checkpoints"; }

std::string step_checkpoint_path(const std::string& run_dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof(name), "/step-%09lld.h5", static_cast<long long>(step));
  return checkpoint_dir(run_dir) + name;
}

std::string best_checkpoint_path(const std::string& run_dir) { return checkpoint_dir(run_dir) + "/best.h5"; }

std::vector<std::string> step_checkpoints(const std::string& run_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpoint_dir(run_dir), ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind("step-", 0) == 0 && n.size() > 8 && n.substr(n.size() - 3) == ".h5") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void prune_step_checkpoints(const std::string& run_dir, int64_t keep) {
  auto all = step_checkpoints(run_dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) std::remove(all[i].c_str());
}

}  // namespace st
