//! Why a stage is stale, as data: what `run::fresh` finds when it compares a stage with its
//! lock entry (the table of what is compared is in `run::fresh`'s header), what status and
//! `--dry` print and serialise, and what a [`super::Event::Running`] says.
//!
//! It lives here, below the rooms that decide and run, because events carry it: `events`
//! imports nothing of them.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DirtyReason {
    NeverRun,
    Forced,
    AlwaysChanged,
    CmdChanged {
        old: String,
        new: String,
    },
    ParamChanged {
        key: String,
        old: Option<String>,
        new: Option<String>,
    },
    EnvChanged {
        name: String,
    },
    DepChanged {
        path: String,
        old: Option<String>,
        new: Option<String>,
    },
    DepMissing {
        path: String,
    },
    DepChangedDuringRun {
        path: String,
    },
    OutsChanged,
    OutMissing {
        path: String,
    },
    OutChanged {
        path: String,
    },
    /// A directory out present in part (`pipe pull` of a path inside it).
    OutPartial {
        path: String,
        present: usize,
        total: usize,
    },
    UpstreamStale {
        stage: String,
    },
}

impl fmt::Display for DirtyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirtyReason::NeverRun => f.write_str("never run"),
            DirtyReason::Forced => f.write_str("forced"),
            DirtyReason::AlwaysChanged => f.write_str("always changed"),
            DirtyReason::CmdChanged { .. } => f.write_str("command changed"),
            DirtyReason::ParamChanged { key, old, new } => match (old, new) {
                (Some(o), Some(n)) => write!(f, "param {key} {o} -> {n}"),
                (None, Some(n)) => write!(f, "param {key} added ({n})"),
                (Some(o), None) => write!(f, "param {key} removed (was {o})"),
                (None, None) => write!(f, "param {key} changed"),
            },
            DirtyReason::EnvChanged { name } => write!(f, "env {name} changed"),
            DirtyReason::DepChanged { path, old, new } => match (old, new) {
                (None, _) => write!(f, "dep {path} added"),
                (_, None) => write!(f, "dep {path} removed"),
                _ => write!(f, "dep {path} changed"),
            },
            DirtyReason::DepMissing { path } => write!(f, "dep {path} missing"),
            DirtyReason::DepChangedDuringRun { path } => {
                write!(f, "dep {path} changed while the stage last ran")
            }
            DirtyReason::OutsChanged => f.write_str("outs changed"),
            DirtyReason::OutMissing { path } => write!(f, "out {path} missing"),
            DirtyReason::OutChanged { path } => write!(f, "out {path} modified"),
            DirtyReason::OutPartial {
                path,
                present,
                total,
            } => write!(
                f,
                "out {path} partially present ({present} of {total} files): `pipe pull {path}` brings the rest"
            ),
            DirtyReason::UpstreamStale { stage } => write!(f, "upstream stage {stage} will run"),
        }
    }
}
