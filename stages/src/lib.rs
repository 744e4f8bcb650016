//! pipe's built-in stages, on libtorch through `tch`.
//!
//! This crate knows nothing about pipelines, DAGs, caches or locks. The engine resolves a
//! stage's params (with sweep overrides applied) and paths, writes them as an
//! [`Invocation`], and runs `pipe builtin <invocation.json>` as a child process, which calls
//! [`run`]. Everything a built-in reads comes through the invocation; everything it writes
//! goes to the paths it was given.
//!
//! The engine validates a pipeline against [`signatures`]: a built-in declares the param
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
pub mod dataset;
pub mod device;
pub mod error;
pub mod files;
pub mod fit;
pub mod geometry;
pub mod loader;
pub mod metrics;
pub mod model;
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

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::StageError;
pub use params::ParamError;
pub use predict::Prediction;

/// One run of a built-in stage, as the engine hands it over.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invocation {
    /// The stage instance id, for messages (`train`, `train@grid=4,seed=1`).
    pub stage: String,
    /// The built-in's name (`uses = "train"`).
    pub uses: String,
    /// The param tables named in the signature (and any others the stage declared), nested as
    /// in the params file, sweep overrides applied: `{ "train": { "lr": 0.001, .. }, .. }`.
    pub params: toml::Table,
    /// Absolute paths, in the order the stage declares them.
    pub deps: Vec<PathBuf>,
    pub outs: Vec<PathBuf>,
    pub metrics: Vec<PathBuf>,
    pub plots: Vec<PathBuf>,
}

/// What a built-in reads and writes, for validation and `pipe stages`.
#[derive(Debug, Clone, Copy)]
pub struct Signature {
    pub name: &'static str,
    pub summary: &'static str,
    /// Param tables read (each must exist in the params files, or the built-in's defaults apply).
    pub params: &'static [&'static str],
    /// One description per positional path; the stage must declare exactly this many.
    pub deps: &'static [&'static str],
    pub outs: &'static [&'static str],
    pub metrics: &'static [&'static str],
    pub plots: &'static [&'static str],
}

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "prepare",
        summary: "write a synthetic smoke dataset in the raw layout (or import `prepare.source`)",
        params: &["prepare"],
        deps: &[],
        outs: &["raw dataset directory: <dataset>/<split>/<wildfire|fp>/<sequence>/images|labels"],
        metrics: &[],
        plots: &[],
    },
    Signature {
        name: "import",
        summary: "validate and copy an existing dataset in the raw layout",
        params: &[],
        deps: &["existing dataset directory in the raw layout"],
        outs: &["raw dataset directory"],
        metrics: &[],
        plots: &[],
    },
    Signature {
        name: "truncate",
        summary: "keep the first `truncate.max_frames` frames of every sequence",
        params: &["truncate"],
        deps: &["raw dataset directory"],
        outs: &["truncated dataset directory (same layout)"],
        metrics: &[],
        plots: &[],
    },
    Signature {
        name: "build_tubes",
        summary: "link each sequence's boxes into tubes and keep the longest",
        params: &["tubes"],
        deps: &["truncated dataset directory"],
        outs: &["tube records directory (<sequence>.json)"],
        metrics: &[],
        plots: &[],
    },
    Signature {
        name: "build_model_input",
        summary: "crop each tube with a stabilised window and resize to `model_input.patch_size`",
        params: &["model_input"],
        deps: &["truncated dataset directory", "tube records directory"],
        outs: &["model input directory (index.json + <split>/<sequence>.npy)"],
        metrics: &[],
        plots: &[],
    },
    Signature {
        name: "train",
        summary: "train the two-branch smoke classifier; keep the best checkpoint by val F1",
        params: &["model", "train"],
        deps: &["model input directory"],
        outs: &["checkpoint (safetensors, with its config)"],
        metrics: &["training summary (JSON)"],
        plots: &["per-epoch curve (CSV)"],
    },
    Signature {
        name: "evaluate",
        summary: "score the val split: F1, PR-AUC, recall at 1% FPR, confusion, params, GFLOPs, latency",
        params: &["evaluate"],
        deps: &["model input directory", "checkpoint"],
        outs: &[],
        metrics: &["evaluation metrics (JSON)"],
        plots: &["PR and ROC curve points (CSV)"],
    },
    Signature {
        name: "package",
        summary: "bundle checkpoint, params and metrics into one portable .zip",
        params: &["truncate", "tubes", "model_input", "evaluate"],
        deps: &["checkpoint", "evaluation metrics (JSON)"],
        outs: &["model package (.zip)"],
        metrics: &[],
        plots: &[],
    },
    Signature {
        name: "benchmark",
        summary: "throughput, latency p50/p95 and peak memory of a packaged model",
        params: &["benchmark"],
        deps: &["model package (.zip)"],
        outs: &[],
        metrics: &["benchmark metrics (JSON)"],
        plots: &[],
    },
];

/// Every built-in, in pipeline order.
pub fn signatures() -> &'static [Signature] {
    SIGNATURES
}

pub fn signature(name: &str) -> Option<&'static Signature> {
    signatures().iter().find(|s| s.name == name)
}

/// Versions that change what a built-in computes; part of the engine's run-cache key.
pub fn version() -> String {
    format!(
        "pipe-stages {} (tch {}, libtorch {})",
        env!("CARGO_PKG_VERSION"),
        builtins::TCH_VERSION,
        builtins::LIBTORCH_VERSION
    )
}

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

/// Checks the params tables of built-in `uses` as a run would read them, without running
/// it (see [`builtins::validate_params`]).
pub fn validate_params(uses: &str, params: &toml::Table) -> Result<(), StageError> {
    signature(uses).ok_or_else(|| StageError::Unknown(uses.to_string()))?;
    builtins::validate_params(uses, params)
}

/// `pipe builtin FILE.json`: reads the invocation the engine wrote and runs it.
pub fn builtin_main(json_path: &Path) -> Result<(), StageError> {
    let inv: Invocation = files::read_json(json_path)?;
    run(&inv)
}
