#!/usr/bin/env bash
# The LRA suite from nothing, as a new user meets it: `st-data lra` with no downloads generates
# ListOps, Pathfinder and Path-X (scaled down here) and names the downloads of the rest; running
# again keeps what it made. The suite (configs/lra/listops.yaml and text.yaml, shrunk with --set)
# on 4 ranks then stops before training with one pre-flight message, printed once, naming the
# task without data and the command that makes it; with --skip-missing it trains ListOps and
# marks text "no data" in results.md. A single run without its data says how it is made. Then
# a tiny aclImdb tree goes through st-data lra and the suite, run again, trains text too.
#   tests/launch/lra_suite.sh BUILD_DIR MPIEXEC
set -euo pipefail
build="$1"
mpiexec="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/st-lra-suite.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 ST_PROGRESS=plain
fail() { echo "FAIL: $1"; [ -z "${2:-}" ] || cat "$2"; exit 1; }
cd "$work"

"$build/launch/st-data" lra --out data/lra --scale 0.0002 --tasks listops,text,retrieval,image,pathfinder \
  > prepare.out 2>&1 || fail "st-data lra failed" prepare.out
for expected in "| listops | synthetic (seed 0, scale 0.0002) | 19 | 1 | 1 |" "| text | missing |" \
                "| pathfinder | synthetic" "aclImdb_v1.tar.gz" "lra_release.gz" "cifar-10-binary.tar.gz"; do
  grep -qF "$expected" prepare.out || fail "the report lacks '$expected'" prepare.out
done
"$build/launch/st-data" lra --out data/lra --scale 0.0002 --tasks listops > again.out 2>&1 || fail "the rerun failed" again.out
grep -qF "| listops | synthetic (seed 0, scale 0.0002) | 19 | 1 | 1 | " again.out && grep -qF "| kept |" again.out ||
  fail "the rerun did not keep listops" again.out

cat > suite.yaml <<YAML
suite:
  run_dir: runs/lra
  tasks:
    - {name: listops, config: $root/configs/lra/listops.yaml}
    - {name: text, config: $root/configs/lra/text.yaml}
YAML
small=(--set model.d_model=16 --set model.heads=2 --set model.layers=1 --set model.d_ff=16 --set train.steps=2
       --set train.eval_every=2 --set train.log_every=1 --set train.checkpoint_every=2 --set optimizer.warmup=1
       --set data.batch_size=4)

rc=0
"$mpiexec" -np 4 --oversubscribe --allow-run-as-root --bind-to none "$build/launch/st-train" suite.yaml "${small[@]}" > missing.out 2>&1 || rc=$?
[ "$rc" = 65 ] || fail "a task without data: exit $rc (65 expected)" missing.out
[ "$(grep -c "pre-flight" missing.out)" = 1 ] || fail "the pre-flight message is not printed exactly once" missing.out
grep -qF "text ($root/configs/lra/text.yaml): data.train 'data/lra/text/train-*.h5' matches no shard files" missing.out ||
  fail "the task at fault is not named" missing.out
grep -qF "make its data: st-data lra --out data/lra --tasks text --imdb aclImdb" missing.out ||
  fail "the command that makes the data is not given" missing.out
grep -q "listops (" missing.out && fail "listops, whose data is there, is listed" missing.out
grep -q "MPI_ABORT\|suite: starting" missing.out && fail "MPI's abort or a start before the check" missing.out
[ ! -e runs ] || fail "the failed pre-flight wrote runs/"

"$mpiexec" -np 2 --oversubscribe --allow-run-as-root --bind-to none "$build/launch/st-train" suite.yaml "${small[@]}" --skip-missing > skip.out 2>&1 ||
  fail "--skip-missing failed" skip.out
grep -qF "suite: text has no data and is skipped (--skip-missing); make it: st-data lra --out data/lra --tasks text --imdb aclImdb" skip.out ||
  fail "the skipped task is not said" skip.out
grep -qF -- "- text: st-data lra --out data/lra --tasks text --imdb aclImdb  (aclImdb_v1.tar.gz, unpacked)" runs/lra/results.md ||
  fail "results.md does not say how text's data is made" runs/lra/results.md
grep -qF "| listops | " runs/lra/results.md || fail "no listops row" runs/lra/results.md
grep -qF "| text | no data |" runs/lra/results.md ||
  fail "text is not marked 'no data'" runs/lra/results.md
grep -q "| listops | not run" runs/lra/results.md && fail "listops did not run" runs/lra/results.md
grep -qF "| **average** (1 of 2 tasks) |" runs/lra/results.md || fail "the average does not say it covers 1 task of 2" runs/lra/results.md
[ -e runs/lra/listops/results.json ] || fail "listops has no results.json"

rc=0
"$build/launch/st-train" "$root/configs/lra/text.yaml" --set run_dir=runs/text > text.out 2>&1 || rc=$?
[ "$rc" = 65 ] || fail "a single run without data: exit $rc (65 expected)" text.out
grep -qF "make the data: st-data lra --out data/lra --tasks text --imdb aclImdb" text.out ||
  fail "the single run does not say how the data is made" text.out

# The download arrives later: an aclImdb tree through st-data lra, then the same suite again
# passes its pre-flight, keeps the finished ListOps and trains text.
for split in train test; do
  for label in neg pos; do
    mkdir -p "aclImdb/$split/$label"
    for i in $(seq 0 19); do printf 'review %s %s %s\tis fine\n' "$split" "$label" "$i" > "aclImdb/$split/$label/${i}_5.txt"; done
  done
done
"$build/launch/st-data" lra --out data/lra --imdb aclImdb --tasks text > imdb.out 2>&1 || fail "st-data lra --imdb failed" imdb.out
grep -qE "^\| text \| official: $work/aclImdb \| [0-9]+ \| [0-9]+ \| 40 \| 50.0% \| made \|" imdb.out ||
  fail "the IMDb conversion is not reported" imdb.out
"$build/launch/st-data" inspect 'data/lra/text/test-*.h5' --tokens 24 > inspect.out 2>&1 || fail "inspect failed" inspect.out
grep -qF "review test neg 0" inspect.out || fail "the first test review is not neg/0_5.txt" inspect.out
"$mpiexec" -np 2 --oversubscribe --allow-run-as-root --bind-to none "$build/launch/st-train" suite.yaml "${small[@]}" \
  > again.out 2>&1 || fail "the suite with text's data failed" again.out
grep -qF "suite: listops already done" again.out || fail "listops was not kept" again.out
grep -qE "^\| text \| [0-9.]+ \|" runs/lra/results.md || fail "text did not run" runs/lra/results.md
grep -qF "| **average** |" runs/lra/results.md || fail "the average does not cover both tasks" runs/lra/results.md

rc=0
"$build/launch/st-train" "$root/configs/lra/text.yaml" --skip-missing > single.out 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--skip-missing on a single run: exit $rc (2 expected)" single.out
echo "PASS"
