// LocalCommunicator (size 1), and finish_quietly for the destructors of Work.
#include "core/comm/communicator.h"

#include <cstdio>
#include <exception>

namespace st {

namespace {
class DoneWork final : public Work {
 public:
  void wait() override {}
  bool test() override { return true; }
};
}  // namespace

void finish_quietly(Work& work, const char* what) noexcept {
  try {
    work.wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s (while discarding an unfinished %s)\n", e.what(), what);
  } catch (...) {
    std::fprintf(stderr, "unknown error while discarding an unfinished %s\n", what);
  }
}

std::string broadcast_text(Communicator& comm, const std::string& text, int root) {
  if (comm.size() == 1) return text;
  bool mine = comm.rank() == root;
  ST_CHECK(!mine || text.size() <= (1u << 20), "broadcast_text: ", text.size(), " bytes, at most 1 MiB");
  Tensor length = Tensor::from_vector<int32_t>({mine ? static_cast<int32_t>(text.size()) : 0}, {1});
  comm.broadcast(length, root);
  int32_t n = host_values<int32_t>(length)[0];
  ST_CHECK(n >= 0 && n <= (1 << 20), "broadcast_text: bad length ", n);
  if (n == 0) return "";
  std::vector<int32_t> chars(static_cast<size_t>(n), 0);  // one character per int32
  if (mine)
    for (int32_t i = 0; i < n; ++i) chars[static_cast<size_t>(i)] = static_cast<unsigned char>(text[static_cast<size_t>(i)]);
  Tensor body = Tensor::from_vector<int32_t>(chars, {n});
  comm.broadcast(body, root);
  std::vector<int32_t> got = host_values<int32_t>(body);
  std::string out(static_cast<size_t>(n), '\0');
  for (int32_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<char>(got[static_cast<size_t>(i)]);
  return out;
}

std::unique_ptr<Work> Communicator::reduce_scatter_sum_async(const Tensor& x, const Tensor& out) {
  reduce_scatter_sum(x, out);
  return std::make_unique<DoneWork>();
}

std::unique_ptr<Work> LocalCommunicator::all_reduce_sum_async(const Tensor&) {
  return std::make_unique<DoneWork>();
}

void LocalCommunicator::all_gather(const Tensor& x, const Tensor& out) {
  ST_CHECK(out.numel() == x.numel(), "all_gather: output of ", out.numel(), " elements for input ",
           x.shape(), " on 1 rank");
  copy_into(out.reshape(x.shape()), x);
}

void LocalCommunicator::reduce_scatter_sum(const Tensor& x, const Tensor& out) {
  ST_CHECK(out.numel() == x.numel(), "reduce_scatter: output of ", out.numel(),
           " elements for input ", x.shape(), " on 1 rank");
  copy_into(out, x.reshape(out.shape()));
}

void LocalCommunicator::send(const Tensor&, int dest, int) {
  ST_THROW("communicator local does not support send (to rank ", dest, ")");
}

void LocalCommunicator::recv(const Tensor&, int source, int) {
  ST_THROW("communicator local does not support recv (from rank ", source, ")");
}

std::shared_ptr<Communicator> LocalCommunicator::split(int, int) {
  return std::make_shared<LocalCommunicator>();
}

}  // namespace st
