// ListOps evaluation, text form and generator; see listops.h.
//
// Generation (the algorithm of LRA's lra_benchmarks/data/listops.py, re-implemented): a tree is
// drawn top-down from the root at depth 1. At a node of depth d < max_depth, with probability
// 0.25 the node is an operator (one of MAX, MIN, MED, SM, uniformly) with a uniform number of
// arguments in [2, max_args], each argument an independent subtree at depth d + 1; otherwise
// (and always at d = max_depth) it is a leaf digit, uniform in 0-9. The sequence is the
// pre-order listing "[OP arg ... ]" (length = digits + 2 per operator), and the label is its
// value. Trees whose length is outside [min_len, max_len] are rejected and redrawn (LRA keeps
// 500 < length < 2000, bounds exclusive; ours are inclusive, so a 2000-token sequence fits a
// 2000-token row). Drawing stops as soon as the tree cannot fit max_len any more, which keeps
// rejected draws cheap. Our random draws come from a per-example std::mt19937_64, so the trees
// are distributed as LRA's but are not the same trees.
#include "data/tasks/listops.h"

#include <algorithm>
#include <cctype>

#include "core/tensor/error.h"
#include "data/tasks/seeds.h"

namespace st::tasks {

namespace {

constexpr double kOperatorProbability = 0.25;  // LRA: VALUE_P (a leaf when r > 0.25)
constexpr int64_t kMaxAttempts = 2000000;

// The longest sequence a tree of this depth limit can have (saturating at 1e12).
double max_tree_length(int max_depth, int max_args) {
  double len = 1;  // a leaf at depth max_depth
  for (int d = max_depth - 1; d >= 1; --d) len = std::min(1e12, 2 + max_args * len);
  return len;
}

struct TreeDrawer {
  const ListOpsOptions& opt;
  std::mt19937_64& rng;
  std::vector<int32_t>& ids;
  int64_t open_ops = 0;  // operators whose "]" is still to come
  bool too_long = false;

  bool fits() {
    if (static_cast<int64_t>(ids.size()) + open_ops > opt.max_len) too_long = true;
    return !too_long;
  }

