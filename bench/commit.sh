#!/usr/bin/env bash
# What it costs pipe to make a commit durable, and whether that depends on what other
# processes wrote: `pipe repro` of a one-stage pipeline whose outs were just written,
#   - 1 object (the stage writes one small file), and
#   - 20,004 objects (the 20,000 small + 4 large files of
#     ../shared/bench/make_workload.py DIR 20000 4 256, 1.7 GB, copied in just before: the
#     out of a `persist` stage whose command is `true`, so the run is hashing + commit),
# each on a quiet filesystem (`sync` first) and right after 1.5 GB of unrelated dirty data
# (`head -c 1500M /dev/zero > unrelated.bin` on the same filesystem), by the old flush (one
# `syncfs` of the whole filesystem, selected by PIPE_BENCH_SYNCFS=1, which exists for this
# script only) and by the new one (fdatasync of each new object, then of the directories).
# Every run starts from an empty cache, so every object is new. Prints figures; asserts
# nothing.
#   bench/commit.sh [WORKDIR]   (default /tmp/pipe-bench-commit; WORKDIR/data is reused)
# Environment: PIPE (the binary; default target/release/pipe, built if missing), ROUNDS
# (runs of each figure, default 3; min and max are printed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pipe=${PIPE:-$root/target/release/pipe}
[ -x "$pipe" ] || (cd "$root" && cargo build --release -q)
make_workload=${MAKE_WORKLOAD:-$root/../shared/bench/make_workload.py}
dir=${1:-/tmp/pipe-bench-commit}
rounds=${ROUNDS:-3}
mkdir -p "$dir" && cd "$dir"
if [ ! -d data ]; then
  echo "making the workload (20,004 files, 1.7 GB) in $dir/data"
  python3 "$make_workload" data 20000 4 256
fi
trap 'rm -rf "$dir/unrelated.bin" "$dir/ws"' EXIT
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$dir/last.err" || { cat "$dir/last.err" >&2; return 1; }; e=$(date +%s.%N); echo "scale=3; ($e - $s) / 1" | bc; }

# One run: $1 = one|tree, $2 = quiet|dirty, $3 = old|new. Prints seconds.
run() {
  rm -rf "$dir/ws" "$dir/unrelated.bin" && mkdir "$dir/ws" && cd "$dir/ws"
  if [ "$1" = one ]; then
    printf '[stage.one]\ncmd = "echo %s > one.txt"\nouts = ["one.txt"]\n' "$RANDOM-$$" > pipe.toml
    sync
  else
    printf '[stage.t]\ncmd = "true"\nouts = [{ path = "tree", persist = true }]\n' > pipe.toml
    sync
    cp -r ../data tree   # the stage's out, just written: its write-back is pending
  fi
  if [ "$2" = dirty ]; then head -c 1500M /dev/zero > "$dir/unrelated.bin"; fi
  if [ "$3" = old ]; then
    secs env PIPE_BENCH_SYNCFS=1 "$pipe" repro
  else
    secs env -u PIPE_BENCH_SYNCFS "$pipe" repro
  fi
  cd "$dir"
}

range() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END{printf "%.3f-%.3f s", lo, hi}'; }

echo "$(nproc) cores; $(df -T "$dir" | awk 'NR==2{print $2}') on $(df "$dir" | awk 'NR==2{print $1}'); $rounds rounds each; pipe: $pipe"
printf '%-34s %-22s %-22s\n' "pipe repro, outs just written" "old (syncfs)" "new (fdatasync each)"
for what in one tree; do
  for fs in quiet dirty; do
    old=() new=()
    for _ in $(seq "$rounds"); do
      old+=("$(run "$what" "$fs" old)")
      new+=("$(run "$what" "$fs" new)")
    done
    label="$([ "$what" = one ] && echo "1 object" || echo "20,004 objects, 1.7 GB"), $([ "$fs" = quiet ] && echo quiet || echo "+1.5 GB dirty")"
    printf '%-34s %-22s %-22s\n' "$label" "$(range "${old[@]}")" "$(range "${new[@]}")"
  done
done
