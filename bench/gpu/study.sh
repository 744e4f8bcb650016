#!/usr/bin/env bash
# The GPU check kit, part 3 (on the GPU machine; staged by bench/gpu/prepare.sh): the smoke
# study's five sweeps (resolution, ablation, aggregator, spatial, combined) at the CPU
# defaults of params.toml (the same data and model as `make smoke`), every cell on the one
# GPU. Cells are small, so several share the GPU: each sweep runs in its own copy of the
# workspace with N GPU slots (CUDA_VISIBLE_DEVICES=0,0,... gives pipe N grants of device 0),
# all five at once. Within BUDGET seconds it stops the sweeps, then merges their results
# into one workspace and writes, under OUT:
#   study.tar.gz    every cell's reports (eval.json, train.json, curves; no checkpoints),
#                   each sweep's table (.md, .json), its log, and the merged `pipe report`
#
#   TORCH=/opt/torch/.venv/lib/python3.12/site-packages/torch ./study.sh [--budget S]
#   ./study.sh --cpu --budget S      the same on this machine's cores (hours at full length)
#   ./study.sh --cpu --short         tiny sizes (short.txt): the plumbing, in minutes
#
# Resumable: WORK (default /tmp/pipe-study) is kept, and a second run goes on with the cells
# not yet done (pipe skips the up-to-date ones). Options: --budget S (default 540), --slots
# "resolution=4 ablation=2 ..." (GPU slots per sweep), --cpu. Environment: OUT (default
# <kit>/out-study), WORK, TORCH.
set -uo pipefail

kit=$(cd "$(dirname "$0")" && pwd)
budget=540
dev=cuda
short=0
slots="resolution=4 ablation=2 aggregator=2 spatial=2 combined=2"
while [ $# -gt 0 ]; do
    case $1 in
        --budget) budget=$2; shift ;;
        --slots) slots=$2; shift ;;
        --cpu) dev=cpu ;;
        --short) short=1 ;;
        -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
start=$(date +%s)
deadline=$((start + budget))
if [ "$dev" = cuda ]; then
    : "${TORCH:=/opt/torch/.venv/lib/python3.12/site-packages/torch}"
fi
if [ -n "${TORCH:-}" ]; then
    [ -d "$TORCH/lib" ] || { echo "error: $TORCH/lib does not exist (set TORCH)" >&2; exit 2; }
    export LD_LIBRARY_PATH=$TORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
PIPE=$kit/bin/pipe
[ -x "$PIPE" ] || { echo "error: $PIPE missing: run bench/gpu/prepare.sh first" >&2; exit 2; }
export OUT=${OUT:-$kit/out-study}
WORK=${WORK:-/tmp/pipe-study}
mkdir -p "$OUT" "$WORK/logs"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=bench/gpu/params.sh
. "$kit/params.sh"
left() { echo $((deadline - $(date +%s))); }

# The base workspace: the study at params.toml (CPU defaults), every torch stage on $dev.
base=$WORK/base
if [ ! -e "$base/pipe.toml" ]; then
    mkdir -p "$base"
    cp "$kit"/smoke/pipe.toml "$kit"/smoke/params.toml "$base/"
    sed -i 's/^params = \["params-gpu.toml"\]/params = ["params.toml"]/' "$base/pipe.toml"
    grep -q '^params = \["params.toml"\]' "$base/pipe.toml" || {
        echo "error: could not point $base/pipe.toml at params.toml" >&2
        exit 1
    }
    for s in train evaluate benchmark; do
        setp "$base/params.toml" "$s" device "\"$dev\""
    done
    if [ $short = 1 ]; then
        set_short "$base/params.toml"
    fi
fi
echo "== study: budget ${budget}s, device $dev, work $WORK, out $OUT"
echo "== data (params.toml)"
(cd "$base" && timeout "$(left)" "$PIPE" repro build_model_input) > "$WORK/logs/data.log" 2>&1 || {
    echo "error: the data stages failed or ran out of time; last lines of $WORK/logs/data.log:" >&2
    tail -n 5 "$WORK/logs/data.log" >&2
    exit 1
}
tail -n 3 "$WORK/logs/data.log"
# The lock as the copies start from it: the merge's common ancestor.
[ -e "$WORK/base.lock" ] || cp "$base/pipe.lock" "$WORK/base.lock"

# One copy of the workspace per sweep (its data and cache included), so that the five
# sweeps run at once; their results are merged back into base at the end.
if [ "$dev" = cuda ] && command -v nvidia-smi > /dev/null; then
    # The GPU's load and memory while the sweeps run, once a second.
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 1 \
        >> "$WORK/logs/gpu-samples.csv" 2>/dev/null &
    sampler=$!
    trap 'kill $sampler 2>/dev/null' EXIT
fi
pids=()
names=()
stop_at=$((deadline - 60))   # a minute for the tables, the report and the archive
for kv in $slots; do
    s=${kv%%=*}
    n=${kv#*=}
    [ -e "$WORK/$s/pipe.toml" ] || cp -a "$base" "$WORK/$s"
    gpus=$(printf '0,%.0s' $(seq "$n"))
    t=$((stop_at - $(date +%s)))
    [ "$t" -gt 10 ] || { echo "== $s: skipped (no time left)"; continue; }
    echo "== sweep $s: $n slots, at most ${t}s"
    (
        cd "$WORK/$s" || exit 1
        if [ "$dev" = cuda ]; then export CUDA_VISIBLE_DEVICES=${gpus%,}; fi
        exec timeout -k 15 "$t" "$PIPE" sweep "$s" --jobs "$n" --cpus $((2 * n)) --color never
    ) >> "$WORK/logs/sweep-$s.log" 2>&1 &
    pids+=($!)
    names+=("$s")
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    rc=$?
    echo "== sweep ${names[$i]}: exit $rc ($(grep -c 'Finished train' "$WORK/logs/sweep-${names[$i]}.log") trainings in its log)"
done

# Merge and tabulate (from the lock the copies started from, so a resumed run merges again).
mkdir -p "$base/sweeps" "$base/.pipe/sweeps" "$WORK/tables"
cp "$WORK/base.lock" "$base/pipe.lock"
for kv in $slots; do
    s=${kv%%=*}
    [ -d "$WORK/$s/sweeps/$s" ] || continue
    rm -rf "$base/sweeps/$s"
    cp -a "$WORK/$s/sweeps/$s" "$base/sweeps/$s"
    cp -a "$WORK/$s/.pipe/sweeps/$s.json" "$base/.pipe/sweeps/" 2>/dev/null
    # The cells' lock entries: pipe's own lock merge (each copy added only its sweep's).
    "$PIPE" merge-lock "$WORK/base.lock" "$base/pipe.lock" "$WORK/$s/pipe.lock" --color never
    (cd "$base" && "$PIPE" sweep "$s" --show --md --color never) > "$WORK/tables/$s.md" 2>&1
    (cd "$base" && "$PIPE" sweep "$s" --show --json) > "$WORK/tables/$s.json" 2>/dev/null
    (cd "$base" && "$PIPE" sweep "$s" --show --color never) 2>&1 | head -n 40
done
(cd "$base" && "$PIPE" report -o "$WORK/tables/report.html") > "$WORK/logs/report.log" 2>&1
tar -czf "$OUT/study.tar.gz" -C "$WORK" --exclude='*.safetensors' --exclude='*.pt' \
    logs tables base/sweeps base/params.toml base/pipe.toml base/pipe.lock
echo "== $OUT/study.tar.gz ($(du -h "$OUT/study.tar.gz" | cut -f1)), $(( $(date +%s) - start )) s"