  int node(int depth) {
    bool is_op = depth < opt.max_depth && uniform01(rng) <= kOperatorProbability;
    if (!is_op) {
      int v = static_cast<int>(uniform_int(rng, 0, 9));
      ids.push_back(listops_digit_id(v));
      fits();
      return v;
    }
    auto op = static_cast<ListOp>(uniform_int(rng, 0, 3));
    int64_t nargs = uniform_int(rng, 2, opt.max_args);
    ids.push_back(listops_op_id(op));
    ++open_ops;
    if (!fits()) return 0;
    std::vector<int> args;
    args.reserve(static_cast<size_t>(nargs));
    for (int64_t a = 0; a < nargs; ++a) {
      args.push_back(node(depth + 1));
      if (too_long) return 0;
    }
    --open_ops;
    ids.push_back(kListOpsClose);
    return apply_listop(op, args);
  }
};

}  // namespace

void ListOpsOptions::validate() const {
  ST_CHECK(max_len >= 1, "--max-len must be at least 1, got ", max_len);
  ST_CHECK(min_len >= 1 && min_len <= max_len, "--min-len ", min_len,
           " must be in [1, --max-len = ", max_len, "]");
  ST_CHECK(max_depth >= 1 && max_depth <= 64, "--max-depth must be in [1, 64], got ", max_depth);
  ST_CHECK(max_args >= 2 && max_args <= 1000, "--max-args must be in [2, 1000], got ", max_args);
  double longest = max_tree_length(max_depth, max_args);
  ST_CHECK(longest >= static_cast<double>(min_len), "--min-len ", min_len,
           " cannot be reached: trees of --max-depth ", max_depth, " and --max-args ", max_args,
           " have at most ", static_cast<int64_t>(longest), " tokens");
}

int apply_listop(ListOp op, const std::vector<int>& args) {
  ST_CHECK(!args.empty(), "listops: operator without arguments");
  switch (op) {
    case ListOp::Max: return *std::max_element(args.begin(), args.end());
    case ListOp::Min: return *std::min_element(args.begin(), args.end());
    case ListOp::Med: {
      std::vector<int> s = args;
      std::sort(s.begin(), s.end());
      size_t n = s.size();
      return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
    case ListOp::SumMod: {
      int sum = 0;
      for (int a : args) sum += a;
      return sum % 10;
    }
  }
  ST_THROW("listops: unknown operator ", static_cast<int>(op));
}

int evaluate_listops(const int32_t* ids, size_t n, const std::string& where) {
  const auto& vocab = listops_vocabulary();
  struct Frame {
    ListOp op;
    std::vector<int> args;
  };
  std::vector<Frame> stack;
  int result = -1;
  size_t end = n;
  while (end > 0 && ids[end - 1] == kPadId) --end;
  ST_CHECK(end > 0, where, ": empty ListOps sequence");
  for (size_t i = 0; i < end; ++i) {
    int32_t id = ids[i];
    ST_CHECK(id > 0 && id < kListOpsVocabSize, where, ": token ", i, " has id ", id,
             ", not a ListOps token (padding only at the end)");
    ST_CHECK(result < 0, where, ": token ", i, " ('", vocab[id],
             "') follows a complete expression");
    if (id >= kListOpsDigit0 && id < kListOpsDigit0 + 10) {
      int v = id - kListOpsDigit0;
      if (stack.empty()) result = v;
      else stack.back().args.push_back(v);
    } else if (id == kListOpsClose) {
      ST_CHECK(!stack.empty(), where, ": token ", i, " (']') closes no operator");
      ST_CHECK(!stack.back().args.empty(), where, ": token ", i, " (']') closes an operator ",
               "without arguments");
      int v = apply_listop(stack.back().op, stack.back().args);
      stack.pop_back();
      if (stack.empty()) result = v;
      else stack.back().args.push_back(v);
    } else {
      stack.push_back({static_cast<ListOp>(id - kListOpsFirstOp), {}});
    }
  }
  ST_CHECK(stack.empty(), where, ": ", stack.size(), " operator(s) not closed with ']'");
  return result;
}

int listops_depth(const std::vector<int32_t>& ids) {
  int open = 0, depth = 0;
  for (int32_t id : ids) {
    if (id >= kListOpsFirstOp && id < kListOpsClose) ++open;
    else if (id == kListOpsClose) --open;
    else if (id != kPadId) depth = std::max(depth, open + 1);
  }
  return depth;
}

int64_t listops_length(const std::vector<int32_t>& ids) {
  return std::count_if(ids.begin(), ids.end(), [](int32_t id) { return id != kPadId; });
}

std::vector<int32_t> tokenize_listops(std::string_view text, const std::string& where) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t b = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (b == i) break;
    std::string tok(text.substr(b, i - b));
    if (tok == "(" || tok == ")") continue;  // LRA's formatting; not tokens
    int32_t id = listops_token_id(tok);
    ST_CHECK(id > 0, where, ": '", tok.substr(0, 20),
             "' is not a ListOps token (expected 0-9, [MAX, [MIN, [MED, [SM, ], ( or ))");
    ids.push_back(id);
  }
  return ids;
}

int evaluate_listops_text(std::string_view text) { return evaluate_listops(tokenize_listops(text)); }

std::string listops_to_text(const std::vector<int32_t>& ids) {
  const auto& vocab = listops_vocabulary();
  std::string out;
  for (int32_t id : ids) {
    if (id == kPadId) continue;
    if (!out.empty()) out += ' ';
    out += id > 0 && id < kListOpsVocabSize ? vocab[id] : "?";
  }
  return out;
}

ListOpsSequence generate_listops(const ListOpsOptions& opt, std::mt19937_64& rng) {
  ListOpsSequence seq;
  seq.ids.reserve(static_cast<size_t>(opt.max_len) + 1);
  for (seq.attempts = 1; seq.attempts <= kMaxAttempts; ++seq.attempts) {
    seq.ids.clear();
    TreeDrawer draw{opt, rng, seq.ids};
    int value = draw.node(1);
    auto len = static_cast<int64_t>(seq.ids.size());
    if (!draw.too_long && len >= opt.min_len && len <= opt.max_len) {
      seq.value = value;
      return seq;
    }
  }
  ST_THROW("listops: no sequence with length in [--min-len ", opt.min_len, ", --max-len ",
           opt.max_len, "] after ", kMaxAttempts, " draws with --max-depth ", opt.max_depth,
           " and --max-args ", opt.max_args, "; widen the length range");
}

}  // namespace st::tasks
