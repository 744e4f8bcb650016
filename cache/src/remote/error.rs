//! Errors of remotes: one clear sentence each, naming the remote (and the object or path).
//!
//! Classified for the retry policy: `is_transient` (worth another attempt: a dropped
//! connection, a timeout, a 5xx) and `is_fatal` (stop every transfer now: nothing else will
//! work either, e.g. an unreachable endpoint, refused credentials, a missing bucket, pipe
//! stopping). A refused object (`Refused`, `RefusedRaw`: not a regular file, too large) is neither: it is
//! reported like a corrupt one and the other transfers go on.

use std::io;
use std::path::PathBuf;

use crate::Digest;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("remote `{remote}` cannot be reached at {at}: {detail}{}", gave_up(*.attempts))]
    Unreachable {
        remote: String,
        at: String,
        detail: String,
        attempts: u32,
    },
    #[error(
        "remote `{remote}` refused the credentials ({detail}); pipe takes them from \
         AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the AWS profile (AWS_PROFILE or the remote's \
         `profile`), or access_key_id/secret_access_key in .pipe/config.local.toml"
    )]
    Auth { remote: String, detail: String },
    #[error("remote `{remote}`: {what} `{name}` does not exist (check the remote's url)")]
    NoBucket {
        remote: String,
        /// "bucket", "container" or "directory"
        what: &'static str,
        name: String,
    },
    #[error(
        "object {digest} from remote `{remote}` is corrupt: its content hashes to {actual}; \
         it was not stored in the local cache"
    )]
    Corrupt {
        remote: String,
        digest: Digest,
        actual: Digest,
    },
    #[error("remote `{remote}` does not have object {digest}")]
    Missing { remote: String, digest: Digest },
    /// Not what pipe ever stores under that name (a FIFO, a device, a directory, a link,
    /// more bytes than expected): refused before or while reading, like a corrupt object.
    #[error(
        "{what} {digest} from remote `{remote}` is corrupt: it {why} ({at}); it was not stored \
         in the local cache"
    )]
    Refused {
        remote: String,
        /// "object", "run-cache record", "experiment record"
        what: &'static str,
        digest: Digest,
        /// Its path on a directory remote, its key on an object store.
        at: String,
        why: String,
    },
    /// What was read by key in another tool's layout (`Remote::read_raw`,
    /// `Remote::download_raw`) is not a regular file, or is larger than pipe reads whole.
    #[error("remote `{remote}`: {at} {why}; it was not stored in the local cache")]
    RefusedRaw {
        remote: String,
        /// Its path on a directory remote, its key on an object store.
        at: String,
        why: String,
    },
    /// pipe is stopping (Ctrl-C, SIGTERM): the transfer was abandoned.
    #[error("remote `{remote}`: transfer abandoned, pipe is stopping")]
    Stopped { remote: String },
    #[error("remote `{remote}`: {detail}{}", gave_up(*.attempts))]
    Failed {
        remote: String,
        detail: String,
        transient: bool,
        attempts: u32,
    },
    #[error("remote `{remote}`: cannot {op} {}: {err}", path.display())]
    Io {
        remote: String,
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error(transparent)]
    Local(#[from] crate::Error),
    #[error("remote `{remote}`: {msg}")]
    Config { remote: String, msg: String },
}

fn gave_up(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (gave up after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl RemoteError {
    /// Worth another attempt.
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Unreachable { .. } => true,
            RemoteError::Failed { transient, .. } => *transient,
            RemoteError::Io { err, .. } => matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    /// Nothing else will work either: stop every transfer.
    pub fn is_fatal(&self) -> bool {
        match self {
            RemoteError::Unreachable { .. }
            | RemoteError::Auth { .. }
            | RemoteError::NoBucket { .. }
            | RemoteError::Config { .. }
            | RemoteError::Stopped { .. } => true,
            RemoteError::Failed { transient, .. } => *transient,
            RemoteError::Io { err, .. } => matches!(
                err.kind(),
                io::ErrorKind::StorageFull
                    | io::ErrorKind::PermissionDenied
                    | io::ErrorKind::ReadOnlyFilesystem
                    | io::ErrorKind::QuotaExceeded
            ),
            RemoteError::Local(e) => e.io_kind().is_some_and(|k| {
                matches!(
                    k,
                    io::ErrorKind::StorageFull
                        | io::ErrorKind::PermissionDenied
                        | io::ErrorKind::QuotaExceeded
                )
            }),
            RemoteError::Corrupt { .. }
            | RemoteError::Missing { .. }
            | RemoteError::Refused { .. }
            | RemoteError::RefusedRaw { .. } => false,
        }
    }

    /// Records how many attempts were made before giving up.
    pub fn after_attempts(mut self, n: u32) -> Self {
        match &mut self {
            RemoteError::Unreachable { attempts, .. } | RemoteError::Failed { attempts, .. } => {
                *attempts = n
            }
            _ => {}
        }
        self
    }

    /// A configuration problem (exit code 2 rather than 3 in the engine).
    pub fn is_config(&self) -> bool {
        matches!(self, RemoteError::Config { .. })
    }
}
