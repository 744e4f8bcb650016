#!/usr/bin/env bash
# mdBook from crates.io, for building the book under docs/ (scripts/test.sh builds it and
# checks its links). Installed once per machine (idempotent), outside the checkout, keyed by
# its version:
#   ${PIPE_MDBOOK_ROOT:-~/.cache/pipe/mdbook-<version>}/bin/mdbook
# Only the `search` feature is built: the book is built, never served or watched, and
# leaving out `serve` and `watch` spares compiling a web server. The install builds in a
# temporary directory of its own (CARGO_TARGET_DIR is not used), so nothing of mdBook lands
# in the checkout's or the shared build outputs.
# Prints the path of the `mdbook` executable on its last line. Needs: cargo, and network
# access to crates.io on the first run.
set -euo pipefail

mdbook_version=0.5.4
root=${PIPE_MDBOOK_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/pipe/mdbook-$mdbook_version}
bin=$root/bin/mdbook
if ! "$bin" --version 2>/dev/null | grep -qx "mdbook v$mdbook_version"; then
  echo "setup-mdbook: installing mdbook $mdbook_version into $root" >&2
  mkdir -p "$root"
  env -u CARGO_TARGET_DIR cargo install mdbook --version "$mdbook_version" --locked \
    --no-default-features --features search --root "$root" >&2
fi
echo "$bin"
