//! Errors of the cache crate: every I/O failure names the path and what was being done.

use std::io;
use std::path::{Path, PathBuf};

use crate::Digest;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("{}: {msg}", path.display())]
    Invalid { path: PathBuf, msg: String },
    #[error("cache object {digest} is corrupt: its content hashes to {actual}")]
    Corrupt { digest: Digest, actual: Digest },
    #[error("cache object {0} is missing from the cache")]
    Missing(Digest),
    /// An object that no longer holds what its name says, moved out of the way. `file` is
    /// the file of a directory out it was checked out for, when the store knows it.
    #[error(
        "{}cache object {digest} is corrupt ({why}); it was moved to {}",
        file.as_deref().map(|f| format!("{f}: ")).unwrap_or_default(),
        to.display()
    )]
    Quarantined {
        digest: Digest,
        why: String,
        to: PathBuf,
        file: Option<String>,
    },
    /// `path` (relative to `root`) is reached through `link`, a symbolic link that leads
    /// out of `root`: refused, nothing done (see `rootdir`).
    #[error(
        "cannot {op} `{path}`: `{link}` is a symbolic link to {}, which leads out of {}; pipe never writes, moves or removes anything outside it",
        target.display(),
        root.display()
    )]
    Escapes {
        op: &'static str,
        path: String,
        link: String,
        target: PathBuf,
        root: PathBuf,
    },
}

impl Error {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, err: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            err,
        }
    }

    pub fn invalid(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            msg: msg.into(),
        }
    }

    /// The underlying I/O error kind, when this is an I/O error.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { err, .. } => Some(err.kind()),
            _ => None,
        }
    }

    /// Puts `dir` (an out, or a directory in it) in front of the file a quarantined object
    /// was for; other errors are returned as they are.
    pub fn within(self, dir: &str) -> Self {
        match self {
            Error::Quarantined {
                digest,
                why,
                to,
                file,
            } => Error::Quarantined {
                digest,
                why,
                to,
                file: Some(match file {
                    Some(f) => format!("{dir}/{f}"),
                    None => dir.to_string(),
                }),
            },
            other => other,
        }
    }

    /// True when the path this error is about does not exist.
    pub fn is_not_found(&self) -> bool {
        self.io_kind() == Some(io::ErrorKind::NotFound)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `.at("read", path)` on any `io::Result`.
pub trait IoContext<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|err| Error::io(op, path, err))
    }
}
