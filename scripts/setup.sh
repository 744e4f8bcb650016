#!/usr/bin/env bash
# Everything pipe needs on a fresh machine, installed into the checkout (idempotent):
#   .venv/        a Python virtualenv with torch 2.11.0 from PyPI (libtorch for tch) and
#                 moto[server] (an S3-compatible server for the remote tests)
#   .libtorch     a link to that torch's directory; .cargo/config.toml points LIBTORCH here
# Needs: cargo (rustup), python3 with venv, network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not installed (https://rustup.rs)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.11.0") else 1)' 2>/dev/null; then
  echo "setup: installing torch 2.11.0 into .venv (about 4.6 GB with its CUDA libraries)"
  .venv/bin/pip install -q --disable-pip-version-check torch==2.11.0
fi
if ! .venv/bin/python -c 'import moto' 2>/dev/null; then
  echo "setup: installing moto[server] into .venv"
  .venv/bin/pip install -q --disable-pip-version-check 'moto[server]'
fi
torch_dir=$(.venv/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)
ln -sfn "$torch_dir" .libtorch
echo "setup: libtorch at $torch_dir"
