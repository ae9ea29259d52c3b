// Exit codes of the programs (docs/design.md, "Exit codes"), and the error that every rank of a
// job throws together: the program prints it once (rank 0) and every rank exits with its code,
// without MPI_Abort.
#pragma once
#include <functional>
#include <stdexcept>
#include <string>

#include "core/comm/communicator.h"

namespace st {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,              // any other error (the message says which)
  kExitUsage = 2,              // a wrong or missing command-line option, or a config error (a key's value)
  kExitCollectiveTimeout = 3,  // a collective did not complete within distributed.timeout_seconds
  kExitPreempted = 4,          // stopped by a preemption signal after saving its checkpoint: requeue and resume
  kExitNonFinite = 5,          // stopped on a non-finite loss or gradient norm (train.nan_policy, train.max_skipped)
  kExitData = 65,              // unreadable, missing or malformed data (sysexits' EX_DATAERR)
  kExitLocked = 75,            // the run directory is held by another job (sysexits' EX_TEMPFAIL: retry later)
};

// Thrown by every rank of the job with the same message (the decision was made collectively).
class CollectiveError : public std::runtime_error {
 public:
  CollectiveError(const std::string& message, int exit_code) : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// The exit code for an error: its own for a CollectiveError, kExitUsage for a ConfigError,
// kExitData for a DataError, kExitError for anything else.
int exit_code_of(const std::exception& e);

// Runs `work` on every rank of `comm` and decides together: when it threw on any rank, every
// rank throws a CollectiveError with the lowest failing rank's message, and with kExitUsage for
// a ConfigError, kExitData for a DataError, kExitError for any other st::Error (other exceptions
// pass through unchanged, on their rank alone). A collective: every rank calls it. With one
// process it runs `work` and lets its errors through as they are.
void run_together(Communicator& comm, const std::function<void()>& work);

}  // namespace st
