#!/bin/bash
# The body of every sbatch script here (they exec it, so Slurm's --signal=B:USR1 reaches it):
# runs st-train CONFIG --resume auto [options...] under srun, forwards the warning signal to the
# ranks (st-train saves a checkpoint at the next step boundary and exits with 4, preempted),
# and requeues the job on exit 4. Every start resumes from the newest checkpoint, so a job
# requeued by this script or preempted by the scheduler (SIGTERM, which st-train handles the same
# way) continues where it stopped.
#   docker/slurm/step.sh CONFIG.yaml [st-train options...]      (inside a batch job)
# Environment: ST_BIN (default build/launch), ST_SRUN_MPI (default pmix), ST_CONTAINER_IMAGE
# (run in that pyxis/enroot image, with runs/ and data/ of the submit directory mounted).
set -euo pipefail
config="${1:?usage: sbatch docker/slurm/<variant>.sbatch CONFIG.yaml [st-train options...]}"
shift

# OpenMP threads per rank = the cores Slurm gave each task; srun (Slurm >= 22.05) reads them
# from SRUN_CPUS_PER_TASK, no longer from the job's --cpus-per-task.
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export SRUN_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK:-1}
bin=${ST_BIN:-build/launch}
srun_args=(--mpi="${ST_SRUN_MPI:-pmix}")
if [ -n "${ST_CONTAINER_IMAGE:-}" ]; then
  w=/opt/simpletron
  srun_args+=(--container-image="$ST_CONTAINER_IMAGE" --container-workdir="$w"
              --container-mounts="$PWD/runs:$w/runs,$PWD/data:$w/data")
  bin=$w/build/launch
fi

echo "st-train under Slurm: job ${SLURM_JOB_ID:-?}, restart ${SLURM_RESTART_COUNT:-0}, config $config"
srun "${srun_args[@]}" "$bin/st-train" "$config" --resume auto "$@" &
step=$!
trap 'kill -USR1 "$step" 2>/dev/null || true' USR1
rc=0
while true; do
  wait "$step" && rc=0 || rc=$?
  kill -0 "$step" 2>/dev/null || break  # a trapped signal interrupted wait: wait again
done
if [ "$rc" = 4 ]; then  # preempted with its checkpoint saved: come back and continue
  echo "st-train: preempted (exit 4); requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
exit "$rc"
