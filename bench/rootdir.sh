#!/usr/bin/env bash
# What confinement costs per path (see cache/src/rootdir): a stat beneath the workspace
# root through RootDir (openat2 RESOLVE_BENEATH; and the walk used where openat2 is missing)
# against a plain lstat. Usage: bench/rootdir.sh [CALLS]   (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q --release -p pipe-cache --example rootdir_cost -- "${1:-200000}"
