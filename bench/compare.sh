#!/usr/bin/env bash
# `pipe metrics diff` / `pipe params diff` against `dvc metrics diff` / `dvc params diff`
# on the same files, and `pipe report` time, on a 1,000-cell sweep (10 x 10 x 10, one
# metrics file per cell) and on a small 8-cell one (2 x 2 x 2). Each side: commit a run, change a
# param, rerun, then time the diffs (HEAD against the workspace). Prints figures; asserts
# nothing.
#   DVC=/path/to/venv/bin/dvc bench/compare.sh [WORKDIR]
# DVC defaults to the venv of scripts/setup-dvc.sh (~/.cache/pipe/venv-dvc-*/bin/dvc).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pipe=${PIPE:-$root/target/release/pipe}
[ -x "$pipe" ] || (cd "$root" && cargo build --release --no-default-features -q)
dvc=${DVC:-$(ls -d "$HOME"/.cache/pipe/venv-dvc-*/bin/dvc 2>/dev/null | head -1)}
work=${1:-$(mktemp -d)}
runs=${RUNS:-5}

t() { # median wall seconds of $runs runs of "$@"
  local i s e all=()
  for i in $(seq "$runs"); do
    s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
    all+=("$(echo "$e - $s" | bc)")
  done
  printf '%s\n' "${all[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

git_commit() { git -c user.name=b -c user.email=b@b add -A >/dev/null && git -c user.name=b -c user.email=b@b commit -qm "$1"; }

bench() { # name values-per-key
  local name=$1 n=$2 vals d
  vals=$(seq -s, 0 $((n - 1)))
  d=$work/$name; rm -rf "$d"; mkdir -p "$d/pipe" "$d/dvc"
  cd "$d/pipe"
  printf '[m]\na = 0\nb = 0\nc = 0\n\n[train]\nlr = 0.1\n' > params.toml
  cat > pipe.toml <<P
[stage.eval]
cmd = "echo '{\"f1\": '\$(echo \"\${train.lr} * 3 + \${m.a} / 100 + \${m.b} / 1000\" | bc -l | sed 's/^[.]/0./')', \"loss\": \${train.lr}, \"n\": 40}' > \${metrics[0]}"
params = ["train.lr", "m.a", "m.b", "m.c"]
metrics = [{ path = "m.json", cache = false }]

[sweep.big]
stages = ["eval"]
matrix = { "m.a" = [$vals], "m.b" = [$vals], "m.c" = [$vals] }
P
  git init -q; "$pipe" init >/dev/null 2>&1
  "$pipe" repro -q >/dev/null; "$pipe" sweep big -q >/dev/null
  git_commit run1
  local files; files=$(find . -name m.json -not -path './.pipe/*' | sed 's|^\./||' | sort)
  local have_dvc=""; [ -n "$dvc" ] && [ -x "$dvc" ] && have_dvc=1
  if [ -n "$have_dvc" ]; then
    # DVC on the same files at the same two commits: one stage listing every metrics
    # file (cache: false, as here) and reading the same params.
    cd "$d/dvc"; git init -q; "$dvc" init -q
    cp "$d/pipe/params.toml" params.toml
    { echo "stages:"; echo "  eval:"; echo "    cmd: 'true'";
      echo "    params: [{params.toml: [train.lr, m.a, m.b, m.c]}]"; echo "    metrics:";
      echo "$files" | sed 's|^|      - |; s|$|:\n          cache: false|'; } > dvc.yaml
    echo "$files" | while read -r f; do mkdir -p "$(dirname "$f")"; cp "$d/pipe/$f" "$f"; done
    "$dvc" commit -f -q >/dev/null 2>&1 || true
    git_commit run1
    cd "$d/pipe"
  fi
  sed -i 's/lr = 0.1/lr = 0.2/' params.toml
  "$pipe" repro -q >/dev/null; "$pipe" sweep big -q >/dev/null
  echo "== $name: $(echo "$files" | wc -l) metrics files, $(grep -c '^\[stage\.' pipe.lock) lock entries"
  echo "pipe metrics diff:     $(t "$pipe" metrics diff) s   ($("$pipe" metrics diff --json | grep -c '"key"') changed values)"
  echo "pipe params diff:      $(t "$pipe" params diff) s"
  echo "pipe report (html):    $(t "$pipe" report -o report.html) s   ($(du -k report.html | cut -f1) KiB)"
  [ -n "$have_dvc" ] || { echo "(no DVC: set DVC=/path/to/dvc)"; return; }
  cd "$d/dvc"
  cp "$d/pipe/params.toml" params.toml
  echo "$files" | while read -r f; do cp "$d/pipe/$f" "$f"; done
  echo "dvc metrics diff:      $(t "$dvc" metrics diff) s   ($("$dvc" metrics diff --json 2>/dev/null | grep -o '"diff"' | wc -l) changed values)"
  echo "dvc params diff:       $(t "$dvc" params diff) s"
}

echo "pipe: $("$pipe" --version); dvc: $([ -n "$dvc" ] && "$dvc" --version || echo none); runs: median of $runs"
bench small 2
bench big 10
