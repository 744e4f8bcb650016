//! What the graph refuses once it is built (building it fails with `SpecError`s that
//! point into the pipeline file): a target the command line names and no stage is, and an
//! experiment that cannot be instantiated. All bad input (exit 2).

use crate::spec::exp_name::ExpName;
use crate::wspath::WsPathError;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Neither a stage id, a base stage's name, nor an out; `near`: a stage it may mean.
    #[error("no stage `{target}` in the pipeline{}", near.as_ref().map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default())]
    UnknownTarget {
        target: String,
        near: Option<String>,
    },
    /// The experiment's name is no path segment under `.pipe/exps/`.
    #[error("experiment name `{name}`: {e}")]
    ExpDir { name: ExpName, e: WsPathError },
    /// `-S KEY` that no stage (of the targets, `of`) reads.
    #[error("-S {key}: {of} reads `{key}`, so overriding it changes nothing")]
    NothingReads { key: String, of: String },
}

impl GraphError {
    pub fn exit_code(&self) -> u8 {
        2
    }
}
