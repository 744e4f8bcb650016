#!/usr/bin/env bash
# The Slurm executor at sweep scale: a 200-cell sweep of a trivial stage, through the
# one-node cluster of scripts/setup-slurm.sh and then through the local executor. Prints
# the submissions made, squeue calls per minute, the wall time per instance under each
# executor (the difference being Slurm's scheduling overhead, pipe's and slurmctld's), and
# the time from each job's end (the wrapper's clock) to its commit (the ctime of its out,
# which the commit links into the cache). Asserts nothing.
#   bench/slurm.sh [WORKDIR]     (default: a temp dir; PIPE=path/to/pipe, POLL=seconds)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pipe=${PIPE:-$root/target/release/pipe}
[ -x "$pipe" ] || (cd "$root" && cargo build --release -q --no-default-features)
poll=${POLL:-5}
cells=200
"$root/scripts/setup-slurm.sh" >/dev/null
dir=${1:-$(mktemp -d)}
mkdir -p "$dir" && cd "$dir"

setup() {
  rm -rf "$1" && mkdir -p "$1/.pipe" && cd "$1"
  printf '[m]\ni = 0\n' >params.toml
  values=$(seq -s, 0 $((cells - 1)))
  cat >pipe.toml <<P
[stage.cell]
cmd = "echo \${m.i} > \${outs[0]}"
params = ["m.i"]
outs = ["out.txt"]

[sweep.big]
stages = ["cell"]
matrix = { "m.i" = [$values] }
P
}

secs() { local s e; s=$(date +%s.%N); "$@" >run.log 2>&1; e=$(date +%s.%N); echo "scale=2; ($e - $s) / 1" | bc; }

setup "$dir/slurm"
printf '[executor]\nkind = "slurm"\npoll = %s\n' "$poll" >.pipe/config.toml
# The probe job (do the nodes see the workspace?) runs once per workspace and day: not part
# of the figure.
"$pipe" repro --executor slurm >/dev/null 2>&1 || true
t_slurm=$(secs "$pipe" sweep big)
summary=$(grep -E '^ *Slurm ' run.log | sed 's/^ *Slurm //')
subs=$(wc -l <.pipe/slurm/submissions.log)
arrays=$(grep -c -- '--array=' .pipe/slurm/submissions.log || true)
end_to_commit=$(python3 - <<'PY'
import os, re, glob
ds = []
for f in glob.glob(".pipe/slurm/status/*"):
    m = re.match(r"cell@(.+)\.[0-9a-f]+-\d+\.\d+$", os.path.basename(f))
    parts = open(f).read().split()
    if not m or len(parts) < 4 or parts[1] != "0":
        continue
    out = os.path.join("sweeps", "big", m.group(1), "out.txt")
    if os.path.exists(out):
        ds.append(os.stat(out).st_ctime_ns / 1e6 - int(parts[3]))
ds.sort()
if ds:
    print(f"n={len(ds)} median {ds[len(ds)//2]:.0f} ms, mean {sum(ds)/len(ds):.0f} ms, max {ds[-1]:.0f} ms")
else:
    print("n/a")
PY
)
cd "$dir"

setup "$dir/local"
t_local=$(secs "$pipe" sweep big --executor local)
cd "$dir"

echo "cells:                         $cells (poll = $poll s, $(nproc) CPUs on the node)"
echo "slurm: wall time               $t_slurm s ($(echo "scale=3; $t_slurm / $cells" | bc) s per instance)"
echo "local: wall time               $t_local s ($(echo "scale=3; $t_local / $cells" | bc) s per instance)"
echo "scheduling overhead/instance:  $(echo "scale=3; ($t_slurm - $t_local) / $cells" | bc) s"
echo "sbatch submissions:            $subs ($arrays array(s))"
echo "pipe's own account:            $summary"
echo "job end -> commit:             $end_to_commit"
