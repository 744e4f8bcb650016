//! What a run tells the world while it goes: events, not lines.
//!
//! The rooms that run stages (`sched`, its tasks, `exec`'s local and Slurm executors, and
//! `remote` during `repro --pull`) never print: they hand each [`Event`] to the run's
//! [`Events`] sink, which the command that started the run chose (`report::run::print` for
//! `repro`, `sweep` and `exp run`; [`ignore`] for a caller that wants no output).
//!
//! This module is a leaf: it imports nothing of the rooms that emit or render events, only
//! the data an event carries, which lives here or below: why a stage runs ([`DirtyReason`],
//! `reason.rs`), what became of it ([`Outcome`], `outcome.rs`) and how a failure ended
//! (`crate::error`).

mod outcome;
mod reason;

use std::sync::Arc;

pub use outcome::Outcome;
pub use reason::DirtyReason;

#[derive(Debug)]
pub enum Event<'a> {
    /// The run starts: a status line may show from now on.
    Started,
    /// What runs now, and how far the run is.
    Progress {
        running: Vec<&'a str>,
        done: usize,
        total: usize,
    },
    /// A stage waits for a path another pipe process holds (only a wait that lasts).
    Waiting {
        stage: &'a str,
        path: &'a str,
        holder: Option<&'a str>,
    },
    /// A stage starts running, for these reasons.
    Running {
        stage: &'a str,
        reasons: &'a [DirtyReason],
    },
    /// A stage failed and runs again: `attempt` of `attempts`, because it `why`.
    Retrying {
        stage: &'a str,
        attempt: u32,
        attempts: u32,
        why: String,
    },
    /// A dep changed while its stage ran: the outs are kept but not recorded as the result
    /// of any inputs.
    DepChangedDuringRun { stage: &'a str, path: &'a str },
    /// The local run cache's object for a stage was corrupt: quarantined, so the stage is
    /// not restored from it (it runs, or `--pull` fetches the object again).
    Quarantined { stage: &'a str, error: &'a str },
    /// `repro --pull` fetched a stage's objects from the remote.
    Pulled {
        stage: &'a str,
        objects: usize,
        bytes: u64,
        remote: &'a str,
    },
    /// `repro --pull`: the remote failed; with `off`, it is not used for the rest of the
    /// run (otherwise only this transfer failed, e.g. a corrupt object refused).
    RemoteFailed {
        remote: &'a str,
        error: String,
        off: bool,
    },
    /// A line a running stage printed (its log keeps it too).
    Output { stage: &'a str, line: &'a str },
    /// A cluster job of a stage changed state, as the executor sees it.
    Job {
        stage: &'a str,
        job: &'a str,
        state: JobState<'a>,
    },
    /// The cluster executor waits for its probe job (it checks that the nodes see the
    /// workspace) before the run starts.
    Probing { job: &'a str, why: &'a str },
    /// The executor could not do something that fails no stage (a record it could not
    /// write, a query it tries again, a cancel that may not have worked).
    ExecProblem { message: String },
    /// A stage is done, one way or another.
    Done {
        stage: &'a str,
        outcome: &'a Outcome,
    },
    /// A stage task panicked (a bug); the run stops starting stages.
    Panicked { error: String },
    /// Ctrl-C: `running` stages are being stopped.
    Interrupted { running: usize },
    /// SIGTERM.
    Terminated,
    /// The run is over: no status line any more.
    Ended,
}

/// What became of a stage's cluster job.
#[derive(Debug)]
pub enum JobState<'a> {
    /// Waiting in the cluster's queue, for `why` (Slurm's reason).
    Queued { why: &'a str },
    /// Running on `node`.
    Started { node: &'a str },
    /// An earlier pipe process submitted it for these very inputs: waited for, not
    /// submitted again.
    Adopted,
    /// An earlier pipe process's job for these inputs exited with `code`: submitted again.
    Resubmitting { code: i32 },
    /// An earlier pipe process's job computes the stage from inputs that have changed
    /// since: cancelled (it would write the same outs).
    Superseded,
}

/// Where a run's events go.
pub type Events = Arc<dyn Fn(Event<'_>) + Send + Sync>;
