// `st-data sentences`: sentences of prose from text files (plain text, Markdown or
// reStructuredText documentation), tokenised with a BERT WordPiece vocabulary into
// [CLS] pieces [SEP] rows of max_len ids (padded with 0, longer sentences cut), written as
// unlabelled shards (num_classes 0, task "sentences") in DIR/{train,val,test}-NNNNN.h5.
//
// Extraction: paragraphs are runs of non-blank lines that start at column 0; markup lines
// (directives "..", headings and their underlines, tables, list bullets are kept as text) and
// indented blocks (code) are left out; inline markup (``code``, :role:`x`, `text <url>`_, *, **)
// is reduced to its text. Paragraphs split into sentences after . ? ! followed by a space and an
// upper-case letter, digit or quote. A sentence is kept with min_words..max_words words, mostly
// letters, and only once (exact duplicates are dropped). The split of a sentence is a function
// of its text (a hash), so it does not depend on file order.
#pragma once
#include <string>
#include <vector>

#include "data/tasks/job.h"

namespace st::tasks {

struct SentenceOptions {
  std::string vocab;        // BERT vocab.txt
  int64_t max_len = 64;     // ids per row, [CLS] and [SEP] included
  int64_t min_words = 5;
  int64_t max_words = 80;
  int val_percent = 5, test_percent = 5;
};

// Files named in inputs, directories replaced by their .rst, .md and .txt files (recursively,
// sorted). A missing path is an error naming it.
std::vector<std::string> expand_text_inputs(const std::vector<std::string>& inputs);

// The sentences of one document's text (exposed for tests).
std::vector<std::string> extract_sentences(const std::string& text, const SentenceOptions& opt);

std::vector<SplitResult> convert_sentences(const std::vector<std::string>& inputs, const std::string& out_dir,
                                           const SentenceOptions& opt, const JobOptions& job);

}  // namespace st::tasks
