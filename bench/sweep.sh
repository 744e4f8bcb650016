#!/usr/bin/env bash
# Planning, status and scheduling overhead at sweep scale: a 6-stage pipeline whose last
# five stages are swept over a 10 x 10 x 10 matrix (1,000 cells, 5,006 stage instances: the 6 base stages and 5 per cell),
# every stage a trivial `cmd`. Prints figures; asserts nothing.
#   bench/sweep.sh [WORKDIR]     (default: a temp dir)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pipe=${PIPE:-$root/target/release/pipe}
[ -x "$pipe" ] || (cd "$root" && cargo build --release -q)
dir=${1:-$(mktemp -d)}
mkdir -p "$dir" && cd "$dir"
rm -rf .pipe pipe.lock sweeps
cat > params.toml <<'P'
[m]
a = 0
b = 0
c = 0
P
cat > pipe.toml <<'P'
[stage.prep]
cmd = "echo data > data.txt"
outs = ["data.txt"]

[stage.s1]
cmd = "echo ${m.a} > ${outs[0]}"
deps = ["data.txt"]
outs = ["s1.txt"]

[stage.s2]
cmd = "cat ${deps[0]} > ${outs[0]}; echo ${m.b} >> ${outs[0]}"
deps = ["s1.txt"]
outs = ["s2.txt"]

[stage.s3]
cmd = "cat ${deps[0]} > ${outs[0]}; echo ${m.c} >> ${outs[0]}"
deps = ["s2.txt"]
outs = ["s3.txt"]

[stage.s4]
cmd = "cat ${deps[0]} > ${outs[0]}"
deps = ["s3.txt"]
outs = ["s4.txt"]

[stage.s5]
cmd = "wc -c < ${deps[0]} | sed 's/.*/{\"bytes\": &}/' > ${metrics[0]}"
deps = ["s4.txt"]
metrics = ["m.json"]

[sweep.big]
stages = ["s1", "s2", "s3", "s4", "s5"]
matrix = { "m.a" = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "m.b" = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "m.c" = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }
report = ["bytes"]
P
n=$("$pipe" dag | wc -l)
echo "pipeline: $n stage instances (6 base stages + 1,000 cells x 5 swept stages)"
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc; }
if command -v hyperfine >/dev/null; then
  hyperfine -N -w 2 -r 10 "$pipe dag" "$pipe status" "$pipe sweep big --dry" 2>/dev/null | grep -E "Benchmark|Time"
else
  echo "plan (pipe dag):          $(t "$pipe" dag) s"
  echo "status, nothing run:      $(t "$pipe" status) s"
fi
jobs=$(nproc)
secs=$(t "$pipe" sweep big -q -j "$jobs")
echo "pipe sweep big (ran $n stages, -j $jobs): ${secs} s = $(echo "scale=2; $secs * 1000 / $n" | bc) ms per stage instance, wall"
secs=$(t "$pipe" sweep big -q)
echo "pipe sweep big again (all fresh): ${secs} s"
if command -v hyperfine >/dev/null; then
  hyperfine -N -w 1 -r 5 "$pipe status" 2>/dev/null | grep -E "Time"
fi
# The same scheduler with sh's own cost removed: every stage restored from the run cache.
rm -rf sweeps .pipe/journal pipe.lock
secs=$(t "$pipe" sweep big -q -j "$jobs")
echo "pipe sweep big, every stage restored from the run cache: ${secs} s = $(echo "scale=2; $secs * 1000 / $n" | bc) ms per stage instance"
