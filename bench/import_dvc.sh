#!/usr/bin/env bash
# `pipe import-dvc` (md5 check of everything dvc.lock and the .dvc files name, blake3 hash
# and caching of it) against `dvc status` on the same project: a DVC project of 4 stages
# and a `dvc add`ed data directory of N files (default 20,000, 1 KiB each).
#   bench/import_dvc.sh [N]        (a release build, or PIPE_BIN=target/debug/pipe)
# Prints the wall time of each, best of 3 (each import on a fresh copy of the project).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
pipe=${PIPE_BIN:-$PWD/target/release/pipe}
dvc=$(scripts/setup-dvc.sh | tail -n 1)
export DVC_NO_ANALYTICS=1
work=$(mktemp -d /tmp/pipe-bench-dvc.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/src
mkdir -p "$src/data/raw"
python3 - "$src/data/raw" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, f"{i % 100:02d}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"{i}.bin"), "wb") as f:
        f.write(os.urandom(1024))
PY
cat > "$src/params.yaml" <<'Y'
prepare: {every: 7}
train: {lr: 0.01}
Y
cat > "$src/dvc.yaml" <<'Y'
stages:
  prepare:
    cmd: find data/raw -name '*.bin' | sort | awk 'NR % ${prepare.every} == 0' > list.txt
    deps: [data/raw]
    params: [prepare.every]
    outs: [list.txt]
  featurize:
    cmd: wc -l list.txt > features.txt
    deps: [list.txt]
    outs: [features.txt]
  train:
    cmd: echo ${train.lr} | cat - features.txt > model.txt
    deps: [features.txt]
    params: [train.lr]
    outs: [model.txt]
  evaluate:
    cmd: wc -c model.txt > metrics.txt
    deps: [model.txt]
    metrics: [metrics.txt]
Y
(cd "$src" && "$dvc" init -q --no-scm && "$dvc" add -q data/raw && "$dvc" repro -q)
best() { sort -n | head -n 1; }
time_of() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
dvc_times=(); pipe_times=()
for _ in 1 2 3; do
  dvc_times+=("$(cd "$src" && time_of "$dvc" status)")
done
for i in 1 2 3; do
  rm -rf "$work/copy$i"; cp -r "$src" "$work/copy$i"
  pipe_times+=("$(cd "$work/copy$i" && time_of "$pipe" import-dvc)")
  (cd "$work/copy$i" && "$pipe" status | grep -q "Everything is up to date") || { echo "import left stale stages" >&2; exit 1; }
done
echo "files in data/raw:                 $n"
echo "dvc status (s, best of 3):         $(printf '%s\n' "${dvc_times[@]}" | best)"
echo "pipe import-dvc (s, best of 3):    $(printf '%s\n' "${pipe_times[@]}" | best)"
echo "pipe import-dvc times:             ${pipe_times[*]}"
echo "dvc status times:                  ${dvc_times[*]}"
