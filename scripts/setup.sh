#!/usr/bin/env bash
# Everything pipe needs on a fresh machine, installed once per machine (idempotent):
#   a Python virtualenv with torch 2.11.0 from PyPI (libtorch for tch) and moto[server] (an
#   S3-compatible server for the remote tests). It lives outside the checkout, keyed by its
#   versions, so every clone on this machine (CI's fresh clones included) reuses it:
#     ${PIPE_VENV:-~/.cache/pipe/venv-torch2.11.0-py3.X}
#   .venv         a link to that virtualenv, inside the checkout
#   .libtorch     a link to its torch/ directory; .cargo/config.toml points LIBTORCH here
# Needs: cargo (rustup), python3 with venv, network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not installed (https://rustup.rs)" >&2
  exit 1
fi

# strace (Debian's package) for the tests that inject I/O failures (tests/it/faults.rs, confine.rs).
if ! command -v strace >/dev/null 2>&1; then
  sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends strace
fi

torch_version=2.11.0
py=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
venv=${PIPE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pipe/venv-torch$torch_version-py$py}
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$torch_version') else 1)" 2>/dev/null; then
  echo "setup: installing torch $torch_version into $venv (about 4.6 GB with its CUDA libraries)"
  "$venv/bin/pip" install -q --disable-pip-version-check "torch==$torch_version"
fi
if ! "$venv/bin/python" -c 'import moto' 2>/dev/null; then
  echo "setup: installing moto[server] into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]'
fi
# An older checkout kept a real virtualenv here; the link replaces it.
if [ -d .venv ] && [ ! -L .venv ]; then
  rm -rf .venv
fi
ln -sfn "$venv" .venv
torch_dir=$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)
ln -sfn "$torch_dir" .libtorch
echo "setup: libtorch at $torch_dir"
