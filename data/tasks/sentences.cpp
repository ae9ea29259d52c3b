// Sentence extraction and tokenisation; see sentences.h.
#include "data/tasks/sentences.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "core/tensor/error.h"
#include "data/io_error.h"
#include "data/text/wordpiece.h"

namespace st::tasks {

namespace {

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r") == std::string::npos; }

// A heading underline / overline or a table border: one punctuation character repeated.
bool rule_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.size() < 3) return false;
  char c = t[0];
  if (!std::ispunct(static_cast<unsigned char>(c))) return false;
  for (char x : t)
    if (x != c && x != '+' && x != '|') return false;
  return true;
}

bool markup_line(const std::string& s) {
  return s.rfind("..", 0) == 0 || s.rfind("#", 0) == 0 || s.rfind("|", 0) == 0 || s.rfind("+-", 0) == 0 ||
         s.rfind("```", 0) == 0 || s.rfind(":", 0) == 0 || rule_line(s);
}

// ``code`` -> code, :role:`text` -> text, `text <target>`_ -> text, *emphasis* -> emphasis.
std::string strip_inline_markup(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ':' && i + 1 < s.size() && std::isalpha(static_cast<unsigned char>(s[i + 1]))) {
      size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '-' || s[j] == ':')) ++j;
      if (j < s.size() && s[j] == '`' && s[j - 1] == ':') {  // a role: drop it
        i = j - 1;
        continue;
      }
    }
    if (c == '`') {
      size_t run = s.compare(i, 2, "``") == 0 ? 2 : 1;  // ``literal`` or `interpreted`
      size_t end = s.find(std::string(run, '`'), i + run);
      if (end != std::string::npos && end > i + run) {
        std::string inner = s.substr(i + run, end - i - run);
        size_t lt = inner.find(" <");
        if (lt != std::string::npos && inner.back() == '>') inner = inner.substr(0, lt);
        out += inner;
        i = end + run - 1;
        while (i + 1 < s.size() && s[i + 1] == '_') ++i;
        continue;
      }
    }
    if (c == '*' || c == '\r' || c == '\t') {
      if (c == '\t') out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

std::string collapse_spaces(const std::string& s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

bool keep(const std::string& sentence, const SentenceOptions& opt) {
  int64_t words = 1, letters = 0, chars = 0;
  for (char c : sentence) {
    words += c == ' ';
    letters += std::isalpha(static_cast<unsigned char>(c)) || (static_cast<unsigned char>(c) >= 0x80) || c == ' ';
    ++chars;
  }
  return words >= opt.min_words && words <= opt.max_words && chars > 0 &&
         static_cast<double>(letters) / static_cast<double>(chars) >= 0.8 &&
         std::isupper(static_cast<unsigned char>(sentence[0]));
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

std::vector<std::string> expand_text_inputs(const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (!fs::is_directory(in, ec)) {
      ST_CHECK(fs::exists(in, ec), in, ": no such file or directory");
      files.push_back(in);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(in, ec)) {
      std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".rst" || ext == ".md" || ext == ".txt")) found.push_back(e.path().string());
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

std::vector<std::string> extract_sentences(const std::string& text, const SentenceOptions& opt) {
  std::vector<std::string> paragraphs;
  std::string para, line;
  std::istringstream in(text);
  auto end_paragraph = [&] {
    if (!para.empty()) paragraphs.push_back(collapse_spaces(strip_inline_markup(para)));
    para.clear();
  };
  bool skipping = false;  // inside a markup line's paragraph
  while (std::getline(in, line)) {
    if (blank(line)) {
      end_paragraph();
      skipping = false;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(line[0]))) {  // indented: code or directive body
      end_paragraph();
      skipping = true;
      continue;
    }
    if (markup_line(line)) {
      // A heading's text sits above its underline: drop what was collected.
      para.clear();
      skipping = true;
      continue;
    }
    if (skipping) continue;
    para += line;
    para += ' ';
  }
  end_paragraph();

  std::vector<std::string> out;
  for (const std::string& p : paragraphs) {
    size_t start = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      char c = p[i];
      bool end = i + 1 == p.size();
      if (!end && (c == '.' || c == '?' || c == '!') && p[i + 1] == ' ' && i + 2 < p.size()) {
        unsigned char n = static_cast<unsigned char>(p[i + 2]);
        end = std::isupper(n) || std::isdigit(n) || n == '"' || n == '\'';
      }
      if (!end) continue;
      std::string s = p.substr(start, i + 1 - start);
      while (!s.empty() && s.front() == ' ') s.erase(0, 1);
      if (!s.empty() && keep(s, opt)) out.push_back(s);
      start = i + 1;
    }
  }
  return out;
}

std::vector<SplitResult> convert_sentences(const std::vector<std::string>& inputs, const std::string& out_dir,
                                           const SentenceOptions& opt, const JobOptions& job) {
  ST_CHECK(!opt.vocab.empty(), "sentences: --vocab (a BERT vocab.txt) is required");
  ST_CHECK(opt.max_len >= 3, "sentences: --max-len ", opt.max_len, " leaves no room for a token besides [CLS] and [SEP]");
  ST_CHECK(opt.val_percent >= 0 && opt.test_percent >= 0 && opt.val_percent + opt.test_percent < 100,
           "sentences: --val-percent + --test-percent must be below 100");
  std::vector<std::string> files = expand_text_inputs(inputs);
  ST_CHECK(!files.empty(), "sentences: no input files (directories give their .rst, .md and .txt files)");
  text::WordPiece tok(opt.vocab);
  ShardMeta meta;
  meta.task = "sentences";
  meta.vocab_size = tok.size();
  meta.num_classes = 0;
  meta.seq_len = opt.max_len;
  std::filesystem::create_directories(out_dir);
  const char* names[3] = {"train", "val", "test"};
  std::vector<std::string> prefixes;
  for (const char* n : names) prefixes.push_back(out_dir + "/" + n);
  check_outputs_free(prefixes, job.overwrite);
  std::vector<std::unique_ptr<SplitWriter>> writers;
  for (const std::string& p : prefixes) writers.push_back(std::make_unique<SplitWriter>(p, meta, job.shard_size, job.overwrite));

  std::unordered_set<uint64_t> seen;
  if (job.progress) job.progress->start("sentences (files)", static_cast<int64_t>(files.size()));
  for (const std::string& path : files) {
    std::ifstream f(path, std::ios::binary);
    ST_CHECK(f.good(), path, ": cannot open: ", errno_message(errno));
    std::string text((std::istreambuf_iterator<char>(f)), {});
    for (const std::string& s : extract_sentences(text, opt)) {
      uint64_t h = fnv1a(s);
      if (!seen.insert(h).second) continue;
      std::vector<int32_t> ids;
      try {
        ids = tok.encode_for_model(s, opt.max_len);
      } catch (const Error& e) {
        ST_THROW(path, ": ", e.what());
      }
      uint64_t bucket = (h >> 17) % 100;
      int split = bucket < static_cast<uint64_t>(opt.test_percent)                      ? 2
                  : bucket < static_cast<uint64_t>(opt.test_percent + opt.val_percent) ? 1
                                                                                         : 0;
      Example e;
      e.inputs = fit_to_length(std::move(ids), opt.max_len);
      writers[split]->add(e);
    }
    if (job.progress) job.progress->advance(1);
  }
  if (job.progress) job.progress->finish();
  std::vector<SplitResult> out;
  for (int i = 0; i < 3; ++i) {
    SplitResult r;
    r.name = names[i];
    r.examples = writers[i]->examples();
    r.files = writers[i]->close();
    out.push_back(r);
  }
  return out;
}

}  // namespace st::tasks
