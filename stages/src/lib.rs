//! pipe's built-in stages, on libtorch through `tch`.
//!
//! This crate knows nothing about pipelines, DAGs, caches or locks. The engine resolves a
//! stage's params (with sweep overrides applied) and paths, writes them as an
//! [`Invocation`], and runs `pipe-torch builtin <invocation.json>` as a child process, which
//! calls [`run`]. Everything a built-in reads comes through the invocation; everything it writes
//! goes to the paths it was given.
//!
//! The engine validates a pipeline against [`signatures`] (crate `pipe-stage-api`, which
//! the engine shares without linking libtorch): a built-in declares the param
//! tables it reads (these become the stage's params deps automatically, so changing one makes
//! the stage stale) and what each positional dep/out/metric/plot path means.
//!
//! The study's data flow, one built-in per arrow:
//! ```text
//! prepare | import -> 01_raw (JPEG + YOLO labels)      raw::layout, synth
//! truncate         -> 02_truncated (same layout)       raw::copy
//! build_tubes      -> 03_tubes/<seq>.json              tubes, record
//! build_model_input-> 04_model_input (index + .npy)    crop, dataset
//! train            -> checkpoint (.safetensors)        model, train, checkpoint
//! evaluate         -> metrics JSON + PR curve CSV      metrics
//! package          -> model .zip (+ predict)           package
//! benchmark        -> metrics JSON                     benchmark
//! ```

pub mod builtins;
pub mod checkpoint;
pub mod crop;
pub mod cuda_driver;
pub mod dataset;
pub mod device;
pub mod device_check;
pub mod error;
pub mod files;
pub mod fit;
pub mod geometry;
pub mod loader;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod package;
pub mod params;
pub mod predict;
pub mod raw;
pub mod record;
pub mod rng;
pub mod synth;
pub mod threads;
pub mod timing;
pub mod tubes;

use std::path::Path;

pub use device_check::DeviceReport;
pub use error::StageError;
pub use params::ParamError;
pub use pipe_stage_api::{Invocation, Signature, signature, signatures, version};
pub use predict::Prediction;

fn check_arity(inv: &Invocation, sig: &Signature) -> Result<(), StageError> {
    let lists: [(&'static str, &[&str], usize); 4] = [
        ("deps", sig.deps, inv.deps.len()),
        ("outs", sig.outs, inv.outs.len()),
        ("metrics", sig.metrics, inv.metrics.len()),
        ("plots", sig.plots, inv.plots.len()),
    ];
    for (kind, want, got) in lists {
        if want.len() != got {
            return Err(StageError::Arity {
                uses: sig.name.to_string(),
                kind,
                expected: want.len(),
                got,
                what: if want.is_empty() {
                    "none".to_string()
                } else {
                    want.join("; ")
                },
            });
        }
    }
    Ok(())
}

/// Runs `f`, turning a panic (libtorch's wrappers panic on errors that our checks should
/// have caught first) into an error, so a bug ends in one `error:` line, not a backtrace.
fn no_panic<T>(what: &str, f: impl FnOnce() -> Result<T, StageError>) -> Result<T, StageError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(StageError::Other(format!(
                "internal error in {what}: {msg}"
            )))
        }
    }
}

/// Runs one built-in stage to completion.
pub fn run(inv: &Invocation) -> Result<(), StageError> {
    let sig = signature(&inv.uses).ok_or_else(|| StageError::Unknown(inv.uses.clone()))?;
    check_arity(inv, sig)?;
    threads::configure();
    no_panic(&format!("built-in `{}`", inv.uses), || {
        builtins::dispatch(inv)
    })
}

/// Scores one sequence directory (`images/` + `labels/`) with a model package: what
/// `pipe predict PACKAGE SEQ_DIR [--device D]` runs. See [`predict::predict`].
pub fn predict(package: &Path, seq_dir: &Path, device: &str) -> Result<Prediction, StageError> {
    no_panic("predict", || predict::predict(package, seq_dir, device))
}

/// What libtorch sees on `device` (`auto`, `cpu`, `cuda`, `cuda:N`) and how fast it
/// multiplies there: `pipe-torch device`. See [`device_check`].
pub fn device_report(device: &str) -> Result<DeviceReport, StageError> {
    threads::configure();
    no_panic("device", || device_check::check(device))
}

/// Checks the params tables of built-in `uses` as a run would read them, without running
/// it (see [`builtins::validate_params`]).
pub fn validate_params(uses: &str, params: &toml::Table) -> Result<(), StageError> {
    signature(uses).ok_or_else(|| StageError::Unknown(uses.to_string()))?;
    builtins::validate_params(uses, params)
}

/// `pipe-torch builtin FILE.json`: reads the invocation the engine wrote and runs it.
pub fn builtin_main(json_path: &Path) -> Result<(), StageError> {
    let inv: Invocation = files::read_json(json_path)?;
    run(&inv)
}
