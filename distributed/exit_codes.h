// Exit codes of the programs (docs/design.md, "Exit codes"), and the error that every rank of a
// job throws together: the program prints it once (rank 0) and every rank exits with its code,
// without MPI_Abort.
#pragma once
#include <stdexcept>
#include <string>

namespace st {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,              // any other error (the message says which)
  kExitUsage = 2,              // a wrong or missing command-line option
  kExitCollectiveTimeout = 3,  // a collective did not complete within distributed.timeout_seconds
  kExitPreempted = 4,          // stopped by a preemption signal after saving its checkpoint: requeue and resume
  kExitNonFinite = 5,          // stopped on a non-finite loss or gradient norm (train.nan_policy, train.max_skipped)
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

}  // namespace st
