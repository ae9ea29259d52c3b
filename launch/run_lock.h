// One writer per run directory (docs/design.md, "Run directory ownership"). A job owns RUN for
// its whole life through RUN/.lock, taken before anything else is written there:
//   flock  an exclusive flock(2) on RUN/.lock, held open; the kernel drops it when the process
//          ends, however it ends. Used wherever the file system supports it.
//   file   where it does not (or lock.mechanism: file): RUN/.lock itself is the lock, created
//          atomically with link(2); the holder touches it every heartbeat, and a lock whose
//          holder is a dead process on this host, or whose heartbeat is older than
//          lock.stale_seconds, is taken over (the log says so).
// Either way RUN/.lock holds the holder's record (program, host, PID, Slurm job, start time) as
// "key: value" lines, and a second job is refused with that record in its error.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/comm/communicator.h"
#include "distributed/exit_codes.h"

namespace st {

// The directory is held by another job: the full message for the user, exit code kExitLocked.
class RunDirLockedError : public CollectiveError {
 public:
  explicit RunDirLockedError(const std::string& message) : CollectiveError(message, kExitLocked) {}
};

enum class LockMechanism { Auto, Flock, File };
LockMechanism parse_lock_mechanism(const std::string& name);  // auto | flock | file; throws naming the key
const char* name_of(LockMechanism m);

struct RunLockOptions {
  LockMechanism mechanism = LockMechanism::Auto;
  double stale_seconds = 300;        // file mechanism: a heartbeat older than this is stale
  double requeue_wait_seconds = 60;  // a requeued Slurm job waits this long for its earlier run
  std::string program = "st-train";  // recorded as the holder's program
};

// What RUN/.lock says about its holder. Empty fields: not recorded.
struct LockRecord {
  // pid_namespace: the inode of /proc/self/ns/pid; a PID is only checked for life when the
  // holder's namespace is ours (containers may share a host name, not PIDs).
  std::string program, host, started, slurm_job_id, mechanism, token, pid_namespace;
  int64_t pid = 0;
  int64_t slurm_restart_count = -1;  // -1: not under Slurm
  std::string text() const;          // the file's contents
  static LockRecord parse(const std::string& text);
  std::string describe() const;      // "st-train, PID 12 on host h, Slurm job 7 (restart 0), started ..."
};

// The record this process writes: its host, PID, SLURM_JOB_ID and SLURM_RESTART_COUNT, now.
LockRecord own_lock_record(const std::string& program, const std::string& mechanism);

class RunDirLock {
 public:
  // Takes the lock of dir (creating dir when missing). Throws RunDirLockedError naming the holder
  // when another job holds it; other failures (cannot create dir, I/O) throw std::runtime_error.
  // A requeued Slurm job whose previous run still holds the lock waits for it, up to
  // options.requeue_wait_seconds.
  // notes: what the caller should log (the mechanism, a stale lock taken over, a requeue wait).
  static std::unique_ptr<RunDirLock> acquire(const std::string& dir, const RunLockOptions& options,
                                             std::vector<std::string>* notes);
  ~RunDirLock();  // releases: removes RUN/.lock if it is still this process's
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

  const std::string& path() const { return path_; }
  LockMechanism mechanism() const { return mechanism_; }
  // File mechanism: true once the heartbeat found RUN/.lock taken over by another job (this
  // process stalled past lock.stale_seconds). Always false for flock.
  bool lost() const { return lost_.load(); }

 private:
  RunDirLock(std::string path, LockMechanism m, int fd, LockRecord record, double heartbeat_seconds);
  void heartbeat_loop(double seconds);

  std::string path_;
  LockMechanism mechanism_;
  int fd_ = -1;  // flock: the open, locked RUN/.lock
  LockRecord record_;
  std::atomic<bool> lost_{false};
  bool stop_ = false;  // guarded by mutex_
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread heartbeat_;
};

// Collective over world: rank 0 takes the lock for the job and the outcome reaches every rank,
// so all ranks throw the same RunDirLockedError (or CollectiveError, for another failure) together. Returns the lock on rank 0
// and null elsewhere. notes: rank 0's notes (empty elsewhere).
std::unique_ptr<RunDirLock> acquire_run_dir_lock(const std::string& dir, const RunLockOptions& options,
                                                 Communicator& world, std::vector<std::string>* notes);

// Clears a lock of dir whose holder is gone (st-train --force-unlock RUN_DIR). Returns what it
// did, for the user. Refuses (throws RunDirLockedError) while a live process holds it with
// flock, or is a live process on this host.
std::string force_unlock(const std::string& dir);

}  // namespace st
