//! Timing forward passes for `evaluate` (latency) and `benchmark` (throughput, latency
//! percentiles): warm-up runs first (allocator, kernel selection), CUDA synchronised around
//! every timed run so that a run's time is its own.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

use crate::error::StageError;
use crate::model::SmokeNet;

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Milliseconds of each of `runs` forward passes on a full-length batch of `batch`. The
/// pixels are a fixed pattern: speed does not depend on them, and drawing them from
/// libtorch's generator would disturb a seeded run sharing the process.
pub fn forward_ms(
    model: &SmokeNet,
    device: Device,
    batch: usize,
    warmup: usize,
    runs: usize,
) -> Result<Vec<f64>, StageError> {
    let c = &model.config;
    let (b, t, p) = (batch as i64, c.frames as i64, c.patch_size as i64);
    let x = Tensor::arange(b * t * 3 * p * p, (Kind::Int64, device))
        .remainder(251)
        .to_kind(Kind::Uint8)
        .view([b, t, 3, p, p]);
    let len = Tensor::full([b], t, (Kind::Int64, device));
    let _guard = tch::no_grad_guard();
    for _ in 0..warmup {
        let _ = model.forward(&x, &len, false)?;
    }
    sync(device);
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let _ = model.forward(&x, &len, false)?;
        sync(device);
        out.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(out)
}

/// The `q` quantile (0..=1) of `v`, nearest-rank.
pub fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 10.0);
        assert_eq!(percentile(&v, 0.95), 19.0);
        assert_eq!(percentile(&v, 1.0), 20.0);
        assert_eq!(percentile(&[3.0], 0.5), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
