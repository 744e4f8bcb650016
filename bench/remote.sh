#!/usr/bin/env bash
# Remotes on the 20,004-file, 1.7 GB workload (../shared/bench/make_workload.py DIR 20000 4
# 256): `pipe push` and `pipe pull` (into a fresh workspace) to a directory remote and to a
# local S3 server (moto on 127.0.0.1), next to `cp -r` of the tree and, when dvc is
# installed, `dvc push` / `dvc pull` of the same tree to the same kinds of remote. Prints
# figures; asserts nothing.
#   bench/remote.sh [WORKDIR]   (default /tmp/pipe-bench-remote; WORKDIR/data is reused)
# Environment: PIPE (the binary; default target/release/pipe, built if missing), DVC,
# MOTO (moto_server), JOBS (pipe's --jobs), SKIP_S3=1, SKIP_DVC=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pipe=${PIPE:-$root/target/release/pipe}
[ -x "$pipe" ] || (cd "$root" && cargo build --release -q)
make_workload=${MAKE_WORKLOAD:-$root/../shared/bench/make_workload.py}
dir=${1:-/tmp/pipe-bench-remote}
venv_bin() { for d in "$root/.venv/bin" /work/tools-venv/bin; do [ -x "$d/$1" ] && { echo "$d/$1"; return; }; done; command -v "$1" || true; }
dvc=${DVC:-$(venv_bin dvc)}
moto=${MOTO:-$(venv_bin moto_server)}
jobs=${JOBS:+-j $JOBS}

mkdir -p "$dir" && cd "$dir"
if [ ! -d data ]; then
  echo "making the workload (20,004 files, 1.7 GB) in $dir/data"
  python3 "$make_workload" data 20000 4 256
fi
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$dir/last.err" || { cat "$dir/last.err" >&2; return 1; }; e=$(date +%s.%N); echo "scale=2; ($e - $s) / 1" | bc; }
fresh() { rm -rf "$1"; mkdir -p "$1/.pipe"; cp a/pipe.toml a/pipe.lock "$1/"; cp a/.pipe/config.toml "$1/.pipe/"; }
echo "files: $(find data -type f | wc -l), bytes: $(du -sb data | cut -f1); page cache warm; $(nproc) cores"

