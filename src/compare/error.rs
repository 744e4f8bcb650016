//! What can go wrong comparing: a target that names nothing, revisions git cannot read, a
//! column a table cannot be sorted by. Each message names what the user gave; the exit
//! code follows from the variant (2: bad input, 3: git itself failed, see
//! `crate::error`).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// `--sort KEY` on a sweep table: no such metric or param column.
    #[error("cannot sort by `{key}`: the table's columns are {}", columns.join(", "))]
    SortTable { key: String, columns: Vec<String> },
    /// `exp show --sort NAME`: no such metric.
    #[error("cannot sort by `{name}`: the metrics are {}", listed(metrics))]
    SortExps { name: String, metrics: Vec<String> },
    /// A target of `metrics`/`plots` that matches nothing (`role`: `metrics`, `plots`).
    #[error("`{target}` names no stage, sweep or {role} file of the pipeline")]
    NoTarget { target: String, role: String },
    #[error(
        "{} is not in a git repository, so there are no revisions to compare ({why}); \
         compare cells of a sweep with `pipe sweep NAME --diff A B`",
        root.display()
    )]
    NotARepo { root: PathBuf, why: String },
    #[error("no git repository to read revisions from")]
    NoRepo,
    #[error(
        "`{name}` is not a git revision of {} (a commit, branch or tag; or `workspace`)",
        root.display()
    )]
    NotARev { name: String, root: PathBuf },
    /// The lock file at a revision does not parse.
    #[error("{file} at {rev}: {why}")]
    LockAt {
        file: String,
        rev: String,
        why: String,
    },

    // --- git failed (exit 3) ---
    #[error("cannot run git (needed to read revisions): {0}")]
    Git(std::io::Error),
    #[error("cannot run git cat-file: {0}")]
    CatFileSpawn(std::io::Error),
    /// Its stdin or stdout was not piped (never, as spawned).
    #[error("git cat-file: no {0}")]
    CatFilePipe(&'static str),
    #[error("reading git cat-file: {0}")]
    CatFileRead(std::io::Error),
    #[error("git cat-file answered oddly: {0}")]
    CatFileOdd(String),
}

fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

impl CompareError {
    /// 2 for what the user gave; 3 when the environment (git) failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            CompareError::SortTable { .. }
            | CompareError::SortExps { .. }
            | CompareError::NoTarget { .. }
            | CompareError::NotARepo { .. }
            | CompareError::NoRepo
            | CompareError::NotARev { .. }
            | CompareError::LockAt { .. } => 2,
            CompareError::Git(_)
            | CompareError::CatFileSpawn(_)
            | CompareError::CatFilePipe(_)
            | CompareError::CatFileRead(_)
            | CompareError::CatFileOdd(_) => 3,
        }
    }
}

/// Why one metrics or plots file (in the workspace or at a revision) could not be read:
/// shown in its place, the rest of the table or chart still made.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    #[error("not UTF-8 text")]
    NotUtf8,
    #[error(
        "not committed to git at {rev}, and its cached copy ({object}) is not in the local cache (`pipe fetch` brings it from a remote)"
    )]
    NotCached { rev: String, object: String },
    #[error(transparent)]
    Metrics(#[from] super::flat::MetricsError),
    #[error(transparent)]
    Records(#[from] super::records::RecordsError),
}
