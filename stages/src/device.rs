//! `device = "auto" | "cpu" | "cuda" | "cuda:N"` params, resolved against what libtorch
//! sees (CUDA_VISIBLE_DEVICES, set by pipe's scheduler for GPU stages, already applies).

#![allow(clippy::print_stdout)]

use tch::Device;

use crate::error::StageError;

pub fn resolve(spec: &str, key: &str) -> Result<Device, StageError> {
    let cuda = tch::Cuda::is_available();
    let no_gpu = || {
        StageError::Invalid(format!(
            "{key} = {spec:?} but libtorch sees no CUDA device (CUDA_VISIBLE_DEVICES={:?}); use \"auto\" to fall back to the CPU",
            std::env::var("CUDA_VISIBLE_DEVICES").unwrap_or_default()
        ))
    };
    match spec {
        "auto" => Ok(if cuda { Device::Cuda(0) } else { Device::Cpu }),
        "cpu" => Ok(Device::Cpu),
        "cuda" => cuda.then_some(Device::Cuda(0)).ok_or_else(no_gpu),
        s => {
            let n = s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    StageError::Invalid(format!(
                        "{key} = {spec:?}: expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\""
                    ))
                })?;
            if !cuda {
                return Err(no_gpu());
            }
            let count = tch::Cuda::device_count() as usize;
            if n >= count {
                return Err(StageError::Invalid(format!(
                    "{key} = {spec:?} but only {count} CUDA device(s) are visible"
                )));
            }
            Ok(Device::Cuda(n))
        }
    }
}

pub fn describe(d: Device) -> String {
    match d {
        Device::Cpu => format!("cpu ({} threads)", tch::get_num_threads()),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}"),
    }
}
