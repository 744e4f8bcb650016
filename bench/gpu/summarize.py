#!/usr/bin/env python3
"""Gathers the GPU check kit's figures from its output folder into OUT/gpu.json.

Reads what run.sh left in OUT: steps.tsv (each step's outcome and times), device.json,
pipeline-{bf16,fp32}/ (the study's reports), throughput/ (pipe's per-epoch curves and the
reference's JSON), samples.csv (utilisation and memory over time) and sweep.json.

Samples/s are the epochs after the first (which pays one-off allocations, and for
torch.compile the compilation): median and best over every round's epochs. Ratios are
pipe / reference. Utilisation and peak memory are taken over each kind of step's time.

--check exits 1, naming them, when any figure is missing (null): CI runs the kit in short
form on the CPU and fails if one step stopped producing its figure.
"""

import argparse
import csv
import glob
import json
import os
import statistics
import sys


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def steps(out):
    rows = []
    try:
        with open(os.path.join(out, "steps.tsv")) as f:
            for r in csv.DictReader(f, delimiter="\t"):
                r["start"], r["end"] = float(r["start"]), float(r["end"])
                rows.append(r)
    except OSError:
        pass
    return rows


def rate_stats(rates):
    if not rates:
        return {"median": None, "best": None, "n": 0}
    return {"median": round(statistics.median(rates), 2), "best": round(max(rates), 2), "n": len(rates)}


def pipe_rates(out):
    rates = []
    for path in sorted(glob.glob(os.path.join(out, "throughput", "pipe-r*.csv"))):
        with open(path) as f:
            rows = list(csv.DictReader(f))
        rates += [float(r["samples_per_s"]) for r in rows[1:]]
    return rates


def ref_rates(out, pattern):
    rates, peak = [], []
    for path in sorted(glob.glob(os.path.join(out, "throughput", pattern))):
        j = load_json(path) or {}
        rates += j.get("epoch_samples_per_s", [])[1:]
        if j.get("peak_allocated_mb") is not None:
            peak.append(j["peak_allocated_mb"])
    return rates, (max(peak) if peak else None)


def samples(out):
    rows = []
    try:
        with open(os.path.join(out, "samples.csv")) as f:
            for r in csv.DictReader(f):
                try:
                    rows.append((float(r["t"]), int(r["index"]), float(r["util_pct"]), float(r["mem_used_mb"]),
                                 float(r["mem_total_mb"])))
                except (ValueError, KeyError):
                    continue
    except OSError:
        pass
    return rows


def usage(rows, spans, device_index=0):
    picked = [r for r in rows if r[1] == device_index and any(a <= r[0] <= b for a, b in spans)]
    if not picked:
        return {"util_mean_pct": None, "util_median_pct": None, "util_max_pct": None, "mem_peak_mb": None, "n": 0}
    util = [r[2] for r in picked]
    return {"util_mean_pct": round(statistics.mean(util), 1), "util_median_pct": round(statistics.median(util), 1),
            "util_max_pct": round(max(util), 1), "mem_peak_mb": round(max(r[3] for r in picked), 1),
            "n": len(picked)}


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def pipeline(out, prec, step):
    d = os.path.join(out, f"pipeline-{prec}")
    train, ev, bench = (load_json(os.path.join(d, n)) or {} for n in ("train.json", "eval.json", "bench.json"))
    wall = round(step["end"] - step["start"], 1) if step and step["status"] == "ok" else None
    return {"status": step["status"] if step else "not run", "wall_s": wall,
            "train_samples_per_s": train.get("samples_per_s"), "train_seconds": train.get("train_seconds"),
            "epochs": train.get("epochs_run"), "device": train.get("device"), "precision": train.get("precision"),
            # eval.json: the held-out split at the top level (test), val under "val".
            "test_f1": ev.get("f1"), "val_f1": (ev.get("val") or {}).get("f1"),
            "pr_auc": ev.get("pr_auc"), "eval_latency_ms": ev.get("latency_ms"),
            "bench_throughput_seq_per_s": bench.get("throughput_seq_per_s"),
            "bench_latency_p50_ms": bench.get("latency_p50_ms"), "bench_peak_mem_mb": bench.get("peak_mem_mb")}


