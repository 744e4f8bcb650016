//! What can go wrong bringing data in from another repository: each one sentence naming
//! the source, the rev, the path or the object. Exit 2 for what the user asked wrongly (a
//! rev or path the source does not have, an out that is in the way), 3 for what the
//! environment did (git or a remote could not be reached, objects missing or corrupt).

use pipe_cache::remote::RemoteError;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source at the pinned commit no longer gives what the lock records.
    #[error(
        "`{path}` from {url} at {commit} does not hash to what pipe.lock records for it: the source was rewritten; run `pipe update {path}` to import what it holds now"
    )]
    SourceChanged {
        path: String,
        url: String,
        commit: String,
    },
    /// The local cache failed while the fetched objects were stored.
    #[error(transparent)]
    Local(#[from] pipe_cache::Error),
    /// git could not clone, fetch or read the source.
    #[error("cannot read the git repository `{repo}`: {why}")]
    Git { repo: String, why: String },
    #[error("`{rev}` is not a tag, branch or commit of `{repo}`")]
    UnknownRev { repo: String, rev: String },
    #[error(
        "`{path}` is not tracked by `{repo}` at {rev} (no out, tracked data or .dvc file of it holds it)"
    )]
    NotTracked {
        repo: String,
        rev: String,
        path: String,
    },
    /// The source's pipeline, lock, `.dvc` file or config at that rev does not read.
    #[error("`{repo}` at {rev}: {why}")]
    Metadata {
        repo: String,
        rev: String,
        why: String,
    },
    #[error(
        "`{repo}` at {rev} configures no default remote to fetch `{path}` from: pass `--remote NAME`"
    )]
    NoRemote {
        repo: String,
        rev: String,
        path: String,
    },
    #[error("`{repo}`'s remote `{url}` cannot be used from here: {why}")]
    RemoteUrl {
        repo: String,
        url: String,
        why: String,
    },
    /// `err` names the remote already; the source it belongs to is said after it.
    #[error("{err} (`{remote}` is a remote of `{repo}`)")]
    Remote {
        repo: String,
        remote: String,
        err: Box<RemoteError>,
    },
    #[error(
        "{} object(s) of `{path}` are missing on `{repo}`'s remote `{remote}` (first: {})",
        objects.len(),
        objects.first().map(String::as_str).unwrap_or("-")
    )]
    Missing {
        repo: String,
        remote: String,
        path: String,
        objects: Vec<String>,
    },
    #[error("object {object} on `{repo}`'s remote `{remote}` is corrupt: {why}")]
    Corrupt {
        repo: String,
        remote: String,
        object: String,
        why: String,
    },
    /// A source's failure while `pipe pull` fetches the imported `out` from it.
    #[error("`{out}` (imported data our remote lacks) cannot be fetched from its source: {err}")]
    ForOut { out: String, err: Box<ImportError> },
    #[error("`{out}` already exists: remove it or pass another `-o`")]
    OutExists { out: String },
    #[error("{0}")]
    BadArgument(String),
}

impl ImportError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ImportError::ForOut { err, .. } => err.exit_code(),
            ImportError::UnknownRev { .. }
            | ImportError::NotTracked { .. }
            | ImportError::Metadata { .. }
            | ImportError::NoRemote { .. }
            | ImportError::RemoteUrl { .. }
            | ImportError::OutExists { .. }
            | ImportError::BadArgument(_) => 2,
            ImportError::Remote { err, .. } if err.is_config() => 2,
            ImportError::Local(pipe_cache::Error::Escapes { .. }) => 2,
            ImportError::Git { .. }
            | ImportError::Local(_)
            | ImportError::Remote { .. }
            | ImportError::Missing { .. }
            | ImportError::SourceChanged { .. }
            | ImportError::Corrupt { .. } => 3,
        }
    }
}
