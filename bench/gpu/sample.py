#!/usr/bin/env python3
"""Samples device utilisation and memory until stopped (SIGTERM), for the GPU check kit.

--gpu: `nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total -lms N`, each
line stamped with the time it was read. --cpu: the same columns for the CPU, from
/proc/stat (busy share of all cores) and /proc/meminfo (MemTotal - MemAvailable).

CSV on stdout: t (unix seconds), index, util_pct, mem_used_mb, mem_total_mb.
"""

import argparse
import signal
import subprocess
import sys
import time


def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def meminfo():
    values = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, rest = line.split(":", 1)
            values[key] = int(rest.split()[0]) / 1024.0
    return values["MemTotal"] - values.get("MemAvailable", values["MemFree"]), values["MemTotal"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--gpu", action="store_true")
    group.add_argument("--cpu", action="store_true")
    ap.add_argument("--interval-ms", type=int, default=200)
    args = ap.parse_args()
    child = None

    def stop(*_):
        if child is not None:
            child.terminate()
        sys.stdout.flush()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("t,index,util_pct,mem_used_mb,mem_total_mb", flush=True)
    if args.gpu:
        child = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=index,utilization.gpu,memory.used,memory.total",
             "--format=csv,noheader,nounits", "-lms", str(args.interval_ms)],
            stdout=subprocess.PIPE, text=True)
        for line in child.stdout:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 4:
                print(f"{time.time():.3f}," + ",".join(parts), flush=True)
        return
    total, idle = cpu_times()
    while True:
        time.sleep(args.interval_ms / 1000.0)
        t2, i2 = cpu_times()
        busy = 100.0 * (1.0 - (i2 - idle) / max(t2 - total, 1))
        total, idle = t2, i2
        used, all_mb = meminfo()
        print(f"{time.time():.3f},0,{busy:.1f},{used:.0f},{all_mb:.0f}", flush=True)


if __name__ == "__main__":
    main()
