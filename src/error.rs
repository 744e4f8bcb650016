//! The engine's errors, and the exit code each maps to.
//!
//! | exit | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | a stage failed (its own exit code and log are in the message) |
//! | 2 | bad input: the pipeline, params, config, a target, a missing file |
//! | 3 | the environment failed pipe: an unreadable file, a full disk, a remote |
//! | 130 | interrupted (Ctrl-C / SIGTERM) |

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
    #[error("{0}")]
    User(String),
    #[error("{0}")]
    StageFailed(String),
    #[error("interrupted")]
    Interrupted,
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

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::StageFailed(_) => 1,
            Error::Spec(_) | Error::User(_) => 2,
            Error::Cache(_) | Error::Lock(_) | Error::Env(_) => 3,
            Error::Interrupted => 130,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
