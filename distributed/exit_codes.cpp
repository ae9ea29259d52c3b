// run_together: an error met on any rank, raised on every rank (exit_codes.h).
#include "distributed/exit_codes.h"

#include <algorithm>
#include <vector>

#include "core/tensor/error.h"
#include "core/tensor/tensor.h"

namespace st {

int exit_code_of(const std::exception& e) {
  if (auto* c = dynamic_cast<const CollectiveError*>(&e)) return c->exit_code();
  if (dynamic_cast<const ConfigError*>(&e)) return kExitUsage;
  if (dynamic_cast<const DataError*>(&e)) return kExitData;
  return kExitError;
}

void run_together(Communicator& comm, const std::function<void()>& work) {
  if (comm.size() == 1) return work();  // its errors as they are
  std::string failure;
  int code = kExitOk;
  try {
    work();
  } catch (const CollectiveError&) {
    throw;
  } catch (const Error& e) {
    failure = e.what();
    code = exit_code_of(e);
  }
  // Each rank's code; the lowest failing rank's message and code for every rank.
  std::vector<int32_t> codes(static_cast<size_t>(comm.size()), 0);
  codes[static_cast<size_t>(comm.rank())] = code;
  Tensor all = Tensor::from_vector<int32_t>(codes, {comm.size()});
  comm.all_reduce_sum(all);
  codes = host_values<int32_t>(all);
  auto first = std::find_if(codes.begin(), codes.end(), [](int32_t c) { return c != kExitOk; });
  if (first == codes.end()) return;
  int root = static_cast<int>(first - codes.begin());
  throw CollectiveError(broadcast_text(comm, failure, root), *first);
}

}  // namespace st
