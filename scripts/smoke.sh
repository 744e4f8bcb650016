#!/usr/bin/env bash
# The main job: set-up, a release build, then the smoke-classifier study end to end
# (prepare -> truncate -> build_tubes -> build_model_input -> train -> evaluate -> package
# -> benchmark) on this machine. A second run is a no-op; see README for what to change.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# pipe (the engine) and pipe-torch (the built-in stages, package pipe-stages).
cargo build --release -p pipe -p pipe-stages --bin pipe --bin pipe-torch
./target/release/pipe -C pipelines/smoke repro "$@"
./target/release/pipe -C pipelines/smoke status
