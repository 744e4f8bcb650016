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
                (Some(o), Some(n)) => {
                    let at = first_difference(o, n);
                    write!(f, "param {key} {} -> {}", shown(o, at), shown(n, at))
                }
                (None, Some(n)) => write!(f, "param {key} added ({})", shown(n, 0)),
                (Some(o), None) => write!(f, "param {key} removed (was {})", shown(o, 0)),
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

/// The longest value a reason shows whole, in characters.
const SHOWN: usize = 80;

/// The character index where `a` and `b` first differ.
fn first_difference(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// A param's value as a reason shows it: whole when short, else 60 characters around
/// character `at` (where it differs from the other side) and its length, so a changed
/// megabyte of text is one line that still shows what changed.
fn shown(v: &str, at: usize) -> String {
    let n = v.chars().count();
    if n <= SHOWN {
        return v.to_string();
    }
    let start = at.saturating_sub(20).min(n.saturating_sub(60));
    let part: String = v.chars().skip(start).take(60).collect();
    let head = if start > 0 { "..." } else { "" };
    let tail = if start + 60 < n { "..." } else { "" };
    format!("{head}{part}{tail} ({} bytes)", v.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_param_value_is_shown_around_its_change() {
        let old = format!("{}x{}", "a".repeat(50_000), "b".repeat(50_000));
        let new = format!("{}y{}", "a".repeat(50_000), "b".repeat(50_000));
        let r = DirtyReason::ParamChanged {
            key: "k".into(),
            old: Some(old),
            new: Some(new),
        }
        .to_string();
        assert!(r.len() < 200, "{r}");
        let a20 = "a".repeat(20);
        assert!(
            r.contains(&format!("...{a20}x")) && r.contains(&format!("...{a20}y")),
            "{r}"
        );
        assert!(r.contains("(100001 bytes)"), "{r}");
        let short = DirtyReason::ParamChanged {
            key: "lr".into(),
            old: Some("0.1".into()),
            new: Some("0.2".into()),
        };
        assert_eq!(short.to_string(), "param lr 0.1 -> 0.2");
        let added = DirtyReason::ParamChanged {
            key: "t".into(),
            old: None,
            new: Some("é".repeat(100)),
        };
        assert!(
            added
                .to_string()
                .starts_with(&format!("param t added ({}...", "é".repeat(60)))
        );
    }
}
