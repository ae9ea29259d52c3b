// Run-directory lock; see run_lock.h.
#include "launch/run_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <sstream>

#include "core/tensor/error.h"
#include "core/tensor/tensor.h"
#include "data/io_error.h"
#include "distributed/exit_codes.h"

namespace st {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLockName = ".lock";

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "?";
  return name;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string pid_namespace() {
  struct stat st{};
  if (::stat("/proc/self/ns/pid", &st) != 0) return "";
  return std::to_string(static_cast<unsigned long long>(st.st_ino));
}

// The holder's process can be asked directly: same host and same PID namespace.
bool same_process_space(const LockRecord& r) {
  return r.host == host_name() && r.pid > 0 && !r.pid_namespace.empty() && r.pid_namespace == pid_namespace();
}

bool process_alive(int64_t pid) {
  if (pid <= 0 || pid > INT32_MAX) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// errno values with which flock says "this file system does not do locks".
bool lock_unsupported(int e) { return e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS || e == EINVAL; }

// The whole file; false when it does not exist. Other failures throw naming the file.
bool read_text(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    ST_THROW("run_dir lock: cannot read '", path, "': ", errno_message(errno));
  }
  out->clear();
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ST_THROW("run_dir lock: cannot read '", path, "': ", errno_message(e));
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > (1 << 16)) {
      ::close(fd);
      ST_THROW("run_dir lock: '", path, "' is over 64 KiB; it is not a lock record");
    }
  }
  ::close(fd);
  return true;
}

void write_all(int fd, const std::string& text, const std::string& path) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    ST_CHECK(n > 0, "run_dir lock: cannot write '", path, "': ", errno_message(errno));
    done += static_cast<size_t>(n);
  }
  ST_CHECK(::fsync(fd) == 0, "run_dir lock: cannot sync '", path, "': ", errno_message(errno));
}

// Seconds since the file was last modified (the heartbeat of the file mechanism); -1: gone.
double age_seconds(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return -1;
  struct timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec - st.st_mtim.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec - st.st_mtim.tv_nsec);
}

std::string token_for_this_process() {
  auto ns = std::chrono::steady_clock::now().time_since_epoch().count();
  std::ostringstream s;
  s << std::hex << ::getpid() << "-" << ns << "-" << std::hash<std::string>{}(host_name());
  return s.str();
}

// The outcome of one attempt: acquired, or held by `holder` (why: a clause for the message).
struct Attempt {
  bool acquired = false;
  int fd = -1;
  LockRecord holder;
  std::string why;
  bool unsupported = false;  // flock: the file system does not support it
};

