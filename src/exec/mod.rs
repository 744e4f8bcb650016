//! Executors: where a stage's process runs. The scheduler hands a [`Job`] to an
//! [`Executor`] and gets an [`Exit`] back; it does not care where the job ran.
//!
//! Two backends, one enum (not a trait hierarchy): the local executor runs the job as child
//! processes; the Slurm executor (`slurm`) submits it with `sbatch` and polls for its end,
//! the workspace and cache being on a filesystem the cluster's nodes share. A job carries a
//! [`Request`] that only the cluster executor reads. Executors print nothing: what a job
//! prints and what becomes of a cluster job are events of the run
//! ([`crate::events`]).
//!
//! A job that ran and failed is an [`Exit::Failed`] with its [`StageExit`] (a code, a
//! signal, a cluster state), from which pipe's exit code follows; an executor that could
//! not run the job at all returns an [`ExecError`].

pub mod local;
pub mod reaper;
pub mod slurm;

use std::ffi::OsString;
use std::path::PathBuf;

use tokio::sync::watch;

use crate::error::StageExit;
use crate::events::Events;

/// Why an executor could not run a job at all (as opposed to a job that failed: [`Exit`]).
/// Exit 3.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A process could not be started or waited for, or its log not written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The Slurm executor could not submit or follow the job (one error for every job of a
    /// submission that failed).
    #[error(transparent)]
    Slurm(std::sync::Arc<slurm::SlurmError>),
}

impl From<slurm::SlurmError> for ExecError {
    fn from(e: slurm::SlurmError) -> Self {
        ExecError::Slurm(std::sync::Arc::new(e))
    }
}

impl ExecError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ExecError::Io(_) => 3,
            ExecError::Slurm(e) => e.exit_code(),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub enum Program {
    /// Shell commands run in order with `sh -c`, stopping at the first failure.
    Shell(Vec<String>),
    /// A program with arguments (a built-in stage: pipe re-invoked on itself).
    Exec {
        program: PathBuf,
        args: Vec<OsString>,
    },
}

#[derive(Debug, Clone)]
pub struct Job {
    /// Prefix of each output line: the stage id.
    pub stage: String,
    pub program: Program,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    pub attempt: u32,
    /// What a cluster executor asks its scheduler for; the local executor ignores it.
    pub request: Request,
}

/// A job's request to a cluster scheduler, and what identifies it for re-attaching.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Request {
    /// The stage's name (without its cell): ready instances of one stage with equal
    /// requests go out as one job array.
    pub group: String,
    /// The instance's run-cache key: a job recorded by an earlier pipe process is adopted
    /// only when it computes the same thing.
    pub key: String,
    pub cpus: u32,
    /// Bytes; 0 = the cluster's default.
    pub mem: u64,
    pub gpus: u32,
    /// Wall time, seconds (else the executor's default).
    pub time: Option<u64>,
    pub partition: Option<String>,
    /// Run on the submitting host (`local = true`).
    pub local: bool,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// It failed: how (a code, a signal, a cluster job's end state), and whether another
    /// attempt may succeed (within the stage's `retries`).
    Failed {
        how: StageExit,
        retry: bool,
    },
    Cancelled,
    /// Submitted and left to run (`--detach`); a later run collects it.
    Detached {
        job: String,
    },
}

/// Cancellation shared by every running job: set once on Ctrl-C / SIGTERM.
#[derive(Clone)]
pub struct Cancel(watch::Receiver<bool>);

impl Cancel {
    pub fn new() -> (watch::Sender<bool>, Cancel) {
        let (tx, rx) = watch::channel(false);
        (tx, Cancel(rx))
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn cancelled(&mut self) {
        while !*self.0.borrow() {
            if self.0.changed().await.is_err() {
                // The sender is gone: nobody can cancel any more.
                std::future::pending::<()>().await;
            }
        }
    }
}

pub enum Executor {
    Local,
    Slurm(std::sync::Arc<slurm::Slurm>),
}

impl Executor {
    /// Runs `job`; what it prints and how its cluster job fares go to `events`.
    pub async fn run(&self, job: &Job, cancel: Cancel, events: &Events) -> Result<Exit, ExecError> {
        match self {
            Executor::Local => Ok(local::run(job, cancel, events).await?),
            Executor::Slurm(s) => s.run(job, cancel).await,
        }
    }

    /// Whether a job that an earlier pipe process submitted for this very instance (`key`:
    /// its run-cache key) is still running or ended well: then the next [`Executor::run`]
    /// for `stage` waits for that job instead of submitting one, and the stage's outs must
    /// not be moved aside (the job is writing them).
    pub fn adopt(&self, stage: &str, key: &str) -> bool {
        match self {
            Executor::Local => false,
            Executor::Slurm(s) => s.adopt(stage, key),
        }
    }
}
