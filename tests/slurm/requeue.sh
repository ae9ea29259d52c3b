#!/usr/bin/env bash
# A requeued Slurm job resumes and ends as if never interrupted. A real single-node Slurm
# (Debian's slurm-wlm 22.05 with munge) is started inside the test, on this machine's CPUs:
#   1. an uninterrupted reference run: mpirun -np 2 st-train;
#   2. the same run submitted with docker/slurm/cpu.sbatch (2 tasks, srun --mpi=pmix);
#   3. mid-run the job is requeued (scontrol requeue, as a preemption would): the ranks save a
#      checkpoint on SIGTERM and stop; the job comes back (released from its requeue hold) and
#      st-train --resume auto continues from the checkpoint. Later the batch shell gets SIGUSR1
#      (what --signal=B:USR1 sends before the time limit): docker/slurm/step.sh forwards it, the
#      ranks checkpoint and exit with 4, and the script requeues the job, which comes back and
#      ends the run;
#   4. the final parameters and AdamW moments are bitwise those of the reference
#      (st-checkpoint-digest), and the log shows the preemption and the resume.
# Installs slurm-wlm and munge with apt where they are missing (root); skips (exit 77) with the
# reason where that is impossible. Stops the daemons it started.
#   tests/slurm/requeue.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
root="$(cd "$(dirname "$0")/../.." && pwd)"
skip() { echo "SKIP: $1"; exit 77; }
fail() {
  echo "FAIL: $1"
  [ -n "${2:-}" ] && [ -f "$2" ] && cat "$2"
  if [ -n "${work:-}" ]; then  # what Slurm saw and the job printed
    for f in "$work/job.out" "$work/slurmctld.log" "$work/slurmd.log"; do
      [ -f "$f" ] && [ "$f" != "${2:-}" ] && { echo "--- $f (last 40 lines)"; tail -n 40 "$f"; }
    done
  fi
  exit 1
}

