//! The contract between pipe's engine and its built-in stages, with no libtorch in it: what
//! each built-in reads and writes ([`signatures`], for validating a pipeline and for
//! `pipe stages`), what the engine hands a built-in ([`Invocation`]), and the versions that
//! are part of a built-in stage's run-cache key ([`version`]).
//!
//! The engine depends on this crate alone, so that the `pipe` binary never loads libtorch;
//! the stages themselves (crate `pipe-stages`) run in the `pipe-torch` binary.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `tch` and libtorch versions the built-ins are built against.
pub const TCH_VERSION: &str = "0.24.0";
pub const LIBTORCH_VERSION: &str = "2.11.0";

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
        summary: "write a synthetic smoke dataset (train/val/test, each sequence's kind) in the raw layout (or import `prepare.source`)",
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
        summary: "score the test split (and val, marked as such): F1, PR-AUC, recall at 1% FPR, confusion, FPR per look-alike kind, params, GFLOPs, latency",
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

/// Versions that change what a built-in computes; part of the engine's run-cache key. The
/// `source` fingerprint (build.rs) changes with any edit of the stages' code or of the
/// locked dependency versions, which the crate version alone does not.
pub fn version() -> String {
    format!(
        "pipe-stages {} (source {}, tch {}, libtorch {})",
        env!("CARGO_PKG_VERSION"),
        env!("PIPE_STAGES_SOURCE"),
        TCH_VERSION,
        LIBTORCH_VERSION
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_stages_source_fingerprint() {
        let v = version();
        let fingerprint = v.split("source ").nth(1).and_then(|rest| rest.get(..16));
        assert!(
            fingerprint.is_some_and(|f| f.chars().all(|c| c.is_ascii_hexdigit())),
            "{v}"
        );
        // FNV-1a's offset basis is the fingerprint of no files: build.rs found the source.
        assert_ne!(fingerprint, Some("cbf29ce484222325"), "{v}");
    }
}
