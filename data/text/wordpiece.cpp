// BERT uncased WordPiece (see wordpiece.h): strict UTF-8 decoding, basic tokenization on code
// points with utf8proc's Unicode tables, greedy longest-match WordPiece over a hash map of the
// vocabulary. Buffers are per call; the tokenizer is immutable after loading (thread-safe).
#include "data/text/wordpiece.h"

#include <utf8proc.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/tensor/error.h"
#include "data/io_error.h"

namespace st::text {
namespace {

std::string hex_byte(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", b);
  return buf;
}

void append_utf8(std::string& s, int32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// BERT's _is_chinese_char: the CJK Unified Ideographs blocks and compatibility ideographs.
bool is_cjk(int32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// \t \n \r, space separators, line and paragraph separators (both references split on them).
bool is_whitespace(int32_t cp, utf8proc_category_t cat) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cat == UTF8PROC_CATEGORY_ZS ||
         cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// HF's _is_control: every "C*" category (Cc, Cf, Cs, Co, Cn); \t \n \r are whitespace instead.
bool is_control(utf8proc_category_t cat) {
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
         cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO ||
         cat == UTF8PROC_CATEGORY_CN;
}

// BERT's _is_punctuation: all non-alphanumeric printable ASCII, and the P* categories.
bool is_punctuation(int32_t cp, utf8proc_category_t cat) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
      (cp >= 123 && cp <= 126))
    return true;
  return cat == UTF8PROC_CATEGORY_PC || cat == UTF8PROC_CATEGORY_PD ||
         cat == UTF8PROC_CATEGORY_PS || cat == UTF8PROC_CATEGORY_PE ||
         cat == UTF8PROC_CATEGORY_PI || cat == UTF8PROC_CATEGORY_PF ||
         cat == UTF8PROC_CATEGORY_PO;
}

}  // namespace

std::vector<int32_t> decode_utf8(std::string_view s, std::string_view what) {
  std::vector<int32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    int n;          // continuation bytes
    int32_t cp;     // value so far
    int32_t least;  // smallest code point of this length (shorter is overlong)
    if ((b & 0xE0) == 0xC0) {
      n = 1, cp = b & 0x1F, least = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      n = 2, cp = b & 0x0F, least = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      n = 3, cp = b & 0x07, least = 0x10000;
    } else {
      ST_THROW(what, ": invalid UTF-8 at byte offset ", i, ": byte ", hex_byte(b),
               " cannot start a character");
    }
    for (int k = 1; k <= n; ++k) {
      ST_CHECK(i + k < s.size(), what, ": invalid UTF-8 at byte offset ", i,
               ": character cut short by the end of the text");
      const auto c = static_cast<unsigned char>(s[i + k]);
      ST_CHECK((c & 0xC0) == 0x80, what, ": invalid UTF-8 at byte offset ", i, ": byte ",
               hex_byte(c), " at offset ", i + k, " is not a continuation byte");
      cp = (cp << 6) | (c & 0x3F);
    }
    ST_CHECK(cp >= least, what, ": invalid UTF-8 at byte offset ", i, ": overlong encoding");
    ST_CHECK(cp < 0xD800 || cp > 0xDFFF, what, ": invalid UTF-8 at byte offset ", i,
             ": encoded surrogate");
    ST_CHECK(cp <= 0x10FFFF, what, ": invalid UTF-8 at byte offset ", i,
             ": code point beyond U+10FFFF");
    out.push_back(cp);
    i += n + 1;
  }
  return out;
}