// A held lock's record. A holder that has just taken the flock may not have written its record
// yet: read again for up to a second.
LockRecord read_holder(const std::string& path) {
  std::string text;
  for (int i = 0; i < 40; ++i) {
    if (read_text(path, &text) && !text.empty()) return LockRecord::parse(text);
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return LockRecord{};
}

// The heartbeat period of the file mechanism for a given lock.stale_seconds.
double heartbeat_period(double stale_seconds) { return std::min(30.0, std::max(0.2, stale_seconds / 5)); }

// The previous run of this Slurm job (requeued): same job id, lower restart count.
bool earlier_run_of_this_job(const LockRecord& holder, const LockRecord& mine) {
  return !mine.slurm_job_id.empty() && holder.slurm_job_id == mine.slurm_job_id &&
         holder.slurm_restart_count < mine.slurm_restart_count;
}

// File mechanism: whether the holder of `record` (modified `age` seconds ago) is gone, and why.
// mine: this job's record (a previous run of the same Slurm job counts as gone once it has
// missed two heartbeats: Slurm has ended it).
bool holder_gone(const LockRecord& record, const LockRecord* mine, const std::string& path, double age,
                 double stale_seconds, std::string* why) {
  if (record.mechanism == "flock") {  // written by a holder on a mount with flock: ask flock
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
      int rc = ::flock(fd, LOCK_EX | LOCK_NB);
      int e = errno;
      ::close(fd);  // drops the probe's lock
      if (rc == 0) {
        *why = "its flock is free, so its holder has ended";
        return true;
      }
      if (e == EWOULDBLOCK) return false;
    }
  }
  if (same_process_space(record)) {  // ask the process itself, whatever its heartbeat says
    if (!process_alive(record.pid)) {
      *why = "PID " + std::to_string(record.pid) + " is no longer running on this host";
      return true;
    }
    *why = "PID " + std::to_string(record.pid) + " is running on this host";
    return false;
  }
  if (mine && record.mechanism != "flock" && earlier_run_of_this_job(record, *mine) &&
      age > 2 * heartbeat_period(stale_seconds)) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "it is the previous run of this Slurm job and its heartbeat stopped %.0f s ago", age);
    *why = buf;
    return true;
  }
  if (record.mechanism != "flock" && age > stale_seconds) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "its last heartbeat was %.0f s ago (lock.stale_seconds: %g)", age, stale_seconds);
    *why = buf;
    return true;
  }
  if (record.mechanism != "flock") {
    char buf[200];
    std::snprintf(buf, sizeof buf, "last heartbeat %.0f s ago; it counts as stale after %g s (lock.stale_seconds)",
                  age, stale_seconds);
    *why = buf;
  }
  return false;
}

// flock mechanism. forced: lock.mechanism flock (an unsupported file system is an error);
// otherwise an unsupported one is reported, leaving no file behind, for the file mechanism.
Attempt try_flock(const std::string& path, double stale_seconds, bool forced) {
  for (int tries = 0; tries < 8; ++tries) {
    bool created = true;
    // O_NOFOLLOW: a RUN/.lock planted as a symbolic link is refused, never written through.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == EEXIST) {
      created = false;
      fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0 && errno == ENOENT) continue;  // its holder let go just now
    }
    ST_CHECK(fd >= 0, "run_dir lock: cannot open '", path, "': ", errno_message(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      if (e == EWOULDBLOCK) {
        // Held; unless its holder is letting go right now (the file we opened is no longer
        // the one at the path): then try again.
        struct stat ours{}, at_path{};
        bool replaced = ::fstat(fd, &ours) != 0 || ::stat(path.c_str(), &at_path) != 0 ||
                        ours.st_ino != at_path.st_ino || ours.st_dev != at_path.st_dev;
        ::close(fd);
        if (replaced) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        return Attempt{false, -1, read_holder(path), "", false};
      }
      ::close(fd);
      if (lock_unsupported(e) && !forced) {
        if (created) ::unlink(path.c_str());
        return Attempt{false, -1, {}, "", true};
      }
      ST_CHECK(!lock_unsupported(e), "lock.mechanism: flock, but the file system of '", path,
               "' does not support flock (", errno_message(e), "); use auto or file");
      ST_THROW("run_dir lock: flock on '", path, "' failed: ", errno_message(e));
    }
    // The holder before us removes RUN/.lock as it lets go: if we locked that unlinked file,
    // the lock is worthless; open the one at the path again.
    struct stat mine{}, at_path{};
    if (::fstat(fd, &mine) != 0 || ::stat(path.c_str(), &at_path) != 0 || mine.st_ino != at_path.st_ino ||
        mine.st_dev != at_path.st_dev) {
      ::close(fd);
      continue;
    }
    // A holder of the file mechanism (another mount, or lock.mechanism: file) does not flock.
    std::string text;
    read_text(path, &text);
    LockRecord before = LockRecord::parse(text);
    std::string why;
    if (before.mechanism == "file" && !holder_gone(before, nullptr, path, age_seconds(path), stale_seconds, &why)) {
      ::close(fd);
      return Attempt{false, -1, before, why, false};
    }
    return Attempt{true, fd, {}, "", false};
  }
  ST_THROW("run_dir lock: '", path, "' keeps being replaced while we lock it; is another job starting on it?");
}

