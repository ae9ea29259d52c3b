// WordPiece tokenizer (data/text/wordpiece.h): every text of tests/fixtures/wordpiece_minilm.jsonl
// (written by tests/reference/make_tokenizer_fixture.py with HF's slow and fast BertTokenizer)
// gives exactly the reference ids; unit tests on small vocabularies written to a temp directory.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "data/text/wordpiece.h"
#include "tests/data/temp_dir.h"
#include "tests/support/expect_error.h"
#include "tests/support/h5_fixture.h"

namespace st::text {
namespace {

using st::testing::expect_error;
using st::testing::TempDir;

std::string minilm_vocab() { return st::testing::fixtures_dir() + "/minilm_vocab.txt"; }

std::string decoded(const WordPiece& wp, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + (id >= 0 && id < wp.size() ? wp.token(id) : "?");
  return s;
}

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name), std::ios::binary) << text;
  return dir.file(name);
}

// A small vocabulary: the five special tokens (ids 0..4), then the given tokens (ids 5...).
std::string small_vocab(const TempDir& dir, const std::vector<std::string>& tokens) {
  std::string text = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (const auto& t : tokens) text += t + "\n";
  return write_file(dir, "vocab.txt", text);
}

std::vector<std::string> pieces(const WordPiece& wp, std::string_view text) {
  std::vector<std::string> out;
  for (int32_t id : wp.encode(text)) out.push_back(wp.token(id));
  return out;
}

TEST(WordPiece, MatchesHuggingFaceOnEveryFixtureText) {
  const WordPiece wp(minilm_vocab());
  std::ifstream in(st::testing::fixtures_dir() + "/wordpiece_minilm.jsonl");
  ASSERT_TRUE(in) << "missing fixture wordpiece_minilm.jsonl";
  std::string line;
  int texts = 0, failures = 0;
  while (std::getline(in, line)) {
    const auto row = nlohmann::json::parse(line);
    const std::string text = row.at("text");
    const std::vector<int32_t> want = row.at("ids");
    ++texts;
    const std::vector<int32_t> got = wp.encode_for_model(text, 1 << 30);
    if (got != want) {
      ++failures;
      ADD_FAILURE() << "text " << nlohmann::json(text).dump() << "\n  reference: "
                    << decoded(wp, want) << "\n  ours:      " << decoded(wp, got);
    }
    // encode() is the same without [CLS] / [SEP].
    EXPECT_EQ(std::vector<int32_t>(got.begin() + 1, got.end() - 1), wp.encode(text));
  }
  EXPECT_GE(texts, 300);
  EXPECT_EQ(failures, 0) << "of " << texts << " texts";
}

TEST(WordPiece, LoadsTheMiniLMVocabularyAndItsSpecialTokens) {
  const WordPiece wp(minilm_vocab());
  EXPECT_EQ(wp.size(), 30522);
  EXPECT_EQ(wp.pad_id(), 0);
  EXPECT_EQ(wp.unk_id(), 100);
  EXPECT_EQ(wp.cls_id(), 101);
  EXPECT_EQ(wp.sep_id(), 102);
  EXPECT_EQ(wp.mask_id(), 103);
  EXPECT_EQ(wp.token(101), "[CLS]");
  EXPECT_EQ(wp.id("[SEP]"), 102);
  EXPECT_EQ(wp.id("##able"), *wp.find("##able"));
  EXPECT_FALSE(wp.find("no-such-token"));
  expect_error([&] { wp.id("no-such-token"); }, {"no-such-token", "minilm_vocab.txt"});
  expect_error([&] { wp.token(-1); }, {"id -1", "out of range"});
  expect_error([&] { wp.token(30522); }, {"id 30522", "out of range"});
}

TEST(WordPiece, GreedyLongestMatchWithContinuations) {
  TempDir dir;
  const WordPiece wp(small_vocab(dir, {"un", "una", "##aff", "##able", "##ffable", "a", "##a", ","}));
  // "una" is longer than "un" but leaves "##ffable"; greedy takes it anyway (as BERT does).
  EXPECT_EQ(pieces(wp, "unaffable"), (std::vector<std::string>{"una", "##ffable"}));
  EXPECT_EQ(pieces(wp, "un,aaa"), (std::vector<std::string>{"un", ",", "a", "##a", "##a"}));
}

TEST(WordPiece, WordWithoutCompleteSegmentationIsOneUnk) {
  TempDir dir;
  const WordPiece wp(small_vocab(dir, {"un", "##aff", "##able"}));
  EXPECT_EQ(pieces(wp, "unaffable unaffablex un xyz"),
            (std::vector<std::string>{"un", "##aff", "##able", "[UNK]", "un", "[UNK]"}));
}

TEST(WordPiece, WordOfMoreThan100CodePointsIsUnk) {
  TempDir dir;
  const WordPiece wp(small_vocab(dir, {"ж", "##ж", "a", "##a"}));
  std::string w100, w101;
  for (int i = 0; i < 100; ++i) w100 += "ж";  // 100 code points, 200 bytes
  w101 = w100 + "ж";
  EXPECT_EQ(wp.encode(w100).size(), 100u);
  EXPECT_EQ(pieces(wp, w101 + " a"), (std::vector<std::string>{"[UNK]", "a"}));
  // The limit counts code points after accents are stripped: 101 × "ä" is 202 before.
  std::string umlauts;
  for (int i = 0; i < 100; ++i) umlauts += "a\xcc\x88";  // a + U+0308
  EXPECT_EQ(wp.encode(umlauts).size(), 100u);
}

