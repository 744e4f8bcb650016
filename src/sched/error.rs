//! What keeps the scheduler from doing its part for a stage: each is the stage's
//! [`Failure::Pipe`](crate::error::Failure::Pipe). They exit 3 (the environment failed
//! pipe), except outs that could not be stored, which exit as the reason why.

use std::path::PathBuf;

use crate::builtin::BuiltinError;
use crate::error::Error;
use crate::exec::ExecError;
use crate::graph::StageId;

use super::resources::TooFewGpus;

#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    /// A path lock could not be taken (an I/O error, not another holder).
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The blocking work of a stage task panicked (a bug).
    #[error("internal error: {0}")]
    Internal(#[from] tokio::task::JoinError),
    /// A stage about to run reads a path that does not exist; `from` says what would
    /// have made it.
    #[error("dep `{dep}` of stage `{stage}` does not exist{from}")]
    MissingDep {
        stage: StageId,
        dep: String,
        from: MissingFrom,
    },
    /// A dep that is tracked data present only in part.
    #[error(
        "dep `{dep}` of stage `{stage}` is partially present ({present} of {total} files): `pipe pull {dep}` brings the rest"
    )]
    PartialDep {
        stage: StageId,
        dep: String,
        present: usize,
        total: usize,
    },
    #[error("stage `{stage}` {source}")]
    Resources { stage: StageId, source: TooFewGpus },
    /// Tracked data (`[data]`, `pipe add`) has no command.
    #[error("`{stage}` is tracked data: record it with `pipe add`, it is never run")]
    TrackedData { stage: StageId },
    /// What a job reads (its params, a built-in's invocation) could not be encoded.
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    /// ... or written under `.pipe/tmp/`.
    #[error(transparent)]
    Write(#[from] pipe_cache::Error),
    /// A built-in stage has no runner.
    #[error(transparent)]
    Builtin(#[from] BuiltinError),
    /// The executor could not start (or follow) the stage's job.
    #[error("cannot start stage `{stage}`: {source}")]
    Start { stage: StageId, source: ExecError },
    /// The stage ran, but its outs could not be stored.
    #[error(
        "stage `{stage}` ran, but its outs could not be stored: {source}{}",
        restore.as_ref().map(|r| format!("; restoring the previous outs failed: {r}")).unwrap_or_default()
    )]
    Store {
        stage: StageId,
        source: Box<Error>,
        /// Why the outs could not be put back, if they could not.
        restore: Option<Box<pipe_cache::Error>>,
    },
}

impl SchedError {
    pub fn exit_code(&self) -> u8 {
        match self {
            SchedError::Store { source, .. } => source.exit_code(),
            _ => 3,
        }
    }
}

/// What would have made a missing dep, as the end of [`SchedError::MissingDep`]'s message.
#[derive(Debug)]
pub enum MissingFrom {
    /// Nothing: no stage writes it and it is not tracked.
    Nothing,
    /// Tracked data not in the workspace (a fresh clone before `pipe pull`).
    Tracked,
    /// An out of a frozen stage, which repro never runs.
    Frozen(StageId),
}

impl std::fmt::Display for MissingFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MissingFrom::Nothing => f.write_str(
                ", and no stage makes it: create it, fix the path, or add the stage that writes it",
            ),
            MissingFrom::Tracked => f.write_str(
                ": it is tracked data not in the workspace (`pipe pull` or `pipe checkout` brings it)",
            ),
            MissingFrom::Frozen(s) => write!(
                f,
                ": it is an out of frozen stage `{s}`, which repro never runs (`pipe pull {s}` or `pipe checkout {s}` brings it back, or unfreeze `{s}`)"
            ),
        }
    }
}