// File mechanism: RUN/.lock is created by link(2), which is atomic on NFS too.
Attempt try_lock_file(const std::string& dir, const std::string& path, const LockRecord& mine, double stale_seconds,
                      std::vector<std::string>* notes) {
  std::string self = host_name() + "-" + std::to_string(::getpid());
  std::string fresh = dir + "/.lock.new-" + self, aside = dir + "/.lock.stale-" + self;
  for (int tries = 0; tries < 8; ++tries) {
    ::unlink(fresh.c_str());  // our own name; anything there is a leftover (or planted)
    int fd = ::open(fresh.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    ST_CHECK(fd >= 0, "run_dir lock: cannot write '", fresh, "': ", errno_message(errno));
    try {
      write_all(fd, mine.text(), fresh);
    } catch (...) {
      ::close(fd);
      ::unlink(fresh.c_str());
      throw;
    }
    ::close(fd);
    int rc = ::link(fresh.c_str(), path.c_str());
    int e = errno;
    ::unlink(fresh.c_str());
    if (rc == 0) return Attempt{true, -1, {}, ""};
    ST_CHECK(e == EEXIST, "run_dir lock: cannot create '", path, "': ", errno_message(e));

    std::string text;
    if (!read_text(path, &text)) continue;  // its holder let go just now
    double age = age_seconds(path);
    LockRecord holder = LockRecord::parse(text);
    std::string why;
    if (!holder_gone(holder, &mine, path, age, stale_seconds, &why)) return Attempt{false, -1, holder, why};
    // Take over: move the stale file aside, then check that what we moved is what we judged
    // (another job may have taken it over in between; then put theirs back).
    if (::rename(path.c_str(), aside.c_str()) != 0) {
      ST_CHECK(errno == ENOENT, "run_dir lock: cannot move the stale '", path, "' aside: ", errno_message(errno));
      continue;
    }
    std::string moved;
    read_text(aside, &moved);
    if (moved != text) {
      if (::link(aside.c_str(), path.c_str()) != 0 && errno != EEXIST)
        std::fprintf(stderr, "run_dir lock: could not restore '%s': %s\n", path.c_str(), errno_message(errno).c_str());
      ::unlink(aside.c_str());
      return Attempt{false, -1, LockRecord::parse(moved), "it took over a stale lock just now"};
    }
    ::unlink(aside.c_str());
    notes->push_back("run_dir lock: took over the stale lock of " + holder.describe() + ": " + why);
  }
  ST_THROW("run_dir lock: '", path, "' keeps changing while we take it; is another job starting on it?");
}


std::string locked_message(const std::string& dir, const std::string& path, const LockRecord& holder,
                           const std::string& why, LockMechanism m) {
  std::string who = holder.host.empty() ? "a job that has not written its record (" + path + " is empty)"
                                        : holder.describe();
  std::string text = "run_dir: '" + dir + "' is in use by another job: " + who + " (lock " + path + ", " +
                     (holder.mechanism.empty() ? name_of(m) : holder.mechanism) + ")";
  if (!why.empty()) text += "; " + why;
  text += ". Wait for it to finish, or choose another run_dir";
  if (holder.mechanism == "file")
    text += "; if that job is gone, st-train --force-unlock " + dir + " clears the lock";
  return text;
}

}  // namespace

LockMechanism parse_lock_mechanism(const std::string& name) {
  if (name == "auto") return LockMechanism::Auto;
  if (name == "flock") return LockMechanism::Flock;
  if (name == "file") return LockMechanism::File;
  ST_THROW("lock.mechanism: '", name, "' is not one of auto, flock, file");
}

const char* name_of(LockMechanism m) {
  switch (m) {
    case LockMechanism::Auto: return "auto";
    case LockMechanism::Flock: return "flock";
    case LockMechanism::File: return "file";
  }
  return "?";
}