TEST(WordPiece, BasicTokenization) {
  TempDir dir;
  const WordPiece wp(small_vocab(dir, {}));
  using V = std::vector<std::string>;
  EXPECT_EQ(wp.basic_tokenize("Héllo, WORLD!中文x"), (V{"hello", ",", "world", "!", "中", "文", "x"}));
  EXPECT_EQ(wp.basic_tokenize("a\tb\r\nc\xc2\xa0" "d\xe2\x80\xa8" "e"), (V{"a", "b", "c", "d", "e"}));
  // NUL, U+FFFD, zero-width space, soft hyphen, private use: removed, not separators.
  EXPECT_EQ(wp.basic_tokenize(std::string("ab\0c\xef\xbf\xbd" "d\xe2\x80\x8b" "e\xc2\xad" "f\xee\x80\x80g", 19)),
            (V{"abcdefg"}));
  EXPECT_EQ(wp.basic_tokenize("  "), V{});
  EXPECT_EQ(wp.basic_tokenize(""), V{});
  // A final capital sigma lowercases to σ (as BertTokenizerFast; the slow one gives ς).
  EXPECT_EQ(wp.basic_tokenize("ΟΔΟΣ"), V{"οδοσ"});
  EXPECT_EQ(wp.basic_tokenize("$5^2`~"), (V{"$", "5", "^", "2", "`", "~"}));
}

TEST(WordPiece, SpecialTokenLiteralsInTheTextAreOrdinaryText) {
  const WordPiece wp(minilm_vocab());
  EXPECT_EQ(pieces(wp, "Hello [SEP] world"),
            (std::vector<std::string>{"hello", "[", "sep", "]", "world"}));
}

TEST(WordPiece, EncodeForModelTruncatesThePiecesAndKeepsSepLast) {
  const WordPiece wp(minilm_vocab());
  // HF: tokenizer("a b c d e f", truncation=True, max_length=4) -> [101, 1037, 1038, 102].
  EXPECT_EQ(wp.encode_for_model("a b c d e f", 4), (std::vector<int32_t>{101, 1037, 1038, 102}));
  EXPECT_EQ(wp.encode_for_model("a b c d e f", 2), (std::vector<int32_t>{101, 102}));
  EXPECT_EQ(wp.encode_for_model("", 7), (std::vector<int32_t>{101, 102}));
  const std::vector<int32_t> all = wp.encode_for_model("a b c d e f", 8);
  EXPECT_EQ(all.size(), 8u);
  EXPECT_EQ(wp.encode_for_model("a b c d e f", 100), all);
  EXPECT_EQ(wp.encode_for_model("a b c d e f", 7).back(), 102);
  expect_error([&] { wp.encode_for_model("a", 1); }, {"max_len 1", "[CLS]", "[SEP]"});
}

TEST(WordPiece, InvalidUtf8IsAnErrorNamingTheByteOffset) {
  TempDir dir;
  const WordPiece wp(small_vocab(dir, {"a"}));
  expect_error([&] { wp.encode("ab\xff" "cd"); }, {"invalid UTF-8", "byte offset 2", "0xff"});
  expect_error([&] { wp.encode("\x80"); }, {"byte offset 0", "0x80"});
  expect_error([&] { wp.encode("abc\xe2\x82"); }, {"byte offset 3", "cut short"});
  expect_error([&] { wp.encode("a\xe2(b"); }, {"byte offset 1", "0x28", "not a continuation"});
  expect_error([&] { wp.encode("\xc0\xaf"); }, {"byte offset 0", "overlong"});
  expect_error([&] { wp.encode("x\xed\xa0\x80"); }, {"byte offset 1", "surrogate"});
  expect_error([&] { wp.encode("xy\xf4\x90\x80\x80"); }, {"byte offset 2", "U+10FFFF"});
  expect_error([&] { wp.encode_for_model("\xfe", 8); }, {"byte offset 0"});
  EXPECT_EQ(wp.encode("a\xf0\x9f\x98\x80"), (std::vector<int32_t>{wp.unk_id()}));  // valid 4 bytes
}

TEST(WordPiece, VocabularyErrorsNameTheFileAndLine) {
  TempDir dir;
  expect_error([&] { WordPiece wp(dir.file("missing.txt")); },
               {"cannot open vocabulary file", "missing.txt"});
  const std::string specials = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  auto load = [&](const std::string& text) { WordPiece wp(write_file(dir, "v.txt", text)); };
  expect_error([&] { load(specials + "a\n\nb\n"); }, {"v.txt:7", "empty token"});
  expect_error([&] { load(specials + "a\nb\na\n"); }, {"v.txt:8", "duplicate token 'a'", "line 6"});
  expect_error([&] { load(specials + "a b\n"); }, {"v.txt:6", "whitespace"});
  expect_error([&] { load(specials + "ok\n\xff\n"); }, {"v.txt:7", "invalid UTF-8", "byte offset 0"});
  expect_error([&] { load("[PAD]\n[UNK]\n[SEP]\n[MASK]\n"); }, {"v.txt", "no [CLS] token"});
  expect_error([&] { load(""); }, {"v.txt", "no tokens"});
  // CRLF line ends and a missing final newline are fine.
  const WordPiece crlf(write_file(dir, "crlf.txt", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nhi"));
  EXPECT_EQ(crlf.size(), 6);
  EXPECT_EQ(crlf.id("hi"), 5);
  EXPECT_EQ(crlf.vocab_path(), dir.file("crlf.txt"));
}

}  // namespace
}  // namespace st::text
