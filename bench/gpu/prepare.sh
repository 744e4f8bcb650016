#!/usr/bin/env bash
# The GPU check kit, part 1 (on the CPU machine, where cargo is): builds `pipe` and
# `pipe-torch`, strips them, and stages everything the GPU run needs into one folder
# (git-ignored, under 64 MiB), then prints the folder and the command to run there:
#
#   bin/pipe, bin/pipe-torch      stripped; they find libtorch through LD_LIBRARY_PATH
#   smoke/                        pipelines/smoke with params = params-gpu.toml (full size,
#                                 epochs cut) and the kit's 4-cell sweep `gpu4`
#   torch_reference.py            the PyTorch model of `train` (eager / torch.compile)
#   run.sh, sample.py, summarize.py
#
#   bench/gpu/prepare.sh                 # release build -> target/gpu-kit
#   bench/gpu/prepare.sh --dev           # debug build (CI: the kit's own test)
#   KIT=/some/dir bench/gpu/prepare.sh   # another folder
#
# The binaries link libtorch_cpu and libtorch_cuda of the torch wheel in .venv (torch 2.11,
# CUDA 13); their rpath names this machine's copy, which the GPU machine lacks, so run.sh
# puts the GPU machine's <torch>/lib on LD_LIBRARY_PATH (stages/build.rs).
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
profile=release
for a in "$@"; do
    case $a in
        --dev) profile=dev ;;
        -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $a (try --help)" >&2; exit 2 ;;
    esac
done
KIT=${KIT:-$root/target/gpu-kit}
LIMIT_MB=64

if [ -z "${LIBTORCH:-}" ] && [ -e "$root/.libtorch" ]; then
    export LIBTORCH=$root/.libtorch
fi
echo "== building pipe and pipe-torch ($profile)"
cargo build --quiet --profile "$profile" -p pipe -p pipe-stages --bin pipe --bin pipe-torch
# Where cargo put them: CARGO_TARGET_DIR (scripts/test.sh sets one outside the checkout) or
# whatever the configuration says.
target=$("$root/bench/target-dir.sh")
dir=$target/$([ "$profile" = dev ] && echo debug || echo release)

# A fresh folder each time, so nothing stale travels. Only a folder this script made is
# removed (it holds the marker file).
if [ -e "$KIT" ]; then
    if [ ! -e "$KIT/.pipe-gpu-kit" ]; then
        echo "error: $KIT exists and is not a kit folder; choose another KIT" >&2
        exit 2
    fi
    rm -rf "$KIT"
fi
mkdir -p "$KIT/bin" "$KIT/smoke"
touch "$KIT/.pipe-gpu-kit"
for b in pipe pipe-torch; do
    strip -o "$KIT/bin/$b" "$dir/$b"
done
if ! readelf -d "$KIT/bin/pipe-torch" | grep -q 'libtorch_cuda.so'; then
    echo "error: pipe-torch does not link libtorch_cuda.so: LIBTORCH=${LIBTORCH:-} is not a CUDA build of libtorch, so the binary would never see a GPU" >&2
    exit 1
fi

# The study at full size (params-gpu.toml), epochs cut so that the whole run fits in the
# GPU machine's minutes; run.sh sets the device and precision per step.
cp pipelines/smoke/pipe.toml pipelines/smoke/params.toml pipelines/smoke/params-gpu.toml \
    pipelines/smoke/README.md "$KIT/smoke/"
sed -i 's/^params = \["params.toml"\]/params = ["params-gpu.toml"]/' "$KIT/smoke/pipe.toml"
grep -q '^params = \["params-gpu.toml"\]' "$KIT/smoke/pipe.toml" || {
    echo "error: could not point $KIT/smoke/pipe.toml at params-gpu.toml" >&2
    exit 1
}
sed -i -e 's/^epochs = .*/epochs = 3/' -e 's/^patience = .*/patience = 100/' "$KIT/smoke/params-gpu.toml"
cat >> "$KIT/smoke/pipe.toml" <<'EOF'

# Added by bench/gpu/prepare.sh: four cells of train + evaluate, each asking for the one
# GPU, so they queue for it (run.sh reports the total wall time).
[sweep.gpu4]
desc = "the GPU check kit's sweep: 4 cells on one GPU"
stages = ["train", "evaluate"]
matrix = { "model.window" = [4, 8], "model.aggregator" = ["transformer", "gru"] }
set = { "train.epochs" = 2, "train.patience" = 100 }
report = ["f1", "pr_auc", "latency_ms:min"]
EOF
cp bench/stages/torch_reference.py bench/gpu/run.sh bench/gpu/study.sh bench/gpu/params.sh bench/gpu/short.txt \
    bench/gpu/sample.py bench/gpu/summarize.py "$KIT/"
git rev-parse HEAD > "$KIT/COMMIT"
git status --porcelain | grep -q . && echo "(with uncommitted changes)" >> "$KIT/COMMIT"

size_kb=$(du -sk "$KIT" | cut -f1)
if [ "$size_kb" -ge $((LIMIT_MB * 1024)) ]; then
    echo "error: the kit is $((size_kb / 1024)) MiB, over the ${LIMIT_MB} MiB that may travel" >&2
    exit 1
fi
rel=${KIT#"$root"/}
echo "== kit: $KIT ($((size_kb / 1024)) MiB, $profile build of $(head -c 12 "$KIT/COMMIT"))"
echo "run it on the GPU machine from the repository root (it writes \$OUT/gpu.json and logs):"
echo "  TORCH=/opt/torch/.venv/lib/python3.12/site-packages/torch $rel/run.sh"
echo "then the study's five sweeps at the CPU defaults, several cells sharing the GPU (\$OUT/study.tar.gz):"
echo "  TORCH=/opt/torch/.venv/lib/python3.12/site-packages/torch $rel/study.sh --budget 540"
echo "or on this machine's CPU:"
echo "  $rel/run.sh --cpu [--short]"
