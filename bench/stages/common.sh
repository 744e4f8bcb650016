# Shared by the stage benchmarks: builds the stage runner and prepares the smoke data once.
# Sourced; expects `root` (the repository root). Figures are printed, not asserted.

PARAMS=${PARAMS:-$root/pipelines/smoke/params.toml}
WORK=${WORK:-$root/target/bench-stages}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$WORK"

cargo build --quiet --release -p pipe-stages --example builtin --example decode_rate
target=$("$root/bench/target-dir.sh")
B=$target/release/examples/builtin
DECODE=$target/release/examples/decode_rate

# The data stages on $PARAMS, unless already there (delete $WORK to redo).
prepare_data() {
    if [ -f "$WORK/data/04_model_input/index.json" ]; then
        return
    fi
    local d=$WORK/data
    PIPE_CPUS=$THREADS "$B" prepare --params "$PARAMS" --outs "$d/01_raw"
    PIPE_CPUS=$THREADS "$B" truncate --params "$PARAMS" --deps "$d/01_raw" --outs "$d/02_truncated"
    PIPE_CPUS=$THREADS "$B" build_tubes --params "$PARAMS" --deps "$d/02_truncated" --outs "$d/03_tubes"
    PIPE_CPUS=$THREADS "$B" build_model_input --params "$PARAMS" --deps "$d/02_truncated" --deps "$d/03_tubes" --outs "$d/04_model_input"
}
