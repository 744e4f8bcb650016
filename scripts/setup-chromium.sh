#!/usr/bin/env bash
# Headless Chromium for the report's browser test (tests/it/report.rs): Debian's package,
# installed when /usr/bin/chromium is missing. The test fails, not skips, without it.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
