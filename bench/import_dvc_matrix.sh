#!/usr/bin/env bash
# `pipe import-dvc` against `dvc status` on a DVC project whose one stage is a matrix of
# N instances (default 4,000: 100 x 40), as a fresh clone has it (no data, no dvc.lock):
# DVC loads and expands the matrix, pipe converts it, writes pipe.toml and loads it.
#   bench/import_dvc_matrix.sh [N]   (a release build, or PIPE_BIN=target/debug/pipe)
# Prints the wall time of each, best of 3 (each import on a fresh copy), then `pipe status`
# and `pipe dag --json` on the imported project, and how many warning lines the import gave.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-4000}
pipe=${PIPE_BIN:-$PWD/target/release/pipe}
dvc=$(scripts/setup-dvc.sh | tail -n 1)
export DVC_NO_ANALYTICS=1
work=$(mktemp -d /tmp/pipe-bench-dvcm.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/src
mkdir -p "$src"
a=100
b=$(( (n + a - 1) / a ))
python3 - "$src" "$a" "$b" <<'PY'
import sys
root, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(f"{root}/params.yaml", "w") as f:
    f.write("run:\n  scale: 3\n  tag: bench\n")
with open(f"{root}/score.py", "w") as f:
    f.write("import sys\nprint(sys.argv[1:])\n")
with open(f"{root}/dvc.yaml", "w") as f:
    f.write("stages:\n  score:\n    matrix:\n")
    f.write("      user: [" + ", ".join(f"u{i:03d}" for i in range(a)) + "]\n")
    f.write("      item: [" + ", ".join(f"i{j:03d}" for j in range(b)) + "]\n")
    f.write("    cmd: python score.py ${item.user} ${item.item} ${run.scale} > out/${item.user}-${item.item}.txt\n")
    f.write("    meta: {owner: bench}\n")
    f.write("    deps:\n    - score.py\n    params:\n    - run.scale\n    - run.tag\n")
    f.write("    outs:\n    - out/${item.user}-${item.item}.txt\n")
PY
(cd "$src" && git init -q && "$dvc" init -q)
stages=$(( a * b ))
best() { sort -n | head -n 1; }
time_of() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
dvc_times=(); pipe_times=(); status_times=(); dag_times=()
for _ in 1 2 3; do
  dvc_times+=("$(cd "$src" && time_of "$dvc" status)")
done
for i in 1 2 3; do
  rm -rf "$work/copy$i"; cp -r "$src" "$work/copy$i"
  pipe_times+=("$(cd "$work/copy$i" && time_of "$pipe" import-dvc)")
  status_times+=("$(cd "$work/copy$i" && time_of "$pipe" status)")
  dag_times+=("$(cd "$work/copy$i" && time_of "$pipe" dag --json)")
done
got=$(cd "$work/copy1" && "$pipe" dag --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["stages"]))')
[ "$got" = "$stages" ] || { echo "pipe dag --json lists $got stages, expected $stages" >&2; exit 1; }
rm -rf "$work/warn"; cp -r "$src" "$work/warn"
warnings=$(cd "$work/warn" && "$pipe" import-dvc 2>&1 >/dev/null | grep -c '^warning' || true)
echo "stages (matrix instances):         $stages"
echo "dvc status (s, best of 3):         $(printf '%s\n' "${dvc_times[@]}" | best)"
echo "pipe import-dvc (s, best of 3):    $(printf '%s\n' "${pipe_times[@]}" | best)"
echo "pipe status after (s, best of 3):  $(printf '%s\n' "${status_times[@]}" | best)"
echo "pipe dag --json (s, best of 3):    $(printf '%s\n' "${dag_times[@]}" | best)"
echo "warning lines from the import:     $warnings"
echo "dvc status times:                  ${dvc_times[*]}"
echo "pipe import-dvc times:             ${pipe_times[*]}"
