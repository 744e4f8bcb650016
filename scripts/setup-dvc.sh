#!/usr/bin/env bash
# DVC from PyPI with its S3 extra (`dvc[s3]`), for the tests that compare `pipe import-dvc`
# + `pipe repro` with what `dvc repro` makes, the tests that import from a DVC registry on
# S3, and bench/import_dvc.sh. Installed once per machine (idempotent) into a virtualenv
# outside the checkout, keyed by DVC's version and its extras (a new extra is a new key, so a
# machine with an older venv builds a new one rather than reusing one that lacks it):
#   ${PIPE_DVC_VENV:-~/.cache/pipe/venv-dvc-<version>-<extras>}
# Prints the path of the `dvc` executable on its last line (scripts/test.sh exports it as
# PIPE_TEST_DVC). Needs: python3 with venv, network access to PyPI on the first run.
set -euo pipefail

dvc_version=3.67.1
dvc_extras=s3
venv=${PIPE_DVC_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pipe/venv-dvc-$dvc_version-$dvc_extras}
if ! "$venv/bin/dvc" version >/dev/null 2>&1 || ! "$venv/bin/python" -c 'import dvc_s3' 2>/dev/null; then
  echo "setup-dvc: installing dvc[$dvc_extras] $dvc_version into $venv" >&2
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "dvc[$dvc_extras]==$dvc_version" >&2
fi
echo "$venv/bin/dvc"
