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
# script only) and by the new one (each new object's data, then the directories). Every run
# starts from an empty cache, so every object is new. Prints figures; asserts nothing.
#
#   bench/commit.sh [--only one|tree] [WORKDIR]   (default /tmp/pipe-bench-commit;
#                                                  WORKDIR/data is reused)
# Environment: PIPE (the binary; default target/release/pipe, built if missing), ROUNDS
# (runs of each figure, default 5; the median and min-max are printed).
#
# Making rounds comparable:
# - The runs are interleaved: each round runs every row, old and new (which goes first
#   alternates between rounds), so a change of load during the script spreads over all.
# - Before each run the previous run's files are removed, then `sync`, then (when this
#   script may: it needs root) `echo 3 > /proc/sys/vm/drop_caches`. Without that, the
#   figures of the 20,004-object row varied 3x: ext4 skips an inode deleted in the last
#   30 s whose inode-table block is still cached when it allocates a new one, so creating
#   20,000 files right after removing 40,000 scans past all of them, under the directory's
#   lock (seen with `perf`: `recently_deleted`, `rwsem_spin_on_owner`). Dropping the clean
#   cached blocks after the `sync` ends that, as waiting 35 s would (done instead when the
#   caches cannot be dropped). The tree is then read back (by `cp`) before the timed run.
# - The disk's own write bandwidth is measured first (1 GiB with O_DIRECT, and 1 GiB
#   through the page cache + fdatasync) so the figures can be read against it.
# - The load average is printed at the start and the end: other processes' compilers share
#   the CPU and the disk.
set -euo pipefail
only=
if [ "${1:-}" = --only ]; then only=$2; shift 2; fi
root=$(cd "$(dirname "$0")/.." && pwd)
pipe=${PIPE:-$root/target/release/pipe}
[ -x "$pipe" ] || (cd "$root" && cargo build --release -q)
make_workload=${MAKE_WORKLOAD:-$root/../shared/bench/make_workload.py}
dir=${1:-/tmp/pipe-bench-commit}
rounds=${ROUNDS:-5}
mkdir -p "$dir" && cd "$dir"
if [ ! -d data ]; then
  echo "making the workload (20,004 files, 1.7 GB) in $dir/data"
  python3 "$make_workload" data 20000 4 256
fi
trap 'rm -rf "$dir/unrelated.bin" "$dir/ws" "$dir/dd.bin"' EXIT
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$dir/last.err" || { cat "$dir/last.err" >&2; return 1; }; e=$(date +%s.%N); echo "scale=3; ($e - $s) / 1" | bc; }

# Removes what the last run left and makes the next start from the same state.
settle() {
  rm -rf "$dir/ws" "$dir/unrelated.bin" "$dir/dd.bin"
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; else sleep 35; fi
}

# One run: $1 = one|tree, $2 = quiet|dirty, $3 = old|new. Prints seconds.
run() {
  settle
  mkdir "$dir/ws" && cd "$dir/ws"
  printf '[stage.one]\ncmd = "echo %s > one.txt"\nouts = ["one.txt"]\n' "$RANDOM-$$" > pipe.toml
  [ "$1" = tree ] && printf '[stage.t]\ncmd = "true"\nouts = [{ path = "tree", persist = true }]\n' > pipe.toml
  sync
  if [ "$2" = dirty ]; then head -c 1500M /dev/zero > "$dir/unrelated.bin"; fi
  # The stage's out, just written: its write-back is pending. Copied last, so that pipe
  # starts right after it in both cases (with the unrelated data written after the copy,
  # the copy's write-back had that much longer to drain in the dirty case than the quiet).
  [ "$1" = tree ] && cp -r ../data tree
  if [ "$3" = old ]; then
    secs env PIPE_BENCH_SYNCFS=1 "$pipe" repro
  else
    secs env -u PIPE_BENCH_SYNCFS "$pipe" repro
  fi
  cd "$dir"
}

# Median and min-max of the arguments.
stats() {
  printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.3f (%.3f-%.3f) s", m, v[1], v[NR]}'
}

# Write bandwidth of the disk under $dir, in MB/s: $1 = direct|buffered.
bandwidth() {
  settle
  local flag=oflag=direct
  [ "$1" = buffered ] && flag=conv=fdatasync
  dd if=/dev/zero of="$dir/dd.bin" bs=4M count=256 "$flag" 2>&1 | awk '/copied/{printf "%.0f", $1 / $(NF-3) / 1e6}'
}

echo "$(nproc) cores; $(df -T "$dir" | awk 'NR==2{print $2}') on $(df "$dir" | awk 'NR==2{print $1}'); $rounds rounds each; pipe: $pipe"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -w /proc/sys/vm/drop_caches ] && echo "before each run: sync + drop_caches" || echo "before each run: sync + 35 s"
echo "disk write bandwidth, 1 GiB: O_DIRECT $(bandwidth direct) MB/s; page cache + fdatasync $(bandwidth buffered) MB/s"

whats=(one tree)
[ -n "$only" ] && whats=("$only")
declare -A times
for r in $(seq "$rounds"); do
  for what in "${whats[@]}"; do
    for fs in quiet dirty; do
      order=(old new)
      [ $((r % 2)) = 0 ] && order=(new old)
      for how in "${order[@]}"; do
        times[$what-$fs-$how]+=" $(run "$what" "$fs" "$how")"
      done
    done
  done
done
settle

printf '%-34s %-26s %-26s\n' "pipe repro, outs just written" "old (syncfs)" "new (pipe's own writes)"
for what in "${whats[@]}"; do
  for fs in quiet dirty; do
    label="$([ "$what" = one ] && echo "1 object" || echo "20,004 objects, 1.7 GB"), $([ "$fs" = quiet ] && echo quiet || echo "+1.5 GB dirty")"
    # shellcheck disable=SC2086 # the list of times, split on purpose
    printf '%-34s %-26s %-26s\n' "$label" "$(stats ${times[$what-$fs-old]})" "$(stats ${times[$what-$fs-new]})"
  done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
