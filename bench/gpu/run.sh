#!/usr/bin/env bash
# The GPU check kit, part 2 (on the GPU machine; made by bench/gpu/prepare.sh, run from the
# kit folder it staged). Within BUDGET seconds of wall time (default 440: the kit's
# 8 minutes, less margin), stopping every step at the deadline, it:
#   1. device          pipe-torch reports what libtorch sees: CUDA, the device's name,
#                      capability, memory, and a matmul check (fp32 / bf16)
#   2. data            the smoke study's data stages at full size (params-gpu.toml)
#      pipeline_bf16   the rest of the pipeline on the device in bf16 (train, evaluate,
#      pipeline_fp32   package, benchmark), then again in fp32
#   3. pipe_train_rN / eager_rN   train samples/s of pipe and of the PyTorch eager model
#                      (torch_reference.py: same model, batch, data, precision, device),
#                      alternating, ROUNDS rounds
#   4. (throughout)    device utilisation and memory sampled every 200 ms (nvidia-smi -lms)
#   5. sweep           a 4-cell sweep (`gpu4`), the cells queueing for the one GPU
#      compile         the reference under torch.compile (COMPILE_BACKEND, default inductor;
#                      --short uses aot_eager: inductor's C++ builds take minutes on 2 cores)
#   6. $OUT/gpu.json   every figure (summarize.py), the logs in $OUT/logs/, the samples,
#                      the per-epoch curves; summarize.py --check fails if one is missing
#
#   TORCH=/opt/torch/.venv/lib/python3.12/site-packages/torch ./run.sh
#   ./run.sh --cpu [--short]      the same steps on this machine's CPU (--short: tiny sizes)
#
# Options: --torch DIR (or TORCH): the torch package whose lib/ holds libtorch (its venv's
# python runs the reference); --cpu; --short; --budget S. Environment: OUT (default
# <kit>/out), WORK (the data; default a new folder under TMPDIR, removed at the end unless
# KEEP_WORK=1), PYTHON, ROUNDS, BENCH_EPOCHS, PER_CLASS (prepare.train_per_class),
# COMPILE_BACKEND.
set -uo pipefail   # not -e: a failed step is recorded and the run goes on

kit=$(cd "$(dirname "$0")" && pwd)
now() { date +%s.%N; }
# shellcheck source=bench/gpu/params.sh
. "$kit/params.sh"

# One step's body, run by the top level as `run.sh --step NAME` under `timeout`.
if [ "${1:-}" = "--step" ]; then
    set -e
    name=$2
    cd "$WORK/smoke"
    case $name in
        device)
            "$PIPE_TORCH" device --device "$DEV"
            "$PIPE_TORCH" device --device "$DEV" --json > "$OUT/device.json"
            ;;
        data)
            "$PIPE" repro build_model_input
            du -sh data/* || true
            ;;
        pipeline_bf16 | pipeline_fp32)
            prec=${name#pipeline_}
            setp "$PARAMS" train precision "\"$prec\""
            "$PIPE" repro
            mkdir -p "$OUT/pipeline-$prec"
            cp reports/train.json reports/train_curve.csv reports/eval.json reports/bench.json "$OUT/pipeline-$prec/"
            cp .pipe/logs/train.log .pipe/logs/evaluate.log .pipe/logs/benchmark.log "$OUT/pipeline-$prec/" 2>/dev/null || true
            ;;
        pipe_train_r*)
            setp "$PARAMS" train precision "\"$BENCH_PRECISION\""
            setp "$PARAMS" train epochs "$BENCH_EPOCHS"
            setp "$PARAMS" train patience 1000
            "$PIPE" repro train --single --force --no-run-cache
            mkdir -p "$OUT/throughput"
            cp reports/train_curve.csv "$OUT/throughput/pipe-${name#pipe_train_}.csv"
            cp reports/train.json "$OUT/throughput/pipe-${name#pipe_train_}.json"
            ;;
        eager_r* | compile)
            setp "$PARAMS" train epochs "$BENCH_EPOCHS"
            setp "$PARAMS" train patience 1000
            mkdir -p "$OUT/throughput"
            extra=()
            [ "$name" = compile ] && extra=(--compile --compile-backend "$COMPILE_BACKEND")
            file=$OUT/throughput/${name/_r/-r}.json
            [ "$name" = compile ] && file=$OUT/throughput/compile.json
            "$PYTHON" -W ignore "$kit/torch_reference.py" "$PARAMS" data/04_model_input \
                --device "$DEV" --precision "$BENCH_PRECISION" --threads "$THREADS" \
                "${extra[@]}" --json "$file"
            ;;
        sweep)
            "$PIPE" sweep gpu4
            "$PIPE" sweep gpu4 --show --json > "$OUT/sweep.json"
            ;;
        *)
            echo "unknown step $name" >&2
            exit 2
            ;;
    esac
    exit 0
fi

mode=gpu
short=0
budget=
while [ $# -gt 0 ]; do
    case $1 in
        --cpu) mode=cpu ;;
        --short) short=1 ;;
        --torch) TORCH=$2; shift ;;
        --budget) budget=$2; shift ;;
        -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$mode" = gpu ]; then
    : "${TORCH:=/opt/torch/.venv/lib/python3.12/site-packages/torch}"
    DEV=cuda
    BENCH_PRECISION=bf16
    : "${budget:=440}"
else
    DEV=cpu
    BENCH_PRECISION=fp32
    : "${budget:=$([ $short = 1 ] && echo 300 || echo 1800)}"
fi
if [ -n "${TORCH:-}" ]; then
    if [ ! -d "$TORCH/lib" ]; then
        echo "error: $TORCH/lib does not exist: give the torch package directory (--torch or TORCH)" >&2
        exit 2
    fi
    export LD_LIBRARY_PATH=$TORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    : "${PYTHON:=${TORCH%%/lib/python*}/bin/python}"
fi
[ -n "${PYTHON:-}" ] && [ -x "$PYTHON" ] || PYTHON=$kit/../../.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=python3
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "error: $PYTHON cannot import torch (set PYTHON or TORCH)" >&2
    exit 2
fi
export PIPE=$kit/bin/pipe PIPE_TORCH=$kit/bin/pipe-torch PYTHON DEV BENCH_PRECISION
export OUT=${OUT:-$kit/out}
export ROUNDS=${ROUNDS:-3}
export BENCH_EPOCHS=${BENCH_EPOCHS:-3}
for b in "$PIPE" "$PIPE_TORCH"; do
    [ -x "$b" ] || { echo "error: $b missing: run bench/gpu/prepare.sh first" >&2; exit 2; }
done
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)   # the steps run elsewhere
rm -f "$OUT/steps.tsv" "$OUT/gpu.json"
if [ -z "${WORK:-}" ]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/pipe-gpu-work.XXXXXX")
    made_work=1
else
    mkdir -p "$WORK"
    made_work=0
fi
export WORK

# The workspace: the kit's smoke pipeline, set for this mode.
rm -rf "$WORK/smoke"
cp -r "$kit/smoke" "$WORK/smoke"
cd "$WORK/smoke"
if [ "$mode" = gpu ]; then
    export PARAMS=params-gpu.toml
else
    # The CPU-sized params: the full size would take hours on a few cores.
    sed -i 's/^params = \["params-gpu.toml"\]/params = ["params.toml"]/' pipe.toml
    export PARAMS=params.toml
    sed -i -e 's/^epochs = .*/epochs = 3/' -e 's/^patience = .*/patience = 100/' "$PARAMS"
