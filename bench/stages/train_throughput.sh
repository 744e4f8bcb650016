#!/usr/bin/env bash
# Training throughput of pipe's `train` stage against a PyTorch eager script of the same
# model, batch size, data and thread count (bench/stages/torch_reference.py), run in
# alternation on this machine (ROUNDS rounds of EPOCHS epochs each). Prints samples/s of
# epochs 2..N (the first epoch pays one-off allocations in both): the median and the best
# epoch, which is the figure least disturbed by other work on a shared machine.
#
#   bench/stages/train_throughput.sh     # EPOCHS=4 ROUNDS=2 THREADS=$(nproc) PARAMS=pipelines/smoke/params.toml
#   PYTHON=.venv/bin/python bench/stages/train_throughput.sh
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
source "$root/bench/stages/common.sh"
EPOCHS=${EPOCHS:-4}
ROUNDS=${ROUNDS:-2}
PYTHON=${PYTHON:-$root/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "error: $PYTHON cannot import torch; set PYTHON to the project's venv python (./setup makes .venv)" >&2
    exit 1
fi

prepare_data
# Same params for both: a fixed number of epochs, no early stop.
sed -e "s/^epochs = .*/epochs = $EPOCHS/" -e "s/^patience = .*/patience = 1000/" "$PARAMS" > "$WORK/bench-params.toml"

pipe_rates=()
torch_rates=()
for round in $(seq "$ROUNDS"); do
    echo "== round $round: pipe train ($THREADS threads, $EPOCHS epochs)"
    PIPE_CPUS=$THREADS "$B" train --params "$WORK/bench-params.toml" --deps "$WORK/data/04_model_input" \
        --outs "$WORK/model.safetensors" --metrics "$WORK/train.json" --plots "$WORK/train_curve.csv" |
        grep -E "^(training|epoch)"
    pipe_rates+=($(awk -F, 'NR > 2 { print $10 }' "$WORK/train_curve.csv"))

    echo "== round $round: PyTorch eager"
    out=$(PIPE_CPUS=$THREADS "$PYTHON" -W ignore "$root/bench/stages/torch_reference.py" "$WORK/bench-params.toml" \
        "$WORK/data/04_model_input" --threads "$THREADS" 2>&1) || { echo "$out" >&2; exit 1; }
    echo "$out" | grep -E "^(torch|epoch)"
    torch_rates+=($(echo "$out" | awk '/^epoch/ && $2 !~ /^1\// { gsub(/[(]/, "", $(NF-1)); print $(NF-1) }'))
done

stats() { printf "%s\n" "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%8.1f %8.1f %4d", v[int((NR + 1) / 2)], v[NR], NR }'; }
echo
printf "%-26s %8s %8s %4s\n" "train samples/s" "median" "best" "n"
printf "%-26s %s\n" "pipe train (tch)" "$(stats "${pipe_rates[@]}")"
printf "%-26s %s\n" "PyTorch eager (Python)" "$(stats "${torch_rates[@]}")"
