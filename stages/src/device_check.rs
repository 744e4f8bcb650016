//! `pipe-torch device`: what libtorch sees on this machine, and a quick proof that it
//! computes there. For the chosen device (`auto`, `cpu`, `cuda`, `cuda:N`): libtorch's view
//! (CUDA available, device count, cuDNN, threads), the device's name, compute capability,
//! multiprocessors and memory (from the CUDA driver, see [`crate::cuda_driver`]; for the
//! CPU from /proc), and the rate of a square matmul in fp32 and in bf16, with the bf16
//! result's error against fp32. The GPU check kit (`bench/gpu/`) records it first.

use std::time::Instant;

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::cuda_driver::Driver;
use crate::device;
use crate::error::StageError;

#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    pub device: String,
    pub cuda_available: bool,
    pub cuda_device_count: i64,
    pub cudnn_available: bool,
    pub torch_threads: i32,
    /// The CUDA driver's version, or why there is none.
    pub driver: String,
    pub name: String,
    /// `major.minor` on CUDA; `cpu` on the CPU.
    pub capability: String,
    /// Streaming multiprocessors on CUDA; logical cores on the CPU.
    pub multiprocessors: i32,
    pub memory_total_mb: f64,
    pub memory_free_mb: f64,
    pub matmul_size: i64,
    pub matmul_tflops_fp32: f64,
    pub matmul_tflops_bf16: f64,
    /// max |bf16 - fp32| / max |fp32| of one product.
    pub bf16_rel_error: f64,
}

fn sync(d: Device) {
    if let Device::Cuda(i) = d {
        tch::Cuda::synchronize(i as i64);
    }
}

fn scalar(t: &Tensor) -> Result<f64, StageError> {
    f64::try_from(t).map_err(StageError::torch("reading a scalar"))
}

/// TFLOP/s of `iters` products of two `n`x`n` matrices of `kind` on `d`.
fn matmul_rate(d: Device, n: i64, kind: Kind, iters: usize) -> f64 {
    let a = Tensor::randn([n, n], (Kind::Float, d)).to_kind(kind);
    let b = Tensor::randn([n, n], (Kind::Float, d)).to_kind(kind);
    let _ = a.matmul(&b);
    sync(d);
    let t = Instant::now();
    for _ in 0..iters {
        let _ = a.matmul(&b);
    }
    sync(d);
    2.0 * (n as f64).powi(3) * iters as f64 / t.elapsed().as_secs_f64().max(1e-9) / 1e12
}

/// A field of a /proc file (`MemTotal:  123 kB` -> `123 kB`).
fn proc_field(file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

fn proc_mb(key: &str) -> f64 {
    proc_field("/proc/meminfo", key)
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn check(spec: &str) -> Result<DeviceReport, StageError> {
    let d = device::resolve(spec, "--device")?;
    let (n, iters) = if d.is_cuda() { (4096, 20) } else { (512, 3) };
    let fp32 = matmul_rate(d, n, Kind::Float, iters);
    let bf16 = matmul_rate(d, n, Kind::BFloat16, iters);
    let a = Tensor::randn([256, 256], (Kind::Float, d));
    let b = Tensor::randn([256, 256], (Kind::Float, d));
    let exact = a.matmul(&b);
    let low = a
        .to_kind(Kind::BFloat16)
        .matmul(&b.to_kind(Kind::BFloat16))
        .to_kind(Kind::Float);
    let rel = scalar(&(&low - &exact).abs().max())? / scalar(&exact.abs().max())?.max(1e-30);
    let driver = Driver::open();
    let driver_version = match &driver {
        Ok(dr) => dr.version().unwrap_or_else(|e| e),
        Err(e) => e.clone(),
    };
    let threads = tch::get_num_threads();
    let (name, capability, multiprocessors, total, free) = match d {
        Device::Cuda(i) => {
            let dd = driver
                .map_err(StageError::Other)?
                .device(i as i32)
                .map_err(StageError::Other)?;
            let free = dd.memory_free_mb.unwrap_or(0.0);
            (
                dd.name,
                dd.capability,
                dd.multiprocessors,
                dd.memory_total_mb,
                free,
            )
        }
        _ => (
            proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "cpu".to_string()),
            "cpu".to_string(),
            std::thread::available_parallelism().map_or(1, |n| n.get() as i32),
            proc_mb("MemTotal"),
            proc_mb("MemAvailable"),
        ),
    };
    Ok(DeviceReport {
        device: device::describe(d),
        cuda_available: tch::Cuda::is_available(),
        cuda_device_count: tch::Cuda::device_count(),
        cudnn_available: tch::Cuda::cudnn_is_available(),
        torch_threads: threads,
        driver: driver_version,
        name,
        capability,
        multiprocessors,
        memory_total_mb: total,
        memory_free_mb: free,
        matmul_size: n,
        matmul_tflops_fp32: fp32,
        matmul_tflops_bf16: bf16,
        bf16_rel_error: rel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_report_describes_the_machine_and_computes() {
        let r = check("cpu").unwrap();
        assert!(r.device.starts_with("cpu"), "{r:?}");
        assert_eq!(r.capability, "cpu");
        assert!(!r.name.is_empty() && r.multiprocessors >= 1, "{r:?}");
        assert!(
            r.memory_total_mb > r.memory_free_mb && r.memory_free_mb > 0.0,
            "{r:?}"
        );
        assert!(
            r.matmul_tflops_fp32 > 0.0 && r.matmul_tflops_bf16 > 0.0,
            "{r:?}"
        );
        // bf16 keeps 8 significant bits: a 256-term dot product is off by well under 5%.
        assert!(r.bf16_rel_error > 0.0 && r.bf16_rel_error < 0.05, "{r:?}");
    }

    #[test]
    fn cuda_is_described_by_the_driver_or_refused_plainly() {
        match check("cuda") {
            Ok(r) => {
                assert!(tch::Cuda::is_available());
                assert!(
                    r.capability.contains('.') && r.memory_total_mb > 0.0,
                    "{r:?}"
                );
            }
            Err(e) => {
                assert!(!tch::Cuda::is_available());
                assert!(e.to_string().contains("no CUDA device"), "{e}");
            }
        }
    }
}