def missing_figures(value, path=""):
    """Paths of every null under `value` (a step that was not meant to run is not null)."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [m for k, v in value.items() for m in missing_figures(v, f"{path}.{k}" if path else k)]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", choices=["gpu", "cpu"], required=True)
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--started")
    ap.add_argument("--wall", type=float)
    ap.add_argument("--budget", type=float)
    ap.add_argument("--commit")
    ap.add_argument("--check", action="store_true", help="exit 1 if any figure is missing")
    args = ap.parse_args()
    out = args.out
    st = steps(out)
    by_name = {s["name"]: s for s in st}
    spans = lambda prefix: [(s["start"], s["end"]) for s in st if s["name"].startswith(prefix)]
    rows = samples(out)

    pipe = pipe_rates(out)
    eager, eager_peak = ref_rates(out, "eager-r*.json")
    comp, comp_peak = ref_rates(out, "compile.json")
    p, e, c = rate_stats(pipe), rate_stats(eager), rate_stats(comp)
    first_pipe = load_json(os.path.join(out, "throughput", "pipe-r1.json")) or {}
    first_ref = load_json(os.path.join(out, "throughput", "eager-r1.json")) or {}
    sweep = load_json(os.path.join(out, "sweep.json"))
    sweep_step = by_name.get("sweep")
    cells = None
    if isinstance(sweep, dict):
        for key in ("cells", "rows", "instances"):
            if isinstance(sweep.get(key), list):
                cells = len(sweep[key])
                break
    elif isinstance(sweep, list):
        cells = len(sweep)

    report = {
        "mode": args.mode,
        "short": args.short,
        "commit": args.commit,
        "started": args.started,
        "wall_s": args.wall,
        "budget_s": args.budget,
        "steps": {s["name"]: {"status": s["status"], "seconds": round(s["end"] - s["start"], 1)} for s in st},
        "device": load_json(os.path.join(out, "device.json")),
        "pipeline": {prec: pipeline(out, prec, by_name.get(f"pipeline_{prec}")) for prec in ("bf16", "fp32")},
        "throughput": {
            "precision": first_pipe.get("precision"),
            "device": first_pipe.get("device"),
            "batch_size": first_ref.get("batch_size"),
            "train_sequences": first_ref.get("train_sequences"),
            "params": first_pipe.get("params"),
            "reference_params": first_ref.get("params"),
            "torch": first_ref.get("torch"),
            "rounds": len(glob.glob(os.path.join(out, "throughput", "pipe-r*.csv"))),
            "pipe": p,
            "torch_eager": e,
            "torch_compile": c,
            "ratio_to_eager_median": ratio(p["median"], e["median"]),
            "ratio_to_eager_best": ratio(p["best"], e["best"]),
            "ratio_to_compile_median": ratio(p["median"], c["median"]),
            "ratio_to_compile_best": ratio(p["best"], c["best"]),
            "compile_backend": (load_json(os.path.join(out, "throughput", "compile.json")) or {}).get("compile_backend"),
        },
        "utilisation": {
            "source": "nvidia-smi" if args.mode == "gpu" else "/proc/stat, /proc/meminfo",
            "pipe_train": usage(rows, spans("pipe_train")),
            "torch_eager": usage(rows, spans("eager")),
            "torch_compile": usage(rows, spans("compile")),
            "pipeline_bf16": usage(rows, spans("pipeline_bf16")),
            "reference_peak_allocated_mb": {"eager": eager_peak, "compile": comp_peak}
            if args.mode == "gpu" else {},
        },
        "sweep": {
            "status": sweep_step["status"] if sweep_step else "not run",
            "cells": cells,
            "wall_s": round(sweep_step["end"] - sweep_step["start"], 1)
            if sweep_step and sweep_step["status"] == "ok" else None,
        },
    }
    missing = missing_figures({k: v for k, v in report.items() if k not in ("commit", "started")})
    report["missing"] = missing
    with open(os.path.join(out, "gpu.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    t = report["throughput"]
    print(f"train samples/s ({t['precision']}, {t['device']}): pipe median {p['median']} best {p['best']} (n={p['n']}); "
          f"eager median {e['median']} best {e['best']}; compile median {c['median']} best {c['best']}")
    print(f"pipe / eager: {t['ratio_to_eager_median']} (median), {t['ratio_to_eager_best']} (best); "
          f"pipe / compile: {t['ratio_to_compile_median']} (median)")
    u = report["utilisation"]["pipe_train"]
    print(f"utilisation during pipe train: mean {u['util_mean_pct']}%, max {u['util_max_pct']}%, "
          f"peak memory {u['mem_peak_mb']} MB; sweep of {cells} cells: {report['sweep']['wall_s']} s")
    if args.check and missing:
        print("missing figures: " + ", ".join(missing), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