std::string LockRecord::text() const {
  std::ostringstream s;
  s << "program: " << program << "\nhost: " << host << "\npid: " << pid << "\nstarted: " << started << "\n";
  if (!slurm_job_id.empty())
    s << "slurm_job_id: " << slurm_job_id << "\nslurm_restart_count: " << slurm_restart_count << "\n";
  s << "mechanism: " << mechanism << "\ntoken: " << token << "\n";
  if (!pid_namespace.empty()) s << "pid_namespace: " << pid_namespace << "\n";
  return s.str();
}

LockRecord LockRecord::parse(const std::string& text) {
  LockRecord r;
  std::istringstream in(text);
  std::string line;
  auto to_int = [](const std::string& v, int64_t fallback) {
    char* end = nullptr;
    errno = 0;
    long long x = std::strtoll(v.c_str(), &end, 10);
    return (errno == 0 && end != v.c_str() && *end == '\0') ? static_cast<int64_t>(x) : fallback;
  };
  while (std::getline(in, line)) {
    size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;  // not ours: ignored, and the record stays partial
    std::string key = line.substr(0, colon), value = line.substr(colon + 2);
    if (value.size() > 256) value.resize(256);  // a record is for people to read; keep it short
    if (key == "program") r.program = value;
    else if (key == "host") r.host = value;
    else if (key == "pid") r.pid = to_int(value, 0);
    else if (key == "started") r.started = value;
    else if (key == "slurm_job_id") r.slurm_job_id = value;
    else if (key == "slurm_restart_count") r.slurm_restart_count = to_int(value, -1);
    else if (key == "mechanism") r.mechanism = value;
    else if (key == "token") r.token = value;
    else if (key == "pid_namespace") r.pid_namespace = value;
  }
  return r;
}

std::string LockRecord::describe() const {
  std::string s = (program.empty() ? std::string("a process") : program) + ", PID " + std::to_string(pid) +
                  " on host " + (host.empty() ? "?" : host);
  if (!slurm_job_id.empty())
    s += ", Slurm job " + slurm_job_id + " (restart " + std::to_string(slurm_restart_count) + ")";
  if (!started.empty()) s += ", started " + started;
  return s;
}

LockRecord own_lock_record(const std::string& program, const std::string& mechanism) {
  LockRecord r;
  r.program = program;
  r.host = host_name();
  r.pid = ::getpid();
  r.started = utc_now();
  if (const char* job = std::getenv("SLURM_JOB_ID"); job != nullptr && *job != '\0') {
    r.slurm_job_id = job;
    r.slurm_restart_count = 0;
    if (const char* n = std::getenv("SLURM_RESTART_COUNT"); n != nullptr && *n != '\0') {
      char* end = nullptr;
      long long v = std::strtoll(n, &end, 10);
      ST_CHECK(end != n && *end == '\0' && v >= 0, "SLURM_RESTART_COUNT: '", n, "' is not a count");
      r.slurm_restart_count = v;
    }
  }
  r.mechanism = mechanism;
  r.token = token_for_this_process();
  r.pid_namespace = pid_namespace();
  return r;
}

