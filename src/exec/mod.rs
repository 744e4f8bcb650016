//! Executors: where a stage's process runs. The scheduler hands a [`Job`] to an
//! [`Executor`] and gets an [`Exit`] back; it does not care where the job ran.
//!
//! Only the local executor exists today. A cluster executor (Slurm: `sbatch` with the
//! stage's resources, a shared filesystem and cache, polling for state) is a variant of the
//! same enum: two backends need an enum, not a trait hierarchy.

pub mod local;
pub mod reaper;

use std::ffi::OsString;
use std::path::PathBuf;

use tokio::sync::watch;

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// Command number `command` (0-based) failed.
    Failed {
        command: usize,
        code: Option<i32>,
        signal: Option<i32>,
    },
    Cancelled,
}

impl Exit {
    pub fn describe(&self) -> String {
        match self {
            Exit::Success => "succeeded".into(),
            Exit::Failed { code: Some(c), .. } => format!("exited with code {c}"),
            Exit::Failed {
                signal: Some(s), ..
            } => format!("was killed by signal {s}"),
            Exit::Failed { .. } => "failed".into(),
            Exit::Cancelled => "was interrupted".into(),
        }
    }
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
}

impl Executor {
    pub async fn run(&self, job: &Job, cancel: Cancel) -> std::io::Result<Exit> {
        match self {
            Executor::Local => local::run(job, cancel).await,
        }
    }
}
