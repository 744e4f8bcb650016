#!/usr/bin/env bash
# The test suite, as CI runs it: set-up, a local S3 server for the remote tests, then
# every crate's tests, formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The book (docs/, mdBook from crates.io): built, and every relative link and anchor of it,
# README.md and bench/README.md checked; a broken link fails here.
MDBOOK=$(scripts/setup-mdbook.sh | tail -n 1)
"$MDBOOK" build docs
scripts/check-links.py docs/book README.md bench/README.md
# DVC from PyPI, for the `pipe import-dvc` tests that compare with what `dvc repro` makes.
PIPE_TEST_DVC=$(scripts/setup-dvc.sh | tail -n 1)
export PIPE_TEST_DVC

# Build outputs outside the checkout, shared by every clone on this machine (CI's fresh clones
# included): registry crates and libtorch's C++ glue are compiled once per machine, only this
# checkout's own crates rebuild. LIBTORCH is the resolved path so it is the same in every clone.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pipe/cargo-target}
LIBTORCH=$(readlink -f .libtorch)
export LIBTORCH
# A one-node Slurm cluster on this machine for the Slurm executor's tests (tests/it/slurm.rs).
scripts/setup-slurm.sh
# Headless Chromium for the HTML report test.
scripts/setup-chromium.sh

# S3-compatible servers on loopback for the remote tests (real servers, not mocks): one
# that takes any credentials, and one that checks them (for the bad-credentials test).
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >/tmp/pipe-moto-$port.log 2>&1 &
moto=$!
auth_port=$(free_port)
INITIAL_NO_AUTH_ACTION_COUNT=0 .venv/bin/moto_server -H 127.0.0.1 -p "$auth_port" >/tmp/pipe-moto-$auth_port.log 2>&1 &
moto_auth=$!
trap 'kill $moto $moto_auth 2>/dev/null || true' EXIT
for p in "$port" "$auth_port"; do
  for _ in $(seq 1 100); do
    if .venv/bin/python -c "import socket; socket.create_connection(('127.0.0.1', $p), 1)" 2>/dev/null; then break; fi
    sleep 0.1
  done
done
export PIPE_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
export PIPE_TEST_S3_AUTH_ENDPOINT="http://127.0.0.1:$auth_port"

# Snapshot tests (tests/it/snapshots/): a snapshot that differs fails, and nothing is written
# (no .snap.new beside the checkout's files), whatever INSTA_UPDATE a caller's environment has.
export INSTA_UPDATE=no

cargo fmt --all -- --check
# The layering of docs/src/architecture.md: no import cycle, no arrow back up.
scripts/check-layers.py
cargo clippy --workspace --all-targets -- -D warnings
cargo build --no-default-features
cargo test --workspace

# The GPU check kit (bench/gpu/), in its short form on the CPU: staged as for a GPU machine
# (debug build), run with tiny sizes, and every figure of gpu.json present.
kit=target/gpu-kit-ci
KIT=$PWD/$kit bench/gpu/prepare.sh --dev
OUT=$PWD/$kit/out "$kit/run.sh" --cpu --short
.venv/bin/python - "$kit/out/gpu.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
assert g["missing"] == [], g["missing"]
t = g["throughput"]
for k in ("pipe", "torch_eager", "torch_compile"):
    assert t[k]["n"] > 0 and t[k]["median"] > 0, (k, t[k])
assert t["ratio_to_eager_median"] > 0 and t["ratio_to_compile_median"] > 0
assert t["params"] == t["reference_params"], "pipe and the reference train different models"
for prec in ("bf16", "fp32"):
    p = g["pipeline"][prec]
    assert p["status"] == "ok" and p["precision"] == prec and p["val_f1"] is not None, p
assert g["device"]["name"] and g["device"]["matmul_tflops_fp32"] > 0, g["device"]
assert g["utilisation"]["pipe_train"]["n"] > 0, g["utilisation"]
assert g["sweep"]["status"] == "ok" and g["sweep"]["cells"] == 4 and g["sweep"]["wall_s"] > 0, g["sweep"]
print("gpu kit (cpu, short): every figure present")
PY
# The kit's study run (study.sh), its plumbing at tiny sizes: one sweep in its own copy of the
# workspace, merged back (results and lock entries), tabulated, reported and archived.
rm -rf "$kit/study-work" "$kit/study-out"
WORK=$PWD/$kit/study-work OUT=$PWD/$kit/study-out "$kit/study.sh" --cpu --short --budget 900 --slots "ablation=2"
.venv/bin/python - "$kit/study-out/study.tar.gz" <<'PY'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
names = set(t.getnames())
d = json.load(t.extractfile("tables/ablation.json"))
f1 = [r["metric"] for r in d["report"]].index("f1")
assert [r["cell"] for r in d["rows"]] == ["full", "no_temporal", "no_spatial", "weighted_mean"], d["rows"]
for r in d["rows"]:
    assert r["metrics"][f1]["n"] == 3, (r["cell"], r["metrics"][f1])
lock = t.extractfile("base/pipe.lock").read().decode()
assert lock.count('[stage."evaluate@') == 12 and lock.count('[stage."train@') == 12, "merged lock"
assert "Sweep <code>ablation" in t.extractfile("tables/report.html").read().decode()
assert not any(n.endswith(".safetensors") for n in names), "checkpoints are left out"
print("gpu kit study (cpu, short): 12 instances merged, tabulated and reported")
PY
