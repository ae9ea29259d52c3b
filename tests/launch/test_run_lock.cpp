// The run-directory lock (launch/run_lock.h): one holder at a time with the holder named in the
// refusal, release on destruction and on SIGKILL (flock), the file mechanism's heartbeat, stale
// takeover and lost-lock detection, --force-unlock, a requeued Slurm job waiting for its
// previous run, hostile record files; and through the trainer: a second run refused before it
// writes anything, a dry run that writes nothing, an earlier attempt's files set aside.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "launch/config/schema.h"
#include "launch/run_lock.h"
#include "launch/trainer.h"
#include "tests/data/temp_dir.h"
#include "tests/support/expect_error.h"
#include "tests/support/toy_split.h"

namespace st {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string this_host() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<RunDirLock> take(const std::string& dir, LockMechanism m = LockMechanism::Auto,
                                 double stale = 300, double requeue_wait = 60, std::vector<std::string>* notes = nullptr) {
  RunLockOptions o;
  o.mechanism = m;
  o.stale_seconds = stale;
  o.requeue_wait_seconds = requeue_wait;
  std::vector<std::string> ignored;
  return RunDirLock::acquire(dir, o, notes ? notes : &ignored);
}

// f must throw RunDirLockedError (exit code kExitLocked) whose message holds every part.
void expect_locked(const std::function<void()>& f, const std::vector<std::string>& parts) {
  testing::expect_error<RunDirLockedError>(f, parts);
}

void set_age(const std::string& path, double seconds) {
  struct timespec times[2];
  clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= static_cast<time_t>(seconds);
  times[1] = times[0];
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

// A lock file as another job on another host would leave it.
void write_foreign_record(const std::string& dir, const std::string& host, int64_t pid, const std::string& mechanism) {
  fs::create_directories(dir);
  LockRecord r;
  r.program = "st-train";
  r.host = host;
  r.pid = pid;
  r.started = "2026-01-01 00:00:00 UTC";
  r.mechanism = mechanism;
  r.token = "foreign";
  if (host == this_host()) r.pid_namespace = own_lock_record("x", "file").pid_namespace;  // PIDs comparable
  std::ofstream(dir + "/.lock") << r.text();
}

// A PID that is not running: a child that has exited and been reaped.
pid_t dead_pid() {
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  return child;
}

TEST(RunLock, SecondHolderIsRefusedWithTheHolderNamed) {
  TempDir dir;
  std::string run = dir.file("run");
  std::vector<std::string> notes;
  auto first = take(run, LockMechanism::Auto, 300, 60, &notes);
  EXPECT_EQ(first->mechanism(), LockMechanism::Flock);
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("flock"), std::string::npos) << notes[0];
  LockRecord rec = LockRecord::parse(read_all(run + "/.lock"));
  EXPECT_EQ(rec.pid, getpid());
  EXPECT_EQ(rec.host, this_host());
  EXPECT_EQ(rec.mechanism, "flock");
  EXPECT_FALSE(rec.started.empty());
  expect_locked([&] { take(run); },
                {"'" + run + "' is in use by another job", "PID " + std::to_string(getpid()), "host " + this_host(),
                 "started " + rec.started, run + "/.lock"});
  first.reset();
  EXPECT_FALSE(fs::exists(run + "/.lock")) << "released: the lock file is removed";
  EXPECT_NE(take(run), nullptr);
}

TEST(RunLock, KilledHolderLeavesTheDirectoryFree) {
  TempDir dir;
  std::string run = dir.file("run");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  if (child == 0) {  // holds the lock until killed
    close(ready[0]);
    try {
      std::vector<std::string> notes;
      auto lock = RunDirLock::acquire(run, RunLockOptions{}, &notes);
      char c = 1;
      if (write(ready[1], &c, 1) != 1) _exit(2);
      for (;;) pause();
    } catch (...) {
      _exit(3);
    }
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1) << "the child did not take the lock";
  close(ready[0]);
  expect_locked([&] { take(run); }, {"PID " + std::to_string(child)});
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(fs::exists(run + "/.lock")) << "SIGKILL leaves the record behind";
  std::vector<std::string> notes;
  auto lock = take(run, LockMechanism::Auto, 300, 60, &notes);
  ASSERT_NE(lock, nullptr);
  EXPECT_EQ(LockRecord::parse(read_all(run + "/.lock")).pid, getpid()) << "the record is the new holder's";
}

TEST(RunLock, StaleLockFileFromAnotherHostIsRefusedUntilTheTimeoutThenTaken) {
  TempDir dir;
  std::string run = dir.file("run");
  write_foreign_record(run, "elsewhere.example", 424242, "file");
  expect_locked([&] { take(run, LockMechanism::File, 5); },
                {"PID 424242 on host elsewhere.example", "last heartbeat", "lock.stale_seconds",
                 "st-train --force-unlock " + run});
  set_age(run + "/.lock", 10);
  std::vector<std::string> notes;
  auto lock = take(run, LockMechanism::File, 5, 60, &notes);
  ASSERT_NE(lock, nullptr);
  EXPECT_EQ(lock->mechanism(), LockMechanism::File);
  bool took_over = false;
  for (const auto& n : notes)
    took_over |= n.find("took over the stale lock of st-train, PID 424242 on host elsewhere.example") != std::string::npos &&
                 n.find("last heartbeat was 10 s ago") != std::string::npos;
  EXPECT_TRUE(took_over) << "the takeover is logged";
  EXPECT_EQ(LockRecord::parse(read_all(run + "/.lock")).pid, getpid());
  for (const auto& e : fs::directory_iterator(run))
    EXPECT_EQ(e.path().filename(), ".lock") << "no temporary file left: " << e.path();
}

TEST(RunLock, LockFileOfADeadProcessOnThisHostIsTakenAtOnce) {
  TempDir dir;
  std::string run = dir.file("run");
  pid_t gone = dead_pid();
  write_foreign_record(run, this_host(), gone, "file");
  std::vector<std::string> notes;
  auto lock = take(run, LockMechanism::File, 300, 60, &notes);
  ASSERT_NE(lock, nullptr);
  ASSERT_GE(notes.size(), 2u);
  EXPECT_NE(notes[1].find("PID " + std::to_string(gone) + " is no longer running on this host"), std::string::npos)
      << notes[1];
}

TEST(RunLock, HeartbeatKeepsALockFileFreshAndNoticesATakeover) {
  TempDir dir;
  std::string run = dir.file("run");
  auto lock = take(run, LockMechanism::File, 0.5);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  // Alive on this host and touched within 0.5 s: held.
  expect_locked([&] { take(run, LockMechanism::File, 0.5); }, {"PID " + std::to_string(getpid()), "file"});
  EXPECT_FALSE(lock->lost());
  write_foreign_record(run, "elsewhere.example", 7, "file");  // another job took it over
  for (int i = 0; i < 40 && !lock->lost(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(lock->lost());
  lock.reset();
  EXPECT_EQ(LockRecord::parse(read_all(run + "/.lock")).host, "elsewhere.example") << "the new holder's file stays";
}

TEST(RunLock, FlockHolderBlocksAFileMechanismJobAndTheReverse) {
  TempDir dir;
  std::string run = dir.file("run");
  {
    auto flock_holder = take(run, LockMechanism::Flock);
    expect_locked([&] { take(run, LockMechanism::File); }, {"PID " + std::to_string(getpid())});
  }
  auto file_holder = take(run, LockMechanism::File);
  expect_locked([&] { take(run, LockMechanism::Flock); }, {"PID " + std::to_string(getpid()), "file"});
}

TEST(RunLock, ForceUnlockClearsOnlyLocksWhoseHolderIsGone) {
  TempDir dir;
  std::string run = dir.file("run");
  EXPECT_NE(force_unlock(run).find("has no lock"), std::string::npos);
  {
    auto held = take(run);
    expect_locked([&] { force_unlock(run); }, {"held with flock by a live process", "PID " + std::to_string(getpid())});
    EXPECT_TRUE(fs::exists(run + "/.lock"));
  }
  write_foreign_record(run, "elsewhere.example", 99, "file");
  std::string said = force_unlock(run);
  EXPECT_NE(said.find("removed the lock of st-train, PID 99 on host elsewhere.example"), std::string::npos) << said;
  EXPECT_FALSE(fs::exists(run + "/.lock"));
  write_foreign_record(run, this_host(), getppid(), "file");  // a live process on this host
  expect_locked([&] { force_unlock(run); }, {"still running on this host"});
}

struct SlurmEnv {
  SlurmEnv(const char* job, const char* restart) {
    setenv("SLURM_JOB_ID", job, 1);
    setenv("SLURM_RESTART_COUNT", restart, 1);
  }
  ~SlurmEnv() {
    unsetenv("SLURM_JOB_ID");
    unsetenv("SLURM_RESTART_COUNT");
  }
};

TEST(RunLock, RequeuedSlurmJobWaitsForItsPreviousRunThenGivesUp) {
  TempDir dir;
  std::string run = dir.file("run");
  std::unique_ptr<RunDirLock> previous;
  {
    SlurmEnv env("4242", "0");
    previous = take(run);
  }
  LockRecord rec = LockRecord::parse(read_all(run + "/.lock"));
  EXPECT_EQ(rec.slurm_job_id, "4242");
  EXPECT_EQ(rec.slurm_restart_count, 0);
  SlurmEnv env("4242", "1");
  // The previous run lets go after 0.4 s: the requeued one waits and takes over.
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    previous.reset();
  });
  std::vector<std::string> notes;
  auto start = std::chrono::steady_clock::now();
  auto lock = take(run, LockMechanism::Auto, 300, 10, &notes);
  release.join();
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_NE(lock, nullptr);
  EXPECT_GE(waited, 0.3);
  bool said = false;
  for (const auto& n : notes) said |= n.find("previous run of this Slurm job") != std::string::npos;
  EXPECT_TRUE(said);
  // A previous run that does not let go within the bound: locked, saying so.
  {
    SlurmEnv later("4242", "2");
    expect_locked([&] { take(run, LockMechanism::Auto, 300, 0.3); },
                  {"Slurm job 4242 (restart 1)", "did not let go within 0 s"});
  }
  // Another job id does not wait at all.
  SlurmEnv other("5151", "3");
  start = std::chrono::steady_clock::now();
  expect_locked([&] { take(run, LockMechanism::Auto, 300, 30); }, {"Slurm job 4242"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(RunLock, HostileRecordFilesNeverCrash) {
  TempDir dir;
  std::string run = dir.file("run");
  fs::create_directories(run);
  const std::string records[] = {
      "", "\n\n\n", "pid: 99999999999999999999999\nhost: h\nmechanism: file\n", "pid: -5\nmechanism: file\n",
      std::string(1000, ':'), "host: " + std::string(5000, 'x') + "\nmechanism: file\n", std::string("\0\0\0", 3),
      "slurm_restart_count: abc\nslurm_job_id: 1\n"};
  for (const std::string& text : records) {
    LockRecord r = LockRecord::parse(text);
    EXPECT_LE(r.host.size(), 256u);
    EXPECT_FALSE(r.describe().empty());
    std::ofstream(run + "/.lock", std::ios::binary | std::ios::trunc) << text;
    set_age(run + "/.lock", 1000);
    // flock: the file is not locked, so its contents do not matter; file: stale by age.
    EXPECT_NE(take(run, LockMechanism::Flock), nullptr);
    std::ofstream(run + "/.lock", std::ios::binary | std::ios::trunc) << text;
    set_age(run + "/.lock", 1000);
    EXPECT_NE(take(run, LockMechanism::File, 5), nullptr);
  }
  std::ofstream(run + "/.lock", std::ios::binary | std::ios::trunc) << std::string(100000, 'a');
  EXPECT_THROW(take(run, LockMechanism::File, 5), Error) << "an oversized record is refused, not read whole";
}

TEST(RunLock, APlantedSymlinkIsNeverWrittenThrough) {
  TempDir dir;
  std::string run = dir.file("run"), victim = dir.file("victim.txt");
  fs::create_directories(run);
  std::ofstream(victim) << "precious\n";
  fs::create_symlink(victim, run + "/.lock");
  for (LockMechanism m : {LockMechanism::Flock, LockMechanism::File}) {
    EXPECT_ANY_THROW(take(run, m, 0.001));
    EXPECT_EQ(read_all(victim), "precious\n") << name_of(m);
  }
  EXPECT_ANY_THROW(force_unlock(run));
  EXPECT_EQ(read_all(victim), "precious\n");
}

TEST(RunLock, APidFromAnotherPidNamespaceIsNotTakenForDead) {
  TempDir dir;
  std::string run = dir.file("run");
  write_foreign_record(run, this_host(), dead_pid(), "file");
  std::string text = read_all(run + "/.lock");
  std::ofstream(run + "/.lock", std::ios::trunc)
      << text.substr(0, text.find("pid_namespace:")) << "pid_namespace: 1\n";  // a container's
  expect_locked([&] { take(run, LockMechanism::File, 300); }, {"last heartbeat"});
  set_age(run + "/.lock", 400);
  EXPECT_NE(take(run, LockMechanism::File, 300), nullptr) << "its heartbeat still decides";
}

TEST(RunLock, ARequeuedJobTakesOverItsPreviousRunOnceItsHeartbeatStops) {
  TempDir dir;
  std::string run = dir.file("run");
  write_foreign_record(run, "elsewhere.example", 5, "file");
  std::string text = read_all(run + "/.lock");
  std::ofstream(run + "/.lock", std::ios::trunc) << text << "slurm_job_id: 808\nslurm_restart_count: 0\n";
  set_age(run + "/.lock", 100);  // two heartbeats (60 s at stale 300) missed, far from stale
  SlurmEnv env("808", "1");
  std::vector<std::string> notes;
  auto start = std::chrono::steady_clock::now();
  ASSERT_NE(take(run, LockMechanism::File, 300, 60, &notes), nullptr);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  bool said = false;
  for (const auto& n : notes) said |= n.find("previous run of this Slurm job and its heartbeat stopped") != std::string::npos;
  EXPECT_TRUE(said);
}

TEST(RunLock, ConfigKeysAreValidated) {
  EXPECT_EQ(parse_lock_mechanism("file"), LockMechanism::File);
  EXPECT_THROW(parse_lock_mechanism("nfs"), Error);
  TempDir dir;
  RunLockOptions o;
  o.stale_seconds = 0;
  std::vector<std::string> notes;
  EXPECT_THROW(RunDirLock::acquire(dir.file("run"), o, &notes), Error);
}

// ---- through the trainer

TrainConfig small_run(const TempDir& dir) {
  testing::write_toy_split(dir.file("train"), 32);
  return train_config_from_yaml("run_dir: " + dir.file("run") +
                                    "\nmodel: {d_model: 16, heads: 2, layers: 1, d_ff: 16}\n"
                                    "data: {train: " + dir.file("train-*.h5") +
                                    ", batch_size: 8, shuffle_buffer: 8, block_size: 8}\n"
                                    "train: {steps: 2, log_every: 1}\n",
                                "test");
}

RunResult run_trainer(const TrainConfig& cfg, bool resume = false, bool dry_run = false) {
  ProcessGrid grid(std::make_shared<LocalCommunicator>(), 1);
  return Trainer(cfg, grid, TrainOptions{resume, dry_run}).run();
}

TEST(RunLockTrainer, SecondRunIsRefusedBeforeWritingAnything) {
  TempDir dir;
  TrainConfig cfg = small_run(dir);
  auto other = take(cfg.run_dir);  // another job holds the directory
  expect_locked([&] { run_trainer(cfg); }, {"is in use by another job", "PID " + std::to_string(getpid())});
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(cfg.run_dir)) left.push_back(e.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{".lock"}) << "the refused run wrote nothing";
  other.reset();
  RunResult r = run_trainer(cfg);
  EXPECT_EQ(r.steps_done, 2);
  EXPECT_FALSE(fs::exists(cfg.run_dir + "/.lock")) << "the run lets go when it ends";
  EXPECT_NE(read_all(cfg.run_dir + "/train.log").find("run_dir lock: " + cfg.run_dir + "/.lock, flock"),
            std::string::npos);
}

TEST(RunLockTrainer, DryRunTakesNoLockAndWritesNothing) {
  TempDir dir;
  TrainConfig cfg = small_run(dir);
  run_trainer(cfg, false, true);
  EXPECT_FALSE(fs::exists(cfg.run_dir)) << "a dry run creates nothing";
  auto other = take(cfg.run_dir);
  run_trainer(cfg, false, true);  // not refused: it needs no lock
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(cfg.run_dir)) left.push_back(e.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{".lock"});
}

TEST(RunLockTrainer, AnEarlierAttemptWithoutCheckpointsIsSetAside) {
  TempDir dir;
  TrainConfig cfg = small_run(dir);
  fs::create_directories(cfg.run_dir);
  std::ofstream(cfg.run_dir + "/metrics.jsonl") << "{\"split\":\"train\",\"step\":1,\"loss\":9}\n";
  std::ofstream(cfg.run_dir + "/train.log") << "the killed run's log\n";
  run_trainer(cfg);
  std::string metrics = read_all(cfg.run_dir + "/metrics.jsonl");
  EXPECT_EQ(metrics.find("\"loss\":9"), std::string::npos) << "no foreign rows in the new run's metrics";
  ASSERT_TRUE(fs::is_directory(cfg.run_dir + "/earlier"));
  auto kept = fs::directory_iterator(cfg.run_dir + "/earlier")->path();
  EXPECT_NE(read_all(kept.string() + "/metrics.jsonl").find("\"loss\":9"), std::string::npos) << "nothing lost";
  EXPECT_NE(read_all(kept.string() + "/train.log").find("the killed run's log"), std::string::npos);
  EXPECT_NE(read_all(cfg.run_dir + "/train.log").find("moved to " + kept.string()), std::string::npos);
}

TEST(RunLockTrainer, ResumeWithoutACheckpointChangesNothing) {
  TempDir dir;
  TrainConfig cfg = small_run(dir);
  testing::expect_error([&] { run_trainer(cfg, true); }, {"no such directory"});
  EXPECT_FALSE(fs::exists(cfg.run_dir));
  fs::create_directories(cfg.run_dir);
  std::ofstream(cfg.run_dir + "/config.yaml") << "precious\n";
  EXPECT_THROW(run_trainer(cfg, true), Error);
  EXPECT_EQ(read_all(cfg.run_dir + "/config.yaml"), "precious\n");
}

}  // namespace
}  // namespace st
