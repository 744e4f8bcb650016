#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the Slurm executor's tests (idempotent).
#
# Installs Debian's slurm-wlm and munge when missing, writes slurm.conf and gres.conf for
# this host (its CPUs, a little less memory than it has, 4 `gpu` gres backed by fake
# character devices so GPU requests are scheduled for real, MinJobAge short so tests see
# jobs leave the queue), starts munged, slurmctld and slurmd, and waits until the node is
# idle. A drained node (a bad registration earlier) is resumed.
#
# Needs root (apt-get, mknod, daemons). Daemons listen on this host only.
set -euo pipefail

conf_dir=/etc/slurm
state=/var/lib/pipe-slurm
host=$(hostname -s)

if ! command -v sbatch >/dev/null 2>&1 || ! command -v slurmctld >/dev/null 2>&1 ||
  ! command -v munged >/dev/null 2>&1; then
  echo "setup-slurm: installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi

mkdir -p "$conf_dir" "$state"/{ctld,d,log} /run/munge /var/log/munge /var/lib/munge
for n in 0 1 2 3; do
  [ -e /dev/fakegpu$n ] || mknod /dev/fakegpu$n c 1 3
done

cpus=$(nproc)
mem_mib=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
conf=$(
  cat <<EOF
# Written by pipe's scripts/setup-slurm.sh: a one-node test cluster.
ClusterName=pipe-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# Jobs without --mem take a little per CPU, not the whole node.
DefMemPerCPU=256
ReturnToService=2
MinJobAge=30
KillWait=5
InactiveLimit=0
GresTypes=gpu
MaxArraySize=10001
NodeName=$host CPUs=$cpus RealMemory=$mem_mib Gres=gpu:4 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
)
gres="NodeName=$host Name=gpu File=/dev/fakegpu[0-3]"
changed=0
if [ "$(cat $conf_dir/slurm.conf 2>/dev/null)" != "$conf" ]; then
  printf '%s\n' "$conf" >$conf_dir/slurm.conf
  changed=1
fi
if [ "$(cat $conf_dir/gres.conf 2>/dev/null)" != "$gres" ]; then
  printf '%s\n' "$gres" >$conf_dir/gres.conf
  changed=1
fi

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if ! pgrep -x munged >/dev/null 2>&1; then
  chown -R munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  munged --force 2>/dev/null || munged --force -f
fi
if [ $changed = 1 ]; then
  # New configuration: restart what runs so that it is read.
  for p in "$state/slurmd.pid" "$state/slurmctld.pid"; do
    if alive "$p"; then kill "$(cat "$p")"; fi
  done
  sleep 1
fi
if ! alive "$state/slurmctld.pid"; then
  slurmctld
fi
if ! alive "$state/slurmd.pid"; then
  slurmd
fi

for _ in $(seq 1 60); do
  s=$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -1 || true)
  case "$s" in
  idle | mixed | allocated) break ;;
  drain* | down* | fail*)
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
    ;;
  esac
  sleep 1
done
s=$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -1 || true)
case "$s" in
idle | mixed | allocated) echo "setup-slurm: node $host is $s" ;;
*)
  echo "setup-slurm: node $host did not come up (state: ${s:-none}); see $state/log/" >&2
  exit 1
  ;;
esac