if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
  [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null || skip "slurm-wlm and munge are not installed (needs root and apt)"
  echo "requeue: installing slurm-wlm and munge (apt)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge; } \
    > /tmp/st-slurm-apt.log 2>&1 || skip "apt-get could not install slurm-wlm and munge (see /tmp/st-slurm-apt.log)"
fi
[ "$(id -u)" = 0 ] || skip "starting slurmctld, slurmd and munged here needs root"

work="$(mktemp -d /tmp/st-slurm.XXXXXX)"
chmod 755 "$work"  # the munge user reaches its own folder inside
cleanup() {
  for pid_file in "$work/slurmd.pid" "$work/slurmctld.pid" "$work/munge/munged.pid"; do
    [ -f "$pid_file" ] && kill "$(cat "$pid_file")" 2> /dev/null || true
  done
  sleep 1
  [ -n "${KEEP:-}" ] || rm -rf "$work"  # KEEP=1 keeps the daemons' logs and the run
}
trap cleanup EXIT

# A munged of the test's own (key, socket and files in the scratch folder; Slurm is pointed at
# its socket), whatever else runs on the machine.
mkdir -p "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 2> /dev/null
chown -R munge:munge "$work/munge" && chmod 755 "$work/munge" && chmod 400 "$work/munge/munge.key"
socket="$work/munge/munge.socket"
su -s /bin/sh munge -c "/usr/sbin/munged --socket=$socket --key-file=$work/munge/munge.key \
  --pid-file=$work/munge/munged.pid --log-file=$work/munge/munged.log --seed-file=$work/munge/munged.seed" ||
  skip "munged does not start here"
munge -S "$socket" -n | unmunge -S "$socket" > /dev/null 2>&1 || skip "munge does not authenticate here"

host="$(hostname -s)"
cpus="$(nproc)"
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" << CONF
ClusterName=sttest
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$socket
SlurmUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobRequeue=1
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
# The daemons are Debian's, not ours: where this machine cannot run them, that is a skip, with
# their log; everything after this point is the project's and fails.
slurmctld -f "$SLURM_CONF" -c || { cat "$work/slurmctld.log" 2> /dev/null; skip "slurmctld does not start here"; }
slurmd -f "$SLURM_CONF" || { cat "$work/slurmd.log" 2> /dev/null; skip "slurmd does not start here"; }
for _ in $(seq 1 60); do sinfo -h -o %t 2> /dev/null | grep -q idle && break; sleep 0.5; done
sinfo -h -o %t 2> /dev/null | grep -q idle || { cat "$work/slurmd.log" 2> /dev/null; skip "the Slurm node does not come up here: $(sinfo 2>&1)"; }

# The run: a small model, long enough to be requeued in the middle; checkpoints only at the end
# and on the preemption, so the resume must come from the preemption's.
export OMP_NUM_THREADS=1 ST_PROGRESS=plain OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$build/launch/st-data" listops --out "$work/data" --train 4000 --val 100 --test 100 --max-len 32 --threads 1 --quiet
steps=3000
run_args=(--set "data.train=$work/data/train-*.h5" --set "data.val=$work/data/val-*.h5"
          --set "data.test=$work/data/test-*.h5" --set model.d_model=16 --set model.heads=2 --set model.d_ff=32
          --set train.steps=$steps --set train.eval_every=0 --set train.checkpoint_every=1000000
          --set train.log_every=10 --set model.dropout=0.1)
mpirun --oversubscribe --bind-to none -np 2 "$build/launch/st-train" "$root/configs/quickstart.yaml" \
  "${run_args[@]}" --set "run_dir=$work/reference" > "$work/reference.out" 2>&1 ||
  fail "the reference run failed" "$work/reference.out"

run="$work/slurm-run"
jid="$(cd "$root" && ST_BIN="$build/launch" sbatch --parsable --output="$work/job.out" --time=20 --ntasks-per-node=2 \
  docker/slurm/cpu.sbatch configs/quickstart.yaml "${run_args[@]}" --set "run_dir=$run")" ||
  fail "sbatch refused the job"
echo "requeue: job $jid submitted"
for _ in $(seq 1 600); do grep -q "step 200/" "$run/train.log" 2> /dev/null && break; sleep 0.1; done
grep -q "step 200/" "$run/train.log" 2> /dev/null || fail "the job did not start training" "$work/job.out"
scontrol requeue "$jid" || fail "scontrol requeue failed" "$work/slurmctld.log"
echo "requeue: job $jid requeued mid-run by the scheduler"
release() {  # a requeued job waits (Reason=BeginTime) until released
  local state=""
  for _ in $(seq 1 300); do
    state="$(squeue -h -j "$jid" -o %T 2> /dev/null || true)"
    [ "$state" = PENDING ] && break
    sleep 0.2
  done
  [ "$state" = PENDING ] || fail "the requeued job is not pending (state '$state')" "$work/job.out"
  # slurmd refuses a launch whose credential is from the same second as the job's last kill
  # ("Job credential revoked", times compared in whole seconds), and the job then fails for
  # good: release it only once that second has passed.
  sleep 1.5
  scontrol update jobid="$jid" StartTime=now || fail "could not release the requeued job"
}
release
# Then the time-limit warning (--signal=B:USR1 sends it to the batch shell): the script forwards
# it to the ranks, st-train checkpoints and exits with 4, and the script requeues the job itself.
for _ in $(seq 1 600); do grep -q "step 1500/" "$run/train.log" 2> /dev/null && break; sleep 0.1; done
grep -q "step 1500/" "$run/train.log" 2> /dev/null || fail "the resumed job did not reach step 1500" "$work/job.out"
scancel --batch --signal=USR1 "$jid" || fail "scancel --signal USR1 failed"
echo "requeue: job $jid warned with SIGUSR1"
release
# Done when st-train has written its results and the job has left the queue.
for _ in $(seq 1 1200); do
  [ -f "$run/results.json" ] && [ -z "$(squeue -h -j "$jid" 2> /dev/null)" ] && break
  sleep 0.25
done
[ -f "$run/results.json" ] || fail "the job did not finish its run within 300 s (queue: $(squeue -j "$jid" 2>&1))" "$run/train.log"

# st-train's own log (appended by every start) tells the story: two preemption checkpoints and
# two resumes; the second resume exists only if the script requeued the job on exit 4.
[ "$(grep -c "preemption signal: checkpoint saved at step" "$run/train.log")" = 2 ] ||
  fail "not two preemption checkpoints" "$run/train.log"
[ "$(grep -c "holds step checkpoints: resuming" "$run/train.log")" = 2 ] || fail "not two resumes" "$run/train.log"
grep -q "preempted (exit 4); requeueing job $jid" "$work/job.out" ||
  echo "requeue: note: the job's output does not show the script's requeue line ($(wc -l < "$work/job.out") lines)"
grep -q "preemption signal: checkpoint saved at step" "$run/train.log" || fail "no checkpoint on the requeue" "$run/train.log"
grep -q "resumed from $run/checkpoints/step-" "$run/train.log" || fail "no resume line" "$run/train.log"
[ -f "$run/results.json" ] || fail "the resumed run did not finish" "$work/job.out"
final="checkpoints/step-$(printf %09d $steps).h5"
"$build/tests/st-checkpoint-digest" "$work/reference/$final" > "$work/reference.digest"
"$build/tests/st-checkpoint-digest" "$run/$final" > "$work/slurm.digest"
[ -s "$work/reference.digest" ] || fail "empty digest of the reference" "$work/reference.digest"
cmp -s "$work/reference.digest" "$work/slurm.digest" ||
  fail "the requeued run's final state differs from the uninterrupted run's: $(diff "$work/reference.digest" "$work/slurm.digest" | head)"
echo "requeue: job $jid preempted at steps $(sed -n 's/.*checkpoint saved at step \([0-9]*\).*/\1/p' "$run/train.log" | tr '\n' ' ')and resumed twice; final state bitwise equal ($(wc -l < "$work/slurm.digest") datasets)"
