//! `benchmark`: the packaged model on the device this stage runs on: throughput at
//! `benchmark.batch_size`, latency percentiles at batch 1, peak memory. Inputs are random
//! full-length sequences of the model's geometry (speed does not depend on pixel values).
//!
//! Peak memory: on the CPU, the process's peak resident set; on CUDA, the process's device
//! memory after the runs (see `memory`).

#![allow(clippy::print_stdout)]

use serde_json::json;
use tch::Device;

use crate::Invocation;
use crate::device;
use crate::error::StageError;
use crate::files::write_json;
use crate::memory::{gpu_mem_mb, peak_rss_mb};
use crate::model::param_count;
use crate::package::Package;
use crate::params::Section;
use crate::timing::{forward_ms, percentile};

pub struct BenchParams {
    pub device: String,
    pub batch_size: usize,
    pub iterations: usize,
    pub warmup: usize,
}

pub fn bench_params(params: &toml::Table) -> Result<BenchParams, StageError> {
    let s = Section::new(params, "benchmark")?;
    let p = BenchParams {
        device: s.string("device", "auto")?,
        batch_size: s.count("batch_size", 16, 1)?,
        iterations: s.count("iterations", 20, 1)?,
        warmup: s.count("warmup", 3, 0)?,
    };
    s.finish()?;
    Ok(p)
}

pub fn run(inv: &Invocation) -> Result<(), StageError> {
    let p = bench_params(&inv.params)?;
    let device = device::resolve(&p.device, "benchmark.device")?;
    let pkg = Package::open(&inv.deps[0], device)?;
    let model = &pkg.loaded.model;
    let batch = forward_ms(model, device, p.batch_size, p.warmup, p.iterations)?;
    let single = forward_ms(model, device, 1, p.warmup, p.iterations)?;
    let batch_s: f64 = batch.iter().sum::<f64>() / 1e3;
    let throughput = (p.batch_size * p.iterations) as f64 / batch_s.max(1e-12);
    let (mem, mem_kind) = match device {
        Device::Cuda(_) => (gpu_mem_mb(), "gpu_process_mb"),
        _ => (peak_rss_mb(), "cpu_peak_rss_mb"),
    };
    let params = param_count(&pkg.loaded.vs) + model.frozen_params();
    let m = json!({
        "throughput_seq_per_s": throughput,
        "batch_size": p.batch_size,
        "latency_p50_ms": percentile(&single, 0.5),
        "latency_p95_ms": percentile(&single, 0.95),
        "batch_latency_p50_ms": percentile(&batch, 0.5),
        "peak_mem_mb": mem.unwrap_or(0.0),
        "mem_kind": if mem.is_some() { mem_kind } else { "unavailable" },
        "frames": model.config.frames,
        "patch_size": model.config.patch_size,
        "params": params,
        "device": device::describe(device),
    });
    write_json(&inv.metrics[0], &m)?;
    println!(
        "{}: {:.1} sequences/s at batch {}, latency p50 {:.2} ms p95 {:.2} ms, peak memory {}",
        device::describe(device),
        throughput,
        p.batch_size,
        percentile(&single, 0.5),
        percentile(&single, 0.95),
        mem.map_or("unavailable".into(), |m| format!("{m:.0} MB ({mem_kind})"))
    );
    Ok(())
}
