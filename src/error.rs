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

use crate::lock::LockError;
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
    #[error(transparent)]
    Compare(#[from] crate::compare::error::CompareError),
    #[error(transparent)]
    Draw(#[from] crate::report::chart::DrawError),
    /// Boxed: the commands' errors carry paths and names, and `Result`s stay small.
    #[error(transparent)]
    Ops(Box<crate::ops::error::OpsError>),
    #[error(transparent)]
    Runtime(#[from] crate::session::RuntimeError),
    #[error("{0}")]
    User(String),
    /// A stage failed; `exit` is what pipe's own exit status says about it.
    #[error("{msg}")]
    StageFailed { msg: String, exit: StageExit },
    /// `pipe merge-lock`: stages changed on both sides (ours kept).
    #[error("{0} stage(s) conflict in the lock")]
    LockConflict(usize),
    #[error("interrupted")]
    Interrupted,
    /// Stopped by SIGTERM.
    #[error("terminated")]
    Terminated,
    #[error("{0}")]
    Env(String),
}

impl From<WorkspaceError> for Error {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::Config(s) => Error::Spec(s),
            WorkspaceError::Cache(c) => Error::Cache(c),
            other => Error::Env(other.to_string()),
        }
    }
}

impl From<crate::ops::error::OpsError> for Error {
    fn from(e: crate::ops::error::OpsError) -> Self {
        Error::Ops(Box::new(e))
    }
}

/// How a failed stage ended, as far as pipe's exit status tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageExit {
    /// Its command exited with this code (never 0).
    Code(u8),
    /// It was killed by this signal.
    Signal(u8),
    /// It broke its contract (a declared out missing, a symbolic link in an out), a
    /// cluster job ended in a scheduler state, or several stages failed.
    Other,
}

impl StageExit {
    /// pipe's exit status for it: the stage's own code, 128 + a signal, else 1.
    pub fn status(self) -> u8 {
        match self {
            StageExit::Code(c) => c,
            StageExit::Signal(s) => 128u8.saturating_add(s),
            StageExit::Other => 1,
        }
    }
}

impl Error {
    /// A stage's failure that is no command's exit (a broken contract).
    pub fn stage(msg: impl Into<String>) -> Error {
        Error::StageFailed {
            msg: msg.into(),
            exit: StageExit::Other,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::StageFailed { exit, .. } => exit.status(),
            Error::LockConflict(_) => 1,
            Error::Compare(e) => e.exit_code(),
            Error::Draw(e) => e.exit_code(),
            Error::Ops(e) => e.exit_code(),
            Error::Runtime(_) => 3,
            Error::Spec(_) | Error::User(_) => 2,
            // The user's workspace leads out of itself: bad input, not a failing disk.
            Error::Cache(pipe_cache::Error::Escapes { .. }) => 2,
            Error::Cache(_) | Error::Lock(_) | Error::Env(_) => 3,
            Error::Interrupted => 130,
            Error::Terminated => 143,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
