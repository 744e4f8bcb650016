//! The engine's errors, and the exit code each maps to.
//!
//! | exit | meaning |
//! |---|---|
//! | 0 | success |
//! | N | one stage failed by exiting with code N: pipe exits with the stage's own code |
//! | 128+N | one stage was killed by signal N (as a shell reports it) |
//! | 1 | a stage broke its contract (a declared out missing, a link out of the workspace), several stages failed, a cluster job ended in a scheduler state, or `merge-lock` left conflicts |
//! | 2 | bad input: the pipeline, params, config, a target, a missing file; a path in the workspace reached through a symbolic link that leads out of it (`pipe_cache::Error::Escapes`: the workspace is laid out so that pipe would write outside it, and it writes nothing) |
//! | 3 | the environment failed pipe: an unreadable file, a full disk, a remote; or its own output could not be written (stdout/stderr on a full disk, a closed pipe: the command still ran to its end, see `report::printer`) |
//! | 130 | interrupted (Ctrl-C) |
//! | 143 | terminated (SIGTERM) |
//!
//! Each room has its own error type, in that room, with its own `exit_code`
//! ([`ContractError`] in `run::contract`, [`SchedError`] in `sched`, ...); [`Error`] wraps
//! each and delegates to it, so an exit code follows from a type, never from a flag or a
//! message. A stage's failure in a run is a [`Failure`] (`failure.rs`); a command whose run
//! had failures fails with [`RunFailed`].

mod failure;

pub use failure::{Failure, RunFailed, StageExit};

use crate::builtin::BuiltinError;
use crate::exec::ExecError;
use crate::exec::slurm::SlurmError;
use crate::exp::ExpError;
use crate::graph::GraphError;
use crate::import::ImportError;
use crate::lock::LockError;
use crate::lock::merge::MergeError;
use crate::run::contract::ContractError;
use crate::sched::SchedError;
use crate::sharing::RemoteConfigError;
use crate::spec::SpecError;
use crate::workspace::WorkspaceError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Cache(#[from] pipe_cache::Error),
    #[error(transparent)]
    Lock(#[from] LockError),
    /// `pipe merge-lock`: one of the three locks is no lock.
    #[error(transparent)]
    LockMerge(#[from] MergeError),
    /// A target no stage is; an experiment the graph cannot instantiate.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// An experiment: an override, a record, a name.
    #[error(transparent)]
    Exp(#[from] ExpError),
    #[error(transparent)]
    Compare(#[from] crate::compare::error::CompareError),
    #[error(transparent)]
    Draw(#[from] crate::report::chart::DrawError),
    /// Boxed: the commands' errors carry paths and names, and `Result`s stay small.
    #[error(transparent)]
    Ops(Box<crate::ops::error::OpsError>),
    #[error(transparent)]
    Runtime(#[from] crate::session::RuntimeError),
    /// Stages of a run failed (`repro`, `sweep`, `exp run`).
    #[error(transparent)]
    RunFailed(#[from] RunFailed),
    /// A stage broke its contract outside a run (`pipe add`, `import-dvc`).
    #[error(transparent)]
    Contract(Box<ContractError>),
    /// The scheduler could not do its part for a stage.
    #[error(transparent)]
    Sched(Box<SchedError>),
    #[error(transparent)]
    Builtin(#[from] BuiltinError),
    /// A remote: its configuration, or a transfer.
    #[error(transparent)]
    Remote(#[from] pipe_cache::remote::RemoteError),
    #[error(transparent)]
    RemoteConfig(#[from] RemoteConfigError),
    /// `pipe get`, `import`, `update`: the source, its rev, path or remote.
    #[error(transparent)]
    Import(Box<ImportError>),
    /// An executor could not start (the Slurm executor: its commands, its probe).
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// `.pipe/` could not be made (its configuration and cache errors are `Spec`, `Cache`).
    #[error(transparent)]
    Workspace(Box<WorkspaceError>),
    /// `pipe merge-lock`: stages changed on both sides (ours kept).
    #[error("{0} stage(s) conflict in the lock")]
    LockConflict(usize),
    #[error("interrupted")]
    Interrupted,
    /// Stopped by SIGTERM.
    #[error("terminated")]
    Terminated,
}

// Boxed: they are large, and `Error` is in every `Result`.
impl From<ContractError> for Error {
    fn from(e: ContractError) -> Self {
        Error::Contract(Box::new(e))
    }
}

impl From<ImportError> for Error {
    fn from(e: ImportError) -> Self {
        Error::Import(Box::new(e))
    }
}

impl From<SchedError> for Error {
    fn from(e: SchedError) -> Self {
        Error::Sched(Box::new(e))
    }
}

impl From<SlurmError> for Error {
    fn from(e: SlurmError) -> Self {
        Error::Exec(e.into())
    }
}

impl From<WorkspaceError> for Error {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::Config(s) => Error::Spec(s),
            WorkspaceError::Cache(c) => Error::Cache(c),
            other => Error::Workspace(Box::new(other)),
        }
    }
}

impl From<crate::ops::error::OpsError> for Error {
    fn from(e: crate::ops::error::OpsError) -> Self {
        Error::Ops(Box::new(e))
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::RunFailed(f) => f.exit_code(),
            Error::Exp(e) => e.exit_code(),
            Error::Graph(e) => e.exit_code(),
            Error::LockMerge(e) => e.exit_code(),
            Error::Contract(e) => e.exit_code(),
            Error::Sched(e) => e.exit_code(),
            Error::Builtin(e) => e.exit_code(),
            Error::Exec(e) => e.exit_code(),
            Error::Remote(e) if e.is_config() => 2,
            Error::Remote(_) => 3,
            Error::RemoteConfig(e) => e.exit_code(),
            Error::Import(e) => e.exit_code(),
            Error::LockConflict(_) => 1,
            Error::Compare(e) => e.exit_code(),
            Error::Draw(e) => e.exit_code(),
            Error::Ops(e) => e.exit_code(),
            Error::Runtime(_) => 3,
            Error::Spec(_) => 2,
            // The user's workspace leads out of itself: bad input, not a failing disk.
            Error::Cache(pipe_cache::Error::Escapes { .. }) => 2,
            Error::Cache(_) | Error::Lock(_) | Error::Workspace(_) => 3,
            Error::Interrupted => 130,
            Error::Terminated => 143,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
