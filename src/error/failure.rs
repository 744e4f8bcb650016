//! A stage's failure in a run, typed: what the scheduler reports for it, what `Failed ...`
//! says, and the exit code pipe exits with when it is the run's failure.
//!
//! | failure | what happened | exit |
//! |---|---|---|
//! | [`Failure::Command`] | the stage's command exited non-zero, was killed, or its cluster job ended in a scheduler state ([`StageExit`]) | the command's own code, 128 + a signal, else 1 |
//! | [`Failure::Contract`] | the command succeeded, but the stage broke its contract ([`ContractError`]: a declared out missing, a symbolic link in an out) | 1 |
//! | [`Failure::Pipe`] | pipe could not do its part (lock a path, observe, move the outs aside, start the command, store the outs) | the error's own (2 bad input, 3 environment) |
//!
//! In the first two the outs were put back as they were before the run; when putting them
//! back failed too, the failure says so. [`RunFailed`] is the error of a command whose run
//! had failures: the first, and how many.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::graph::StageId;
use crate::run::contract::ContractError;

use super::Error;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The stage's command failed.
    #[error("stage `{stage}` {exit}{}", Restore(restore.as_ref(), "its"))]
    Command {
        stage: StageId,
        exit: StageExit,
        log: PathBuf,
        /// Why the outs could not be put back, if they could not.
        restore: Option<pipe_cache::Error>,
    },
    /// The command succeeded, but the stage broke its contract.
    #[error("{error}{}", Restore(restore.as_ref(), "the"))]
    Contract {
        error: ContractError,
        log: PathBuf,
        /// Why the outs could not be put back, if they could not.
        restore: Option<pipe_cache::Error>,
    },
    /// pipe could not do its part.
    #[error(transparent)]
    Pipe(Error),
}

impl Failure {
    /// The stage's log, when its command ran.
    pub fn log(&self) -> Option<&Path> {
        match self {
            Failure::Command { log, .. } | Failure::Contract { log, .. } => Some(log),
            Failure::Pipe(_) => None,
        }
    }

    /// pipe's exit status when this is the run's only failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Command { exit, .. } => exit.status(),
            Failure::Contract { error, .. } => error.exit_code(),
            Failure::Pipe(e) => e.exit_code(),
        }
    }
}

/// `; restoring its previous outs failed: ...`, when they could not be put back.
struct Restore<'a>(Option<&'a pipe_cache::Error>, &'static str);

impl fmt::Display for Restore<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(e) => write!(f, "; restoring {} previous outs failed: {e}", self.1),
            None => Ok(()),
        }
    }
}

/// How a stage's command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageExit {
    /// It exited with this code (never 0).
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
    /// It failed with neither a code nor a signal.
    Unknown,
    /// Its cluster job ended in a state of the scheduler's (FAILED with its code, TIMEOUT,
    /// OUT_OF_MEMORY, CANCELLED, NODE_FAIL, PREEMPTED, ...): `detail` says which, whose job
    /// and where its log is.
    Cluster { state: String, detail: String },
}

impl StageExit {
    /// From a process's exit status: its code, else the signal that killed it.
    pub fn of(code: Option<i32>, signal: Option<i32>) -> StageExit {
        match (code, signal) {
            (Some(c), _) => StageExit::Code(c),
            (None, Some(s)) => StageExit::Signal(s),
            (None, None) => StageExit::Unknown,
        }
    }

    /// pipe's exit status for it: the command's own code, 128 + a signal (as a shell says
    /// it), else 1.
    pub fn status(&self) -> u8 {
        match self {
            StageExit::Code(c) => u8::try_from(*c).ok().filter(|c| *c != 0).unwrap_or(1),
            StageExit::Signal(s) => match u8::try_from(*s) {
                Ok(s @ 1..=127) => 128 + s,
                _ => 1,
            },
            StageExit::Unknown | StageExit::Cluster { .. } => 1,
        }
    }
}

/// What follows `stage `x``: `exited with code 3`, `was killed by signal 9`, ...
impl fmt::Display for StageExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StageExit::Code(c) => write!(f, "exited with code {c}"),
            StageExit::Signal(s) => write!(f, "was killed by signal {s}"),
            StageExit::Unknown => f.write_str("failed"),
            StageExit::Cluster { detail, .. } => f.write_str(detail),
        }
    }
}

/// The error of a command whose run had failures: the first (in the selection's order) and
/// how many there were.
#[derive(Debug)]
pub struct RunFailed {
    pub stage: StageId,
    pub first: Box<Failure>,
    pub count: usize,
}

impl RunFailed {
    /// One failure: its own code. Several: 1, unless the first is pipe's own failure (the
    /// environment fails every stage alike), whose code it is.
    pub fn exit_code(&self) -> u8 {
        match (self.count, &*self.first) {
            (1, f) => f.exit_code(),
            (_, Failure::Pipe(e)) => e.exit_code(),
            _ => 1,
        }
    }
}

impl std::error::Error for RunFailed {}

impl fmt::Display for RunFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 1 {
            return self.first.fmt(f);
        }
        write!(
            f,
            "{} stages failed, the first {}: {}",
            self.count, self.stage, self.first
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commands_code_or_signal_is_pipes_status() {
        assert_eq!(StageExit::Code(3).status(), 3);
        assert_eq!(StageExit::Code(255).status(), 255);
        assert_eq!(StageExit::Code(256).status(), 1);
        assert_eq!(StageExit::Signal(9).status(), 137);
        assert_eq!(StageExit::Signal(15).status(), 143);
        assert_eq!(StageExit::Unknown.status(), 1);
        let timeout = StageExit::Cluster {
            state: "TIMEOUT".into(),
            detail: "ended TIMEOUT".into(),
        };
        assert_eq!(timeout.status(), 1);
        assert_eq!(
            StageExit::of(Some(2), None).to_string(),
            "exited with code 2"
        );
        assert_eq!(
            StageExit::of(None, Some(9)).to_string(),
            "was killed by signal 9"
        );
        assert_eq!(StageExit::of(None, None).to_string(), "failed");
    }

    fn command(stage: &str, code: i32) -> Box<Failure> {
        Box::new(Failure::Command {
            stage: StageId::new(stage, None),
            exit: StageExit::Code(code),
            log: PathBuf::from("/w/.pipe/logs/a.log"),
            restore: None,
        })
    }

    #[test]
    fn a_runs_failure_is_its_first_stages_and_several_exit_1_unless_pipe_failed_first() {
        let one = RunFailed {
            stage: StageId::new("a", None),
            first: command("a", 4),
            count: 1,
        };
        assert_eq!(one.to_string(), "stage `a` exited with code 4");
        assert_eq!(one.exit_code(), 4);
        let several = RunFailed { count: 2, ..one };
        assert_eq!(
            several.to_string(),
            "2 stages failed, the first a: stage `a` exited with code 4"
        );
        assert_eq!(several.exit_code(), 1);
        let env = RunFailed {
            stage: StageId::new("a", None),
            first: Box::new(Failure::Pipe(Error::from(
                crate::ops::error::OpsError::Read {
                    path: "/w/x".into(),
                    err: std::io::Error::other("disk full"),
                },
            ))),
            count: 2,
        };
        assert_eq!(env.exit_code(), 3);
        assert_eq!(env.first.log(), None);
        assert_eq!(several.first.log(), Some(Path::new("/w/.pipe/logs/a.log")));
    }
}
