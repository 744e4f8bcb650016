//! What became of a stage in a run: the scheduler's answer for each selected stage, told in
//! [`super::Event::Done`] and kept in the run's summary.

use std::time::Duration;

use crate::error::Failure;

#[derive(Debug)]
pub enum Outcome {
    Fresh,
    Frozen,
    Restored,
    Ran(Duration),
    /// The stage failed: its command, its contract, or pipe's own part (see [`Failure`]).
    Failed(Box<Failure>),
    Skipped(String),
    Cancelled,
    /// Submitted to a cluster and left running (`--detach`): the job id.
    Detached(String),
}

impl Outcome {
    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::Cancelled)
    }
}
