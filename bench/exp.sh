#!/usr/bin/env bash
# Experiments: `pipe exp show` with 1,000 experiments, and `pipe exp show` against
# `dvc exp show` with 100 experiments each on the same three-stage pipeline (prep -> train
# -> evaluate, shell commands; each experiment overrides train.lr). The experiments are
# real: queued with `exp run --queue -S train.lr=...` and run with `exp run --run-all`
# (DVC: `dvc exp run -S` one after another, in its workspace). Prints figures; asserts
# nothing.
#   bench/exp.sh [WORKDIR]      (default /tmp/pipe-bench-exp)
# Environment: PIPE (default target/release/pipe, built if missing), DVC (default
# /tmp/exp-dvc-venv/bin/dvc, else dvc on PATH; SKIP_DVC=1 skips it), N (1000), N_DVC (100),
# JOBS (--jobs for --run-all, default: cores), SKIP_PIPE=1 (only the dvc part).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pipe=${PIPE:-$root/target/release/pipe}
[ -x "$pipe" ] || (cd "$root" && cargo build --release -q --no-default-features)
dvc=${DVC:-$( [ -x /tmp/exp-dvc-venv/bin/dvc ] && echo /tmp/exp-dvc-venv/bin/dvc || command -v dvc || true)}
dir=${1:-/tmp/pipe-bench-exp}
n=${N:-1000}
n_dvc=${N_DVC:-100}
jobs=${JOBS:-$(nproc)}
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$dir/last.err" || { cat "$dir/last.err" >&2; return 1; }; e=$(date +%s.%N); echo "scale=3; ($e - $s) / 1" | bc; }
# The median of 5 runs of a command, in seconds.
median5() { local v=(); for _ in 1 2 3 4 5; do v+=("$(secs "$@")"); done; printf '%s\n' "${v[@]}" | sort -n | sed -n 3p; }
lr() { awk -v i="$1" 'BEGIN { printf "%.6f", 0.0001 * (i + 1) }'; }
rm -rf "${dir:?}"/{pipe-$n,pipe-$n_dvc,dvc} && mkdir -p "$dir"
echo "$(nproc) cores; figures are the median of 5 runs of each show"

# --- pipe -------------------------------------------------------------------------------
pipe_ws() {
  rm -rf "$1" && mkdir -p "$1" && cd "$1"
  printf '[train]\nlr = 0.1\nepochs = 2\n' > params.toml
  cat > pipe.toml <<'P'
[stage.prep]
cmd = "seq 1 1000 > data.txt"
outs = ["data.txt"]

[stage.train]
cmd = "echo lr=${train.lr} epochs=${train.epochs} > ${outs[0]}; cat ${deps[0]} >> ${outs[0]}"
deps = ["data.txt"]
outs = ["model.txt"]

[stage.evaluate]
cmd = "awk 'BEGIN { printf \"{\\\"acc\\\": %f}\\n\", 1 - ${train.lr} }' > ${metrics[0]}"
deps = ["model.txt"]
params = ["train.lr"]
metrics = ["eval.json"]
P
  "$pipe" repro -q
}

pipe_exps() {
  local count=$1 s e
  s=$(date +%s.%N)
  for i in $(seq 0 $((count - 1))); do "$pipe" exp run -q --queue -S "train.lr=$(lr "$i")"; done
  e=$(date +%s.%N)
  echo "pipe: queue $count experiments (one process each): $(echo "scale=2; ($e - $s) / 1" | bc) s"
  echo "pipe: exp run --run-all -j $jobs ($count experiments, $((2 * count)) stages): $(secs "$pipe" exp run -q --run-all -j "$jobs") s"
  [ "$(ls .pipe/exps/*.json | wc -l)" = "$count" ] || { echo "expected $count records" >&2; exit 1; }
}

if [ -z "${SKIP_PIPE:-}" ]; then
  pipe_ws "$dir/pipe-$n"
  pipe_exps "$n"
  echo "pipe: exp show, $n experiments: $(median5 "$pipe" exp show) s"
  echo "pipe: exp show --json, $n experiments: $(median5 "$pipe" exp show --json) s"

  pipe_ws "$dir/pipe-$n_dvc"
  pipe_exps "$n_dvc"
  echo "pipe: exp show, $n_dvc experiments: $(median5 "$pipe" exp show) s"
fi

# --- dvc --------------------------------------------------------------------------------
if [ -n "${SKIP_DVC:-}" ] || [ -z "$dvc" ]; then
  echo "dvc: skipped (SKIP_DVC set or no dvc; install it into /tmp/exp-dvc-venv)"
  exit 0
fi
mkdir -p "$dir/dvc" && cd "$dir/dvc"
git init -q && git config user.email bench@pipe && git config user.name bench
printf '[train]\nlr = 0.1\nepochs = 2\n' > params.toml
# The same commands, reading the params file DVC rewrites (pipe passes values in ${...}).
cat > train.sh <<'S'
(grep -E '^(lr|epochs)' params.toml | tr -d ' ' | tr '\n' ' '; echo; cat data.txt) > model.txt
S
cat > evaluate.sh <<'S'
awk -F' = ' '/^lr/ { printf "{\"acc\": %f}\n", 1 - $2 }' params.toml > eval.json
S
cat > dvc.yaml <<'D'
stages:
  prep:
    cmd: seq 1 1000 > data.txt
    outs: [data.txt]
  train:
    cmd: sh train.sh
    deps: [data.txt, train.sh]
    params: [{params.toml: [train.lr, train.epochs]}]
    outs: [model.txt]
  evaluate:
    cmd: sh evaluate.sh
    deps: [model.txt, evaluate.sh]
    params: [{params.toml: [train.lr]}]
    metrics: [{eval.json: {cache: false}}]
D
"$dvc" init -q && "$dvc" config core.autostage true && "$dvc" repro -q >/dev/null
git add -A && git commit -qm base
s=$(date +%s.%N)
for i in $(seq 0 $((n_dvc - 1))); do
  "$dvc" exp run -q -S "params.toml:train.lr=$(lr "$i")" >/dev/null 2>"$dir/last.err" || { cat "$dir/last.err" >&2; exit 1; }
done
e=$(date +%s.%N)
echo "dvc $("$dvc" version 2>/dev/null | sed -n 's/^DVC version: \([^ ]*\).*/\1/p'): exp run, $n_dvc experiments one after another: $(echo "scale=2; ($e - $s) / 1" | bc) s"
echo "dvc: exp show, $n_dvc experiments: $(median5 "$dvc" exp show --no-pager) s"
echo "dvc: exp show --json, $n_dvc experiments: $(median5 "$dvc" exp show --json) s"
