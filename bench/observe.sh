#!/usr/bin/env bash
# Stat calls per file of a warm `pipe status`: a directory of N files (default 5,000) that
# is one stage's out and two stages' dep. Each distinct path should be observed once per
# command (about one stat per file), not once per stage that names it. Prints figures for
# each pipe binary given (default: this checkout's debug build); asserts nothing.
#   bench/observe.sh [PIPE...]        N=20000 bench/observe.sh   DIR=/tmp/x bench/observe.sh
# Needs strace.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-5000}
dir=${DIR:-/tmp/pipe-bench-observe}
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$root/target/debug/pipe")
command -v strace >/dev/null || { echo "strace is not installed (apt-get install strace)" >&2; exit 1; }

for i in "${!bins[@]}"; do bins[i]=$(realpath "${bins[i]}"); done

for pipe in "${bins[@]}"; do
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  git init -q
  cat > pipe.toml <<P
[stage.make]
cmd = "mkdir -p data && i=0 && while [ \$i -lt $n ]; do echo \$i > data/f\$i; i=\$((i+1)); done"
outs = ["data"]

[stage.read1]
cmd = "ls data | wc -l > r1.txt"
deps = ["data"]
outs = ["r1.txt"]

[stage.read2]
cmd = "cat data/f1 > r2.txt"
deps = ["data"]
outs = ["r2.txt"]
P
  "$pipe" init >/dev/null 2>&1
  "$pipe" repro -q >/dev/null
  "$pipe" status >/dev/null # warm: the state db knows every file
  stats() {
    strace -f -c -e trace=statx,newfstatat,lstat,stat "$pipe" "$@" 2>&1 >/dev/null |
      awk '$NF == "total" { print $4 }'
  }
  per() { echo "scale=2; $1 / $n" | bc; }
  echo "$pipe"
  echo "  files in data/: $n (out of make, dep of read1 and read2)"
  for args in "status" "repro --dry" "repro"; do
    # shellcheck disable=SC2086
    calls=$(stats $args)
    # shellcheck disable=SC2086
    s=$(date +%s.%N); "$pipe" $args >/dev/null 2>&1; e=$(date +%s.%N)
    printf '  warm pipe %-12s %7d stat calls, %5s per file, %6.3f s\n' \
      "$args:" "$calls" "$(per "$calls")" "$(echo "$e - $s" | bc)"
  done
done
