// LRA Pathfinder release converter; see pathfinder_png.h.
#include "data/tasks/pathfinder_png.h"

#include <algorithm>
#include <filesystem>

#include "core/tensor/error.h"
#include "data/tasks/line_reader.h"
#include "data/tasks/pathfinder_dataset.h"
#include "data/tasks/png_gray.h"
#include "data/tasks/vocab.h"

namespace st::tasks {

namespace fs = std::filesystem;

namespace {

// "2.npy" < "10.npy": numeric stems by value, then by name.
bool natural_less(const fs::path& a, const fs::path& b) {
  auto number = [](const std::string& s) -> int64_t {
    if (s.empty() || s.size() > 15 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
    return std::stoll(s);
  };
  int64_t na = number(a.stem().string()), nb = number(b.stem().string());
  if (na >= 0 && nb >= 0 && na != nb) return na < nb;
  if ((na >= 0) != (nb >= 0)) return na >= 0;
  return a.filename().string() < b.filename().string();
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t b = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > b) out.push_back(line.substr(b, i - b));
  }
  return out;
}

int32_t parse_label(std::string_view text, const std::string& where) {
  int64_t label = parse_int(text, where, "label");
  ST_CHECK(label == 0 || label == 1, where, ": label ", label, " is not 0 or 1");
  return static_cast<int32_t>(label);
}

}  // namespace

std::vector<PngEntry> read_pathfinder_metadata(const std::string& root) {
  fs::path dir = fs::path(root) / "metadata";
  std::error_code ec;
  ST_CHECK(fs::is_directory(dir, ec), "--root: ", dir.string(),
           " is not a directory (expected the LRA layout ROOT/metadata/*.npy, or use --listing)");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".npy") files.push_back(e.path());
  ST_CHECK(!files.empty(), "--root: no metadata files ", dir.string(), "/*.npy");
  std::sort(files.begin(), files.end(), natural_less);
  std::vector<PngEntry> entries;
  for (const auto& f : files) {
    LineReader in(f.string());
    std::string line;
    while (in.next(line)) {
      if (trim(line).empty()) continue;
      auto fields = split_spaces(line);
      ST_CHECK(fields.size() >= 4, in.where(), ": expected at least 4 space-separated fields ",
               "(folder, file, ..., label), found ", fields.size());
      PngEntry e;
      e.where = in.where();
      e.path = (fs::path(root) / std::string(fields[0]) / std::string(fields[1])).string();
      e.label = parse_label(fields[3], e.where);
      entries.push_back(std::move(e));
    }
  }
  return entries;
}

std::vector<PngEntry> read_png_listing(const std::string& listing, const std::string& root) {
  require_readable(listing, "--listing");
  fs::path base = root.empty() ? fs::path(listing).parent_path() : fs::path(root);
  LineReader in(listing);
  std::string line;
  std::vector<PngEntry> entries;
  while (in.next(line)) {
    if (trim(line).empty()) continue;
    auto fields = split_tabs(line);
    ST_CHECK(fields.size() == 2, in.where(), ": expected 'relative/path.png<TAB>label', found ",
             fields.size(), " tab-separated field(s)");
    PngEntry e;
    e.where = in.where();
    e.path = (base / std::string(trim(fields[0]))).string();
    e.label = parse_label(fields[1], e.where);
    entries.push_back(std::move(e));
  }
  return entries;
}

PathfinderPngResult convert_pathfinder_png(const PathfinderPngOptions& opt,
                                           const std::string& out_dir, const JobOptions& job) {
  ST_CHECK(!opt.root.empty() || !opt.listing.empty(), "pathfinder-png: give --root (and/or --listing)");
  ST_CHECK(opt.val_percent >= 0 && opt.test_percent >= 0 && opt.val_percent + opt.test_percent <= 100,
           "--val-percent ", opt.val_percent, " and --test-percent ", opt.test_percent,
           " must be non-negative and sum to at most 100");
  check_outputs_free({out_dir + "/train", out_dir + "/val", out_dir + "/test"}, job.overwrite);
  std::vector<PngEntry> all = opt.listing.empty() ? read_pathfinder_metadata(opt.root)
                                                  : read_png_listing(opt.listing, opt.root);
  PathfinderPngResult result;
  std::vector<PngEntry> entries;
  for (auto& e : all) {
    std::error_code ec;
    auto bytes = fs::file_size(e.path, ec);
    ST_CHECK(!ec, e.where, ": image ", e.path, " is missing (", ec.message(), ")");
    if (bytes == 0) ++result.empty_skipped;
    else entries.push_back(std::move(e));
  }
  ST_CHECK(!entries.empty(), "pathfinder-png: no (non-empty) images listed");

  result.size = opt.size;
  if (result.size == 0) {
    GrayImage first = read_png_gray(entries[0].path);
    result.size = static_cast<int>(first.width);
  }
  ST_CHECK(result.size >= 1, "--size must be positive, got ", result.size);
  const int64_t side = result.size;
  const ShardMeta meta = pixel_image_meta("pathfinder", side, 2);

  const auto n = static_cast<int64_t>(entries.size());
  const int64_t n_val = n * opt.val_percent / 100, n_test = n * opt.test_percent / 100;
  const int64_t n_train = n - n_val - n_test;
  int64_t offset = 0;
  for (auto [split, count] : {std::pair<const char*, int64_t>{"train", n_train},
                              {"val", n_val},
                              {"test", n_test}}) {
    const int64_t first = offset;
    auto make = [&](int64_t index, int64_t) {
      const PngEntry& e = entries[static_cast<size_t>(first + index)];
      GrayImage img = read_png_gray(e.path);
      ST_CHECK(img.width == side && img.height == side, e.path, " (", e.where, "): image is ",
               img.width, "x", img.height, ", expected ", side, "x", side,
               " (--size or the first image's size)");
      Example ex;
      ex.inputs.resize(img.pixels.size());
      for (size_t i = 0; i < img.pixels.size(); ++i) ex.inputs[i] = pixel_id(img.pixels[i]);
      ex.label = e.label;
      return ex;
    };
    SplitResult r = generate_split(out_dir + "/" + split, std::string("pathfinder-png ") + split,
                                   meta, count, job, make);
    r.name = split;
    result.splits.push_back(std::move(r));
    offset += count;
  }
  return result;
}

}  // namespace st::tasks
