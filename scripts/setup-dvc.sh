#!/usr/bin/env bash
# DVC from PyPI, for the tests that compare `pipe import-dvc` + `pipe repro` with what
# `dvc repro` makes, and for bench/import_dvc.sh. Installed once per machine (idempotent)
# into a virtualenv outside the checkout, keyed by DVC's version:
#   ${PIPE_DVC_VENV:-~/.cache/pipe/venv-dvc-<version>}
# Prints the path of the `dvc` executable on its last line (scripts/test.sh exports it as
# PIPE_TEST_DVC). Needs: python3 with venv, network access to PyPI on the first run.
set -euo pipefail

dvc_version=3.67.1
venv=${PIPE_DVC_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pipe/venv-dvc-$dvc_version}
if ! "$venv/bin/dvc" version >/dev/null 2>&1; then
  echo "setup-dvc: installing dvc $dvc_version into $venv" >&2
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "dvc==$dvc_version" >&2
fi
echo "$venv/bin/dvc"