std::unique_ptr<RunDirLock> RunDirLock::acquire(const std::string& dir, const RunLockOptions& options,
                                                std::vector<std::string>* notes) {
  ST_CHECK(!dir.empty(), "run_dir: empty");
  ST_CHECK(options.stale_seconds > 0, "lock.stale_seconds: must be > 0");
  ST_CHECK(options.requeue_wait_seconds >= 0, "lock.requeue_wait_seconds: must be >= 0");
  std::error_code ec;
  fs::create_directories(dir, ec);
  ST_CHECK(!ec && fs::is_directory(dir), "run_dir: cannot create '", dir, "'", ec ? ": " + ec.message() : "");
  std::string path = dir + "/" + kLockName;
  // auto: flock, unless the first attempt finds the file system without it.
  LockMechanism m = options.mechanism == LockMechanism::File ? LockMechanism::File : LockMechanism::Flock;
  bool fell_back = false;
  LockRecord mine = own_lock_record(options.program, name_of(m));
  double heartbeat = heartbeat_period(options.stale_seconds);
  auto started = std::chrono::steady_clock::now();
  bool announced = false;
  for (;;) {
    Attempt a = m == LockMechanism::Flock
                    ? try_flock(path, options.stale_seconds, options.mechanism == LockMechanism::Flock)
                    : try_lock_file(dir, path, mine, options.stale_seconds, notes);
    if (a.unsupported) {
      m = LockMechanism::File;
      mine.mechanism = name_of(m);
      fell_back = true;
      continue;
    }
    if (a.acquired) {
      std::string how = m == LockMechanism::Flock
                            ? "flock (released by the kernel when this process ends)"
                            : "lock file with a heartbeat every " + std::to_string(static_cast<int>(heartbeat * 1000)) +
                                  " ms, stale after " + std::to_string(static_cast<int64_t>(options.stale_seconds)) +
                                  " s" + (fell_back ? " (this file system does not support flock)" : "");
      notes->insert(notes->begin(), "run_dir lock: " + path + ", " + how);
      return std::unique_ptr<RunDirLock>(new RunDirLock(path, m, a.fd, mine, heartbeat));
    }
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (earlier_run_of_this_job(a.holder, mine) && waited < options.requeue_wait_seconds) {
      if (!announced) {
        std::string line = "run_dir lock: held by the previous run of this Slurm job (" + a.holder.describe() +
                           "); waiting up to " + std::to_string(static_cast<int64_t>(options.requeue_wait_seconds)) +
                           " s (lock.requeue_wait_seconds) for it to let go";
        std::fprintf(stderr, "%s\n", line.c_str());
        notes->push_back(line);
        announced = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      continue;
    }
    std::string why = a.why;
    if (earlier_run_of_this_job(a.holder, mine))
      why += std::string(why.empty() ? "" : "; ") + "it is the previous run of this Slurm job and did not let go within " +
             std::to_string(static_cast<int64_t>(options.requeue_wait_seconds)) + " s (lock.requeue_wait_seconds)";
    throw RunDirLockedError(locked_message(dir, path, a.holder, why, m));
  }
}

RunDirLock::RunDirLock(std::string path, LockMechanism m, int fd, LockRecord record, double heartbeat_seconds)
    : path_(std::move(path)), mechanism_(m), fd_(fd), record_(std::move(record)) {
  if (mechanism_ == LockMechanism::Flock) {
    try {
      write_all(fd_, record_.text(), path_);
      ST_CHECK(::ftruncate(fd_, static_cast<off_t>(record_.text().size())) == 0, "run_dir lock: cannot write '", path_,
               "': ", errno_message(errno));
    } catch (...) {  // a full disk, say: let go of the lock before reporting it
      ::unlink(path_.c_str());
      ::close(fd_);
      throw;
    }
  } else {
    heartbeat_ = std::thread([this, heartbeat_seconds] { heartbeat_loop(heartbeat_seconds); });
  }
}

void RunDirLock::heartbeat_loop(double seconds) {
  auto period = std::chrono::duration<double>(seconds);
  std::unique_lock<std::mutex> hold(mutex_);
  while (!wake_.wait_for(hold, period, [this] { return stop_; })) {
    std::string text;
    bool present = false;
    try {
      present = read_text(path_, &text);
    } catch (const std::exception&) {
      continue;  // a passing I/O error: the next beat tries again
    }
    if (!present || LockRecord::parse(text).token != record_.token) {
      // A contender may be moving the file aside to check it and putting it back: look again.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      try {
        present = read_text(path_, &text);
      } catch (const std::exception&) {
        present = false;
      }
      if (present && LockRecord::parse(text).token == record_.token) continue;
      lost_ = true;
      std::fprintf(stderr, "run_dir lock: %s was taken over by another job\n", path_.c_str());
      return;
    }
    ::utimensat(AT_FDCWD, path_.c_str(), nullptr, 0);  // the heartbeat: mtime := now
  }
}