fi
# The study's own thread grant for train (`resources = { cpus = N }`), for the reference too.
export THREADS=$(awk '/^\[stage.train\]/ { t = 1 } t && /resources/ { match($0, /cpus = [0-9]+/); print substr($0, RSTART + 7, RLENGTH - 7); exit }' pipe.toml)
: "${THREADS:=2}"
for s in train evaluate benchmark; do
    setp "$PARAMS" "$s" device "\"$DEV\""
done
[ -n "${PER_CLASS:-}" ] && setp "$PARAMS" prepare train_per_class "$PER_CLASS"
if [ $short = 1 ]; then
    # Tiny sizes: every step runs, in seconds, on two cores.
    set_short "$PARAMS"
    export ROUNDS=${ROUNDS_SHORT:-2}
    # Inductor compiles C++ kernels with the host compiler: minutes on two cores. The short
    # run checks the kit's plumbing through torch.compile's tracing (aot_eager) instead.
    : "${COMPILE_BACKEND:=aot_eager}"
fi
export COMPILE_BACKEND=${COMPILE_BACKEND:-inductor}

start=$(date +%s)
deadline=$((start + budget))
started_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf 'name\tstatus\tstart\tend\trc\n' > "$OUT/steps.tsv"

# The sampler runs for the whole run; the summary cuts its samples by step.
"$PYTHON" "$kit/sample.py" --"$mode" --interval-ms 200 > "$OUT/samples.csv" 2> "$OUT/logs/sample.log" &
sampler=$!
finish() {
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null
    if [ "$made_work" = 1 ] && [ "${KEEP_WORK:-0}" != 1 ]; then
        rm -rf "$WORK"
    fi
}
trap finish EXIT

# step NAME MAX_SECONDS: runs `run.sh --step NAME` for at most MAX_SECONDS and never past
# the deadline; records the outcome in steps.tsv.
step() {
    local name=$1 max=$2 left t s rc status
    left=$((deadline - $(date +%s)))
    t=$((max < left ? max : left))
    s=$(now)
    if [ "$t" -lt 5 ]; then
        printf '%s\tskipped\t%s\t%s\t-\n' "$name" "$s" "$s" >> "$OUT/steps.tsv"
        echo "== $name: skipped (the budget is spent)"
        return 1
    fi
    echo "== $name (at most ${t}s)"
    timeout -k 10 "$t" "$kit/run.sh" --step "$name" > "$OUT/logs/$name.log" 2>&1
    rc=$?
    case $rc in
        0) status=ok ;;
        124 | 137) status=timeout ;;
        *) status=failed ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$s" "$(now)" "$rc" >> "$OUT/steps.tsv"
    if [ $rc != 0 ]; then
        echo "   $status (exit $rc); last lines of $OUT/logs/$name.log:"
        tail -n 5 "$OUT/logs/$name.log" | sed 's/^/   | /'
    fi
    return $rc
}

echo "pipe GPU check: mode $mode$([ $short = 1 ] && echo ' (short)'), budget ${budget}s, device $DEV, work $WORK, out $OUT"
step device 60
if step data 240; then
    step pipeline_bf16 120
    step pipeline_fp32 120
    for r in $(seq "$ROUNDS"); do
        step "pipe_train_r$r" 90
        step "eager_r$r" 90
    done
    step sweep 180
    step compile 180
fi
end=$(date +%s)
finish
trap - EXIT

summary=(--out "$OUT" --mode "$mode" --started "$started_iso" --wall "$((end - start))"
    --budget "$budget" --commit "$(head -n 1 "$kit/COMMIT" 2>/dev/null || echo unknown)")
[ $short = 1 ] && summary+=(--short)
"$PYTHON" "$kit/summarize.py" "${summary[@]}" --check
rc=$?
echo "== $OUT/gpu.json written ($((end - start)) s)"
exit $rc
