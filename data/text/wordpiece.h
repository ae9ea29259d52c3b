// BERT's uncased WordPiece tokenizer (HuggingFace BertTokenizer(Fast) with do_lower_case=True,
// tokenize_chinese_chars=True, strip_accents=None): UTF-8 text -> vocabulary ids. Unicode data
// (NFD, general categories, lowercase) comes from utf8proc.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace st::text {

// Loaded from a BERT vocab.txt: one token a line, id = line number - 1 ("\n" or "\r\n" line ends).
// Empty tokens, tokens with whitespace or control characters, invalid UTF-8 and duplicates are
// errors naming the file and line; [PAD] [UNK] [CLS] [SEP] [MASK] must be present.
//
// encode(text):
//  1. basic tokenization: drop NUL, U+FFFD and every category C* character except \t \n \r (as
//     HF's _is_control); whitespace (\t \n \r, Zs, Zl, Zp) becomes a space; spaces around CJK
//     ideographs; lowercase per code point (simple mapping, as the fast tokenizer: a final
//     capital sigma becomes σ, not ς); NFD and drop Mn marks; split on spaces and punctuation
//     (categories P* and ASCII 33-47, 58-64, 91-96, 123-126), each punctuation mark a word;
//  2. WordPiece per word: greedy longest match first, continuations prefixed "##"; a word of more
//     than 100 code points, or one with no complete segmentation, is one [UNK].
// Invalid UTF-8 (bad lead or continuation byte, truncated, overlong, surrogate, > U+10FFFF) is an
// error giving the byte offset; nothing is replaced. Special-token literals in the text ("[SEP]")
// are ordinary text, as HF with split_special_tokens=True.
class WordPiece {
 public:
  static constexpr int64_t kMaxInputCharsPerWord = 100;
  static constexpr std::string_view kContinuation = "##";

  explicit WordPiece(const std::string& vocab_path);

  // Word-piece ids of the text, no special tokens.
  std::vector<int32_t> encode(std::string_view utf8) const;
  // [CLS] pieces [SEP], the pieces cut to max_len - 2 (HF truncation=True); max_len >= 2.
  std::vector<int32_t> encode_for_model(std::string_view utf8, int64_t max_len) const;
  // The words after basic tokenization (step 1), in UTF-8.
  std::vector<std::string> basic_tokenize(std::string_view utf8) const;

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::string& token(int32_t id) const;             // error when out of range
  int32_t id(std::string_view token) const;               // error when not in the vocabulary
  std::optional<int32_t> find(std::string_view token) const;
  const std::string& vocab_path() const { return path_; }

  int32_t pad_id() const { return pad_; }
  int32_t unk_id() const { return unk_; }
  int32_t cls_id() const { return cls_; }
  int32_t sep_id() const { return sep_; }
  int32_t mask_id() const { return mask_; }

 private:
  // Appends the pieces of one word (UTF-8, code-point offsets in offsets incl. the end).
  void encode_word(const std::string& word, const std::vector<size_t>& offsets,
                   std::vector<int32_t>& out) const;
  template <class OnWord>
  void for_each_word(std::string_view utf8, OnWord&& on_word) const;

  std::string path_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
  int32_t pad_ = -1, unk_ = -1, cls_ = -1, sep_ = -1, mask_ = -1;
};

// Code points of UTF-8 text; invalid UTF-8 is an error naming the byte offset (what says where
// the text came from, e.g. "wordpiece").
std::vector<int32_t> decode_utf8(std::string_view utf8, std::string_view what);

}  // namespace st::text