# The tree as a stage's out, so it is in pipe's cache (hard links: no copy).
rm -rf a && mkdir a
cat > a/pipe.toml <<'P'
[stage.tree]
cmd = "cp -al ../data tree"
outs = ["tree"]
P
(cd a && "$pipe" repro >/dev/null 2>&1)
cat data/large/* >/dev/null

# cp -r and the directory remote, interleaved REPS times (the machine is shared: medians).
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cps=""; cpss=""; pushes=""; nops=""; pulls=""
(cd a && "$pipe" remote add --force dir "$dir/remote-dir" >/dev/null 2>&1)
for _ in $(seq 1 "${REPS:-3}"); do
  rm -rf cp-copy; cps="$cps $(secs cp -r data cp-copy)"; rm -rf cp-copy
  cpss="$cpss $(secs sh -c 'cp -r data cp-copy && sync')"; rm -rf cp-copy
  rm -rf remote-dir && mkdir remote-dir
  pushes="$pushes $(cd a && secs "$pipe" push -r dir $jobs)"
  nops="$nops $(cd a && secs "$pipe" push -r dir $jobs)"
  fresh b; pulls="$pulls $(cd b && secs "$pipe" pull -r dir $jobs)"
  cmp -s data/large/L0.bin b/tree/large/L0.bin || echo "  the pulled tree differs!"
  cmp -s data/small/07/f000007.bin b/tree/small/07/f000007.bin || echo "  the pulled tree differs!"
  rm -rf b
done
rm -rf remote-dir
cp_m=$(echo "$cps" | median)
ratio() { echo "scale=2; $1 / $cp_m" | bc; }
echo "medians of ${REPS:-3} interleaved runs (all runs in brackets):"
echo "cp -r data (same disk):             $cp_m s  [$cps ]"
echo "cp -r data && sync:                 $(echo "$cpss" | median) s  [$cpss ]"
m=$(echo "$pushes" | median); echo "pipe push, directory remote:        $m s  [$pushes ] = $(ratio "$m") x cp -r (push ends with a syncfs)"
echo "pipe push again (nothing to send):  $(echo "$nops" | median) s  [$nops ]"
m=$(echo "$pulls" | median); echo "pipe pull, directory remote, fresh: $m s  [$pulls ] = $(ratio "$m") x cp -r (every file hashed; syncfs before placing)"

# S3 (moto on loopback).
if [ -z "${SKIP_S3:-}" ] && [ -n "$moto" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$moto" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
  moto_pid=$!
  trap 'kill $moto_pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  curl -s -X PUT -o /dev/null "http://127.0.0.1:$port/bench"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
  (cd a && "$pipe" remote add --force s3 s3://bench/pipe -o "endpoint=http://127.0.0.1:$port" >/dev/null 2>&1)
  cpu0=$(ps -o times= -p "$moto_pid")
  t=$(cd a && secs "$pipe" push -r s3 $jobs); echo "pipe push, S3 (moto):               $t s"
  cpu1=$(ps -o times= -p "$moto_pid"); echo "  moto_server used $((cpu1 - cpu0)) s of CPU meanwhile (one Python process)"
  t=$(cd a && secs "$pipe" push -r s3 $jobs); echo "pipe push again (nothing to send):  $t s"
  fresh c; cpu0=$(ps -o times= -p "$moto_pid")
  t=$(cd c && secs "$pipe" pull -r s3 $jobs); echo "pipe pull, S3 (moto), fresh:        $t s"
  cpu1=$(ps -o times= -p "$moto_pid"); echo "  moto_server used $((cpu1 - cpu0)) s of CPU meanwhile"
  cmp -s data/large/L0.bin c/tree/large/L0.bin && echo "  (pulled tree matches)"
  rm -rf c
fi

# DVC, same tree, same kinds of remote.
if [ -z "${SKIP_DVC:-}" ] && [ -n "$dvc" ]; then
  rm -rf dvc-a dvc-b dvc-remote && mkdir dvc-a dvc-remote
  cp -al data dvc-a/data
  (cd dvc-a && "$dvc" init -q --no-scm && "$dvc" config cache.type hardlink,copy \
    && "$dvc" add -q data && "$dvc" remote add -q -d dir "$dir/dvc-remote") >/dev/null 2>&1
  t=$(cd dvc-a && secs "$dvc" push -r dir); echo "dvc push, directory remote:         $t s"
  mkdir dvc-b && cp -r dvc-a/.dvc dvc-b/ && rm -rf dvc-b/.dvc/cache dvc-b/.dvc/tmp && cp dvc-a/data.dvc dvc-b/
  t=$(cd dvc-b && secs "$dvc" pull -r dir); echo "dvc pull, directory remote, fresh:  $t s"
  if [ -z "${SKIP_S3:-}" ] && [ -n "$moto" ] && "$(dirname "$dvc")/python" -c 'import dvc_s3' 2>/dev/null; then
    curl -s -X PUT -o /dev/null "http://127.0.0.1:$port/bench-dvc"
    (cd dvc-a && "$dvc" remote add -q s3 s3://bench-dvc/dvc && "$dvc" remote modify -q s3 endpointurl "http://127.0.0.1:$port") >/dev/null 2>&1
    t=$(cd dvc-a && secs "$dvc" push -r s3); echo "dvc push, S3 (moto):                $t s"
    rm -rf dvc-b && mkdir dvc-b && cp -r dvc-a/.dvc dvc-b/ && rm -rf dvc-b/.dvc/cache dvc-b/.dvc/tmp && cp dvc-a/data.dvc dvc-b/
    t=$(cd dvc-b && secs "$dvc" pull -r s3); echo "dvc pull, S3 (moto), fresh:         $t s"
  elif [ -z "${SKIP_S3:-}" ]; then
    echo "dvc push/pull, S3: skipped (dvc's S3 plugin, dvc-s3, is not installed)"
  fi
  rm -rf dvc-a dvc-b dvc-remote
fi
