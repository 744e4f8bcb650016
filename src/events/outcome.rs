//! What became of a stage in a run: the scheduler's answer for each selected stage, told in
//! [`super::Event::Done`] and kept in the run's summary.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::StageExit;

#[derive(Debug, Clone)]
pub enum Outcome {
    Fresh,
    Frozen,
    Restored,
    Ran(Duration),
    /// The stage failed (its command, or it broke its contract), or, with `env`, pipe
    /// could not do its part (store the outs, read a file).
    Failed {
        msg: String,
        log: Option<PathBuf>,
        env: bool,
        /// How the stage ended (`Other` when pipe failed, `env`).
        exit: StageExit,
    },
    Skipped(String),
    Cancelled,
    /// Submitted to a cluster and left running (`--detach`): the job id.
    Detached(String),
}

impl Outcome {
    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::Cancelled)
    }
}
