// ListOps (Nangia & Bowman 2018, as generated for LRA): nested list operations on digits, e.g.
// [MAX 2 9 [MIN 4 7 ] 0 ] = 9. Token ids follow vocab.h. This file: evaluation, the LRA text
// form (parentheses are formatting and dropped), and the random generator of one sequence.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "data/tasks/vocab.h"

namespace st::tasks {

struct ListOpsOptions {
  int64_t max_len = 2000;  // tokens; also the shards' seq_len (LRA: 2000)
  int64_t min_len = 500;   // tokens (LRA: 500)
  int max_depth = 10;      // tree depth, leaves included (root = depth 1) (LRA: 10)
  int max_args = 10;       // arguments per operator, at least 2 (LRA: 10)
  void validate() const;   // errors name the option
};

// The value (0-9) of one operator applied to its arguments. MED of an even count is the floor
// of the mean of the two middle values (LRA: int(np.median(args))); SM is the sum mod 10.
int apply_listop(ListOp op, const std::vector<int>& args);

// Evaluates a token-id sequence (trailing padding allowed). Malformed sequences are an error
// naming `where` and the token position.
int evaluate_listops(const int32_t* ids, size_t n, const std::string& where = "listops");
inline int evaluate_listops(const std::vector<int32_t>& ids, const std::string& where = "listops") {
  return evaluate_listops(ids.data(), ids.size(), where);
}
// Tree depth of a well-formed sequence: the deepest digit's number of enclosing operators + 1.
int listops_depth(const std::vector<int32_t>& ids);
// Non-padding tokens.
int64_t listops_length(const std::vector<int32_t>& ids);

// LRA text form -> ids: blank-separated tokens, "(" and ")" dropped, anything else must be a
// ListOps token (error naming `where` and the token).
std::vector<int32_t> tokenize_listops(std::string_view text, const std::string& where = "listops");
int evaluate_listops_text(std::string_view text);
// Ids -> "[MAX 2 9 ]" (padding omitted).
std::string listops_to_text(const std::vector<int32_t>& ids);

struct ListOpsSequence {
  std::vector<int32_t> ids;  // unpadded, min_len <= size <= max_len
  int value = 0;             // the label
  int64_t attempts = 0;      // trees drawn until one had an accepted length
};

// Draws trees as LRA's generator does until one has min_len <= length <= max_len. The error
// for options that (almost) never give such a length names them.
ListOpsSequence generate_listops(const ListOpsOptions& opt, std::mt19937_64& rng);

}  // namespace st::tasks