WordPiece::WordPiece(const std::string& vocab_path) : path_(vocab_path) {
  std::ifstream in(vocab_path, std::ios::binary);
  ST_CHECK(in, "wordpiece: cannot open vocabulary file '", vocab_path, "': ", errno_message(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  ST_CHECK(!in.bad(), "wordpiece: cannot read vocabulary file '", vocab_path, "'");
  const std::string data = ss.str();

  size_t pos = 0;
  int64_t line = 0;
  while (pos < data.size()) {
    ++line;
    size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) nl = data.size();
    std::string_view tok(data.data() + pos, nl - pos);
    pos = nl + 1;
    if (!tok.empty() && tok.back() == '\r') tok.remove_suffix(1);
    const std::string where = vocab_path + ":" + std::to_string(line);
    ST_CHECK(!tok.empty(), where, ": empty token (the vocabulary has one token a line)");
    for (int32_t cp : decode_utf8(tok, where)) {
      const auto cat = utf8proc_category(cp);
      ST_CHECK(!is_whitespace(cp, cat) && cat != UTF8PROC_CATEGORY_CC, where, ": token '", tok,
               "' holds whitespace or a control character");
    }
    const auto id = static_cast<int32_t>(tokens_.size());
    auto [it, fresh] = ids_.emplace(std::string(tok), id);
    ST_CHECK(fresh, where, ": duplicate token '", tok, "' (first on line ", it->second + 1, ")");
    tokens_.emplace_back(tok);
  }
  ST_CHECK(!tokens_.empty(), "wordpiece: vocabulary file '", vocab_path, "' holds no tokens");

  auto special = [&](const char* name) {
    auto it = ids_.find(name);
    ST_CHECK(it != ids_.end(), "wordpiece: vocabulary file '", vocab_path, "' has no ", name,
             " token");
    return it->second;
  };
  pad_ = special("[PAD]");
  unk_ = special("[UNK]");
  cls_ = special("[CLS]");
  sep_ = special("[SEP]");
  mask_ = special("[MASK]");
}

const std::string& WordPiece::token(int32_t id) const {
  ST_CHECK(id >= 0 && id < size(), "wordpiece: id ", id, " out of range [0, ", size(),
           ") of vocabulary '", path_, "'");
  return tokens_[id];
}

std::optional<int32_t> WordPiece::find(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

int32_t WordPiece::id(std::string_view token) const {
  auto found = find(token);
  ST_CHECK(found, "wordpiece: token '", token, "' not in vocabulary '", path_, "'");
  return *found;
}

template <class OnWord>
void WordPiece::for_each_word(std::string_view utf8, OnWord&& on_word) const {
  const std::vector<int32_t> cps = decode_utf8(utf8, "wordpiece");

  // Clean, space CJK ideographs, lowercase; UTF-8 again for utf8proc_decompose.
  std::string lowered;
  lowered.reserve(utf8.size() + 16);
  for (int32_t cp : cps) {
    if (cp == 0 || cp == 0xFFFD) continue;
    const auto cat = utf8proc_category(cp);
    if (is_whitespace(cp, cat)) {
      lowered += ' ';
    } else if (is_control(cat)) {
      continue;
    } else if (is_cjk(cp)) {
      lowered += ' ';
      append_utf8(lowered, cp);
      lowered += ' ';
    } else {
      append_utf8(lowered, utf8proc_tolower(cp));
    }
  }

  // NFD (canonical decomposition and ordering).
  std::vector<utf8proc_int32_t> nfd(lowered.size() + 1);
  auto decompose = [&] {
    return utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(lowered.data()),
                              static_cast<utf8proc_ssize_t>(lowered.size()), nfd.data(),
                              static_cast<utf8proc_ssize_t>(nfd.size()), UTF8PROC_DECOMPOSE);
  };
  utf8proc_ssize_t n = decompose();
  if (n > static_cast<utf8proc_ssize_t>(nfd.size())) {
    nfd.resize(static_cast<size_t>(n));
    n = decompose();
  }
  ST_CHECK(n >= 0, "wordpiece: utf8proc_decompose: ", utf8proc_errmsg(n));

  // Drop Mn marks; split on spaces and around punctuation.
  std::string word;
  std::vector<size_t> offsets{0};  // byte offset of every code point of word, and the end
  auto flush = [&] {
    if (word.empty()) return;
    on_word(word, offsets);
    word.clear();
    offsets.assign(1, 0);
  };
  for (utf8proc_ssize_t i = 0; i < n; ++i) {
    const int32_t cp = nfd[i];
    const auto cat = utf8proc_category(cp);
    if (cat == UTF8PROC_CATEGORY_MN) continue;
    if (cp == ' ') {
      flush();
      continue;
    }
    const bool punct = is_punctuation(cp, cat);
    if (punct) flush();
    append_utf8(word, cp);
    offsets.push_back(word.size());
    if (punct) flush();
  }
  flush();
}

void WordPiece::encode_word(const std::string& word, const std::vector<size_t>& offsets,
                            std::vector<int32_t>& out) const {
  const size_t chars = offsets.size() - 1;
  if (static_cast<int64_t>(chars) > kMaxInputCharsPerWord) {
    out.push_back(unk_);
    return;
  }
  const size_t mark = out.size();
  std::string piece;
  size_t start = 0;
  while (start < chars) {
    int32_t found = -1;
    size_t end = chars;
    for (; end > start; --end) {
      piece.assign(start > 0 ? kContinuation : std::string_view());
      piece.append(word, offsets[start], offsets[end] - offsets[start]);
      auto it = ids_.find(piece);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // no complete segmentation: the whole word is [UNK]
      out.resize(mark);
      out.push_back(unk_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

std::vector<int32_t> WordPiece::encode(std::string_view utf8) const {
  std::vector<int32_t> ids;
  for_each_word(utf8, [&](const std::string& word, const std::vector<size_t>& offsets) {
    encode_word(word, offsets, ids);
  });
  return ids;
}

std::vector<int32_t> WordPiece::encode_for_model(std::string_view utf8, int64_t max_len) const {
  ST_CHECK(max_len >= 2, "wordpiece: encode_for_model: max_len ", max_len,
           " leaves no room for [CLS] and [SEP] (needs >= 2)");
  std::vector<int32_t> pieces = encode(utf8);
  if (static_cast<int64_t>(pieces.size()) > max_len - 2) pieces.resize(max_len - 2);
  std::vector<int32_t> ids;
  ids.reserve(pieces.size() + 2);
  ids.push_back(cls_);
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  ids.push_back(sep_);
  return ids;
}

std::vector<std::string> WordPiece::basic_tokenize(std::string_view utf8) const {
  std::vector<std::string> words;
  for_each_word(utf8, [&](const std::string& word, const std::vector<size_t>&) {
    words.push_back(word);
  });
  return words;
}

}  // namespace st::text