RunDirLock::~RunDirLock() {
  if (heartbeat_.joinable()) {
    {
      std::lock_guard<std::mutex> hold(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    heartbeat_.join();
  }
  if (mechanism_ == LockMechanism::Flock) {
    // Remove the file while still holding it; a contender that opened it checks the inode.
    struct stat mine{}, at_path{};
    if (::fstat(fd_, &mine) == 0 && ::stat(path_.c_str(), &at_path) == 0 && mine.st_ino == at_path.st_ino &&
        mine.st_dev == at_path.st_dev)
      ::unlink(path_.c_str());
    ::close(fd_);
    return;
  }
  std::string text;
  try {
    if (!lost_ && read_text(path_, &text) && LockRecord::parse(text).token == record_.token) ::unlink(path_.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "run_dir lock: could not release %s: %s\n", path_.c_str(), e.what());
  }
}

std::unique_ptr<RunDirLock> acquire_run_dir_lock(const std::string& dir, const RunLockOptions& options,
                                                 Communicator& world, std::vector<std::string>* notes) {
  if (world.size() == 1) return RunDirLock::acquire(dir, options, notes);  // its errors as they are
  std::unique_ptr<RunDirLock> lock;
  int32_t status = 0;  // 0: taken; 1: held by another job; 2: another failure
  std::string message;
  if (world.rank() == 0) {
    try {
      lock = RunDirLock::acquire(dir, options, notes);
    } catch (const RunDirLockedError& e) {
      status = 1;
      message = e.what();
    } catch (const std::exception& e) {
      status = 2;
      message = e.what();
    }
  }
  // The outcome, as "<status><message>", decided by rank 0 and followed by all.
  if (message.size() >= (1u << 19)) message.resize(1u << 19);
  std::string outcome = broadcast_text(world, std::to_string(status) + message, 0);
  status = outcome.empty() ? 2 : outcome[0] - '0';
  message = outcome.size() > 1 ? outcome.substr(1) : std::string();
  if (status == 1) throw RunDirLockedError(message);
  if (status == 2) throw CollectiveError(message, kExitError);
  return lock;
}

std::string force_unlock(const std::string& dir) {
  std::string path = dir + "/" + kLockName, text;
  if (!read_text(path, &text)) return "run_dir: '" + dir + "' has no lock (" + path + ")";
  LockRecord holder = LockRecord::parse(text);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) return "run_dir: '" + dir + "' has no lock (" + path + ")";
  ST_CHECK(fd >= 0, "run_dir lock: cannot open '", path, "': ", errno_message(errno));
  int rc = ::flock(fd, LOCK_EX | LOCK_NB);
  int e = errno;
  if (rc != 0 && e == EWOULDBLOCK) {
    ::close(fd);
    throw RunDirLockedError("run_dir: '" + dir + "' is held with flock by a live process: " + holder.describe() +
                            ". Stop that job; the kernel frees the lock when it ends");
  }
  if (same_process_space(holder) && process_alive(holder.pid) && holder.pid != ::getpid()) {
    ::close(fd);
    throw RunDirLockedError("run_dir: '" + dir + "' is held by " + holder.describe() +
                            ", which is still running on this host. Stop that job first");
  }
  ST_CHECK(::unlink(path.c_str()) == 0 || errno == ENOENT, "run_dir lock: cannot remove '", path, "': ",
           errno_message(errno));
  ::close(fd);
  return "run_dir: removed the lock of " + (holder.host.empty() ? std::string("an unknown holder") : holder.describe()) +
         " (" + path + ")";
}

}  // namespace st
