//! What can go wrong with an experiment in this room: an override on the command line, a
//! record on disk, a name no experiment has. [`ExpError::exit_code`] says which is the
//! user's (2) and which the environment's (3); `crate::error::Error` wraps it.

use std::path::PathBuf;

use super::ExpName;
use crate::spec::sweep::OverrideError;

#[derive(Debug, thiserror::Error)]
pub enum ExpError {
    /// `-S ARG` without `=`.
    #[error("-S {arg}: an override is KEY=VALUE (e.g. -S train.lr=0.01)")]
    OverrideShape { arg: String },
    #[error("-S {arg}: `{key}` is overridden twice")]
    OverriddenTwice { arg: String, key: String },
    /// The key is no param, or the value is not of its type.
    #[error("-S {arg}: {e}")]
    Override { arg: String, e: OverrideError },
    /// `find`: no record of that name; `others`: up to 10 that exist.
    #[error("{}", not_found(name, others))]
    NotFound { name: ExpName, others: Vec<String> },
    /// A name given on the command line that cannot name an experiment.
    #[error(transparent)]
    Name(#[from] super::NameError),
    #[error("{0}")]
    Encode(serde_json::Error),
    #[error("{from}: not an experiment record: {e}")]
    NotARecord { from: String, e: serde_json::Error },
    #[error("{}: it is the record of experiment `{found}`, not of `{name}`", path.display())]
    NotItsRecord {
        path: PathBuf,
        found: ExpName,
        name: ExpName,
    },
    #[error("cannot read {}: {e}", path.display())]
    Read { path: PathBuf, e: std::io::Error },
    /// A write through records opened to read only (another workspace's, for gc).
    #[error("{}: experiment records opened to read only", .0.display())]
    ReadOnly(PathBuf),
}

fn not_found(name: &ExpName, others: &[String]) -> String {
    if others.is_empty() {
        format!("no experiment `{name}`: there are none (run `pipe exp run -S KEY=VALUE`)")
    } else {
        format!(
            "no experiment `{name}` (experiments: {})",
            others.join(", ")
        )
    }
}

impl ExpError {
    /// 2: the command line named what is not there or not so; 3: a record on disk.
    pub fn exit_code(&self) -> u8 {
        match self {
            ExpError::OverrideShape { .. }
            | ExpError::OverriddenTwice { .. }
            | ExpError::Override { .. }
            | ExpError::NotFound { .. }
            | ExpError::Name(_) => 2,
            ExpError::Encode(_)
            | ExpError::NotARecord { .. }
            | ExpError::NotItsRecord { .. }
            | ExpError::Read { .. }
            | ExpError::ReadOnly(_) => 3,
        }
    }
}
