// The fixed vocabularies of the LRA tasks (stored in every shard, so a shard says what its ids
// mean). Id 0 is always "<pad>". ListOps: digits and operators; bytes: byte b -> id b + 1;
// pixels: gray level g -> id g + 1.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace st::tasks {

constexpr int32_t kPadId = 0;

// ListOps: 0 <pad>, 1..10 digits "0".."9", 11 "[MAX", 12 "[MIN", 13 "[MED", 14 "[SM", 15 "]".
enum class ListOp : int32_t { Max = 0, Min = 1, Med = 2, SumMod = 3 };
constexpr int32_t kListOpsDigit0 = 1;
constexpr int32_t kListOpsFirstOp = 11;
constexpr int32_t kListOpsClose = 15;
constexpr int64_t kListOpsVocabSize = 16;
constexpr int64_t kListOpsClasses = 10;

inline int32_t listops_digit_id(int value) { return kListOpsDigit0 + value; }
inline int32_t listops_op_id(ListOp op) { return kListOpsFirstOp + static_cast<int32_t>(op); }
const std::vector<std::string>& listops_vocabulary();
// Id of an LRA ListOps token ("[MAX", "7", "]", ...); -1 when it is not one.
int32_t listops_token_id(const std::string& token);

// Bytes: id = byte + 1, vocab 257. Printable ASCII bytes are shown as themselves, others "\xNN".
constexpr int64_t kByteVocabSize = 257;
inline int32_t byte_id(unsigned char b) { return static_cast<int32_t>(b) + 1; }
std::vector<std::string> byte_vocabulary();

// Pixels: id = gray + 1, vocab 257, tokens "p0".."p255".
constexpr int64_t kPixelVocabSize = 257;
inline int32_t pixel_id(uint8_t gray) { return static_cast<int32_t>(gray) + 1; }
std::vector<std::string> pixel_vocabulary();

// True when vocab is byte_vocabulary() (decoded text is then joined without separators).
bool is_byte_vocabulary(const std::vector<std::string>& vocab);

}  // namespace st::tasks
