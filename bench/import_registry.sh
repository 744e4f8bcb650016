#!/usr/bin/env bash
# A dataset registry at scale: N small files (default 20,000 of 1-4 KiB, in 100
# sub-directories of N/100 files; sizes fixed by a seed) in a DVC registry (a local git
# repository, `dvc add`ed, tag v1), its data pushed by DVC to (a) a directory remote and
# (b) an S3 bucket on the moto server (PIPE_TEST_S3_ENDPOINT, default http://127.0.0.1:45001;
# `endpointurl` in the registry's committed .dvc/config, credentials from the environment).
# For each remote, in the same run on the same machine:
#   - `pipe import REG datasets/full --rev v1` into a fresh git repository, then
#   - `dvc import REG datasets/full --rev v1` into a fresh git + DVC repository
#     (the registry's own .dvc/cache is deleted after the push, so both read the remote);
# then, from a pipe workspace tracking the same tree and pushed by pipe to each remote:
#   - `pipe pull datasets/full/d007` (1% of the files: one sub-directory) in a fresh clone,
#   - `pipe pull` of all of it in another fresh clone.
# Each line: wall seconds and the files that arrived in the workspace. The load average is
# printed first and last: the machine is shared.
#   bench/import_registry.sh [N]   PIPE_BIN (default target/release/pipe), DVC (default the
#   venv of scripts/setup-dvc.sh), SKIP_S3=1, SKIP_DVC=1, KEEP=1 (keep the work directory)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
pipe=${PIPE_BIN:-$PWD/target/release/pipe}
dvc=${DVC:-$(scripts/setup-dvc.sh | tail -n 1)}
endpoint=${PIPE_TEST_S3_ENDPOINT:-http://127.0.0.1:45001}
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
work=$(mktemp -d /tmp/pipe-bench-registry.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
q() { "$@" >/dev/null 2>&1 || { echo "failed: $* (in $PWD)" >&2; "$@" 2>&1 | tail -n 5 >&2; exit 1; }; }
now() { date +%s.%N; }
files() { find "$1" -type f 2>/dev/null | wc -l; }
line() { printf '%-8s %-34s %7.2f s  %6s file(s)\n' "$1" "$2" "$(echo "$4 - $3" | bc)" "$5"; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pipe: $pipe"
echo "dvc:  $dvc ($("$dvc" --version))"

# The tree: N files of 1-4 KiB in 100 sub-directories, the same bytes for every run.
python3 - "$work/tree/datasets/full" "$n" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(21)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 4096)))
PY
bytes=$(du -sb "$work/tree/datasets/full" | cut -f1)
echo "dataset: $n files, $((bytes / 1024)) KiB in all (1-4 KiB each), 100 sub-directories"
part=datasets/full/d007

bucket=pipe-bench-registry-$$
curl -sf -X PUT "$endpoint/$bucket" >/dev/null

# One DVC registry per remote (a copy of the same tree).
dvc_registry() { # NAME URL [endpoint]
    local reg=$work/reg-$1
    mkdir -p "$reg" && cp -r "$work/tree/datasets" "$reg/"
    cd "$reg"
    q git init -q && q "$dvc" init -q
    q "$dvc" remote add -d store "$2"
    [ -z "${3:-}" ] || q "$dvc" remote modify store endpointurl "$3"
    q "$dvc" add datasets/full
    q "$dvc" push -j 16
    rm -rf .dvc/cache
    q git add -A && q git commit -q -m v1 && q git tag v1
    cd - >/dev/null
}

import_round() { # LABEL REGISTRY
    local label=$1 reg=$2 s t0 t1
    s=$work/pipe-import-$label && mkdir -p "$s" && cd "$s" && q git init -q
    t0=$(now); q "$pipe" import "$reg" datasets/full -o data/raw --rev v1; t1=$(now)
    line "$label" "pipe import (whole, at v1)" "$t0" "$t1" "$(files data/raw)"
    cd - >/dev/null
    [ -z "${SKIP_DVC:-}" ] || return 0
    s=$work/dvc-import-$label && mkdir -p "$s/data" && cd "$s" && q git init -q && q "$dvc" init -q
    t0=$(now); q "$dvc" import "$reg" datasets/full -o data/raw --rev v1 -j 16; t1=$(now)
    line "$label" "dvc import (whole, at v1)" "$t0" "$t1" "$(files data/raw)"
    cd - >/dev/null
}

# A pipe workspace tracking the same tree, pushed to REMOTE; clones pull a part, and all.
pull_round() { # LABEL URL [remote add options]
    local label=$1 url=$2 ws=$work/ws-$1 c t0 t1; shift 2
    mkdir -p "$ws" && cp -r "$work/tree/datasets" "$ws/"
    cd "$ws" && q git init -q && q "$pipe" add datasets/full
    q "$pipe" remote add team "$url" --default "$@"
    q "$pipe" push
    cd - >/dev/null
    for what in part all; do
        c=$work/clone-$label-$what && mkdir -p "$c/.pipe"
        cp "$ws/pipe.toml" "$ws/pipe.lock" "$c/" 2>/dev/null || cp "$ws/pipe.lock" "$c/"
        cp "$ws/.pipe/config.toml" "$c/.pipe/"
        cd "$c"
        if [ "$what" = part ]; then
            t0=$(now); q "$pipe" pull "$part"; t1=$(now)
            line "$label" "pipe pull $part (1%)" "$t0" "$t1" "$(files datasets/full)"
        else
            t0=$(now); q "$pipe" pull; t1=$(now)
            line "$label" "pipe pull (all)" "$t0" "$t1" "$(files datasets/full)"
        fi
        cd - >/dev/null
    done
}

mkdir -p "$work/dvcstore"
dvc_registry dir "$work/dvcstore"
import_round dir "$work/reg-dir"
if [ -z "${SKIP_S3:-}" ]; then
    dvc_registry s3 "s3://$bucket/dvc" "$endpoint"
    import_round s3 "$work/reg-s3"
fi
mkdir -p "$work/pipestore"
pull_round dir "$work/pipestore"
[ -n "${SKIP_S3:-}" ] || pull_round s3 "s3://$bucket/pipe" -o "endpoint=$endpoint"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
