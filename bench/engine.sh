#!/usr/bin/env bash
# The engine on a big dependency: one stage reading a 20,004-file, 1.7 GB tree
# (../shared/bench/make_workload.py DIR 20000 4 256). Prints pipe's figures next to
# b3sum's and, when dvc is installed, dvc's. Asserts nothing.
#   bench/engine.sh [WORKDIR]      (default: /tmp/pipe-bench; the tree is reused)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pipe=${PIPE:-$root/target/release/pipe}
[ -x "$pipe" ] || (cd "$root" && cargo build --release -q)
make_workload=${MAKE_WORKLOAD:-$root/../shared/bench/make_workload.py}
dir=${1:-/tmp/pipe-bench}
mkdir -p "$dir/pipe" && cd "$dir"
if [ ! -d data ]; then
  echo "making the workload (20,004 files, 1.7 GB) in $dir/data"
  python3 "$make_workload" data 20000 4 256
fi
# A real copy (not hard links): the tree is new data whose write-back is still pending when
# pipe runs, as when a dataset was just downloaded or unpacked.
rm -rf pipe/data && cp -r data pipe/data
cd pipe
cat > pipe.toml <<'P'
[stage.count]
cmd = "find data -type f | wc -l > count.txt"
deps = ["data"]
outs = ["count.txt"]
P
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "scale=3; ($e - $s) / 1" | bc; }
echo "files: $(find data -type f | wc -l), bytes: $(du -sb data | cut -f1)"
# No `sync` here: pipe flushes only what it stores (its outs), so the copy's pending
# write-back must not slow it down.
# Every figure is taken with the page cache warm: read the whole tree once first.
find data -type f -print0 | xargs -0 cat >/dev/null
echo "b3sum over every file:                 $(secs sh -c 'find data -type f -print0 | xargs -0 b3sum') s"
echo "stat of every file (find -printf):     $(secs sh -c "find data -type f -printf '%i %s %T@\n'") s"
rm -rf .pipe pipe.lock count.txt
echo "pipe repro, cold (nothing hashed yet): $(secs "$pipe" repro) s"
if command -v hyperfine >/dev/null; then
  hyperfine -N -w 3 -r 20 "$pipe status" 2>/dev/null | grep -E "Time" | sed 's/^/pipe status, warm:  /'
  f=data/small/07/f000007.bin
  cp "$f" /tmp/pipe-bench-one.bin
  hyperfine -N -w 1 -r 10 --prepare "sh -c 'echo x >> $f'" "$pipe status" 2>/dev/null | grep -E "Time" | sed 's/^/pipe status, one file changed:  /'
  cp /tmp/pipe-bench-one.bin "$f"
else
  "$pipe" status >/dev/null
  echo "pipe status, warm:                     $(secs "$pipe" status) s"
  echo x >> data/small/07/f000007.bin
  echo "pipe status, one file changed:         $(secs "$pipe" status) s"
fi
if command -v dvc >/dev/null; then
  cd "$dir" && rm -rf dvc && mkdir dvc && cd dvc
  cp -al ../data data 2>/dev/null || cp -r ../data data
  git init -q && dvc init -q
  cat > dvc.yaml <<'Y'
stages:
  count:
    cmd: find data -type f | wc -l > count.txt
    deps: [data]
    outs: [count.txt]
Y
  echo "dvc repro, cold:                       $(secs dvc repro) s"
  echo "dvc status, warm:                      $(secs dvc status) s"
  echo x >> data/small/07/f000007.bin
  echo "dvc status, one file changed:          $(secs dvc status) s"
fi
