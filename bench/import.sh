#!/usr/bin/env bash
# `pipe import` of a dataset of N files of M MiB (default 200 x 1) from a pipe registry
# (a local git repository, tag v1) whose data is pushed to (a) a directory remote and
# (b) an S3 bucket on a moto server (PIPE_TEST_S3_ENDPOINT, default
# http://127.0.0.1:45001; credentials from the environment). For each: the wall time of
# the import, the objects it fetched, then the same import again (the same commit: it
# should fetch nothing) and its time.
#   bench/import.sh [N] [M]   (a release build, or PIPE_BIN=target/debug/pipe)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
mb=${2:-1}
pipe=${PIPE_BIN:-$PWD/target/release/pipe}
endpoint=${PIPE_TEST_S3_ENDPOINT:-http://127.0.0.1:45001}
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
work=$(mktemp -d /tmp/pipe-bench-import.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The registry: datasets/full, N random files, tracked by pipe.
reg=$work/registry
mkdir -p "$reg/datasets/full"
for i in $(seq 1 "$n"); do
    head -c $((mb * 1048576)) /dev/urandom >"$reg/datasets/full/f$(printf %05d "$i").bin"
done
(cd "$reg" && git init -q && "$pipe" add datasets/full >/dev/null 2>&1)

fetched() { sed -n 's/^ *Fetched \([0-9]*\) object.*/\1/p' | tail -n 1; }
now() { date +%s.%N; }

# One round: push the registry to REMOTE_URL (extra `pipe remote add` options after it),
# commit and tag, then import into a fresh study twice.
round() {
    local label=$1 url=$2; shift 2
    (cd "$reg" && rm -f .pipe/config.toml \
        && "$pipe" remote add team "$url" --default "$@" >/dev/null 2>&1 \
        && "$pipe" push >/dev/null 2>&1 \
        && git add -A && git commit -q -m "$label" && git tag -f v1 >/dev/null)
    local study=$work/study-$label t0 t1 first second out
    mkdir -p "$study" && (cd "$study" && git init -q)
    t0=$(now)
    out=$(cd "$study" && "$pipe" import "$reg" datasets/full -o data/raw --rev v1 2>&1)
    t1=$(now)
    first=$(echo "$out" | fetched)
    printf '%-10s import  %6.2f s  %s object(s)\n' "$label" "$(echo "$t1 - $t0" | bc)" "$first"
    t0=$(now)
    out=$(cd "$study" && "$pipe" import "$reg" datasets/full -o data/raw --rev v1 2>&1)
    t1=$(now)
    second=$(echo "$out" | fetched)
    printf '%-10s again   %6.2f s  %s object(s)\n' "$label" "$(echo "$t1 - $t0" | bc)" "$second"
}

echo "dataset: $n files x $mb MiB; pipe: $pipe"
mkdir -p "$work/store"
round dir "$work/store"
bucket=pipe-bench-import-$$
curl -sf -X PUT "$endpoint/$bucket" >/dev/null
round s3 "s3://$bucket/registry" -o "endpoint=$endpoint"
