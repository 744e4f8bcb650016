#!/usr/bin/env bash
# build_model_input throughput (decode + stabilised crop + resize + write, rayon across
# sequences on $THREADS threads) against the one-core JPEG decode rate of the same frames.
#
#   bench/stages/model_input_throughput.sh       # THREADS=$(nproc) PARAMS=pipelines/smoke/params.toml
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
source "$root/bench/stages/common.sh"

prepare_data
d=$WORK/data
echo "== build_model_input, $THREADS threads"
for run in 1 2 3; do
    PIPE_CPUS=$THREADS "$B" build_model_input --params "$PARAMS" --deps "$d/02_truncated" --deps "$d/03_tubes" \
        --outs "$WORK/model_input_bench"
done
echo "== the same frames, decoded on one core"
"$DECODE" "$d/02_truncated"
