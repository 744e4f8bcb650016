//! The one error type a built-in returns.
//!
//! Every variant that comes from the disk or from the user's data names the file (and the
//! line, for label files), because the engine prints it as the stage's last word:
//! `error: data/01_raw/x/train/fp/seq3/labels/frame_000004.txt:2: expected 5 or 6 columns`.
//! File-system calls go through `fs_err`, whose `io::Error`s already carry the path.

use std::path::{Path, PathBuf};

use crate::params::ParamError;

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("unknown built-in stage `{0}`")]
    Unknown(String),
    /// The stage declared a different number of paths than the built-in's signature.
    #[error("built-in `{uses}` takes {expected} {kind} path(s) ({what}), the stage gives {got}")]
    Arity {
        uses: String,
        kind: &'static str,
        expected: usize,
        got: usize,
        what: String,
    },
    #[error(transparent)]
    Params(#[from] ParamError),
    /// From `fs_err`: the message already names the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Malformed input data: a label file, a layout, a model-input index, a package member.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Data {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("libtorch: {context}: {source}")]
    Torch {
        context: String,
        #[source]
        source: tch::TchError,
    },
    /// A configuration that cannot work (a grid that does not divide the patch, no branch).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Other(String),
}

impl StageError {
    pub fn data(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        StageError::Data {
            path: path.as_ref().to_path_buf(),
            line: None,
            message: message.into(),
        }
    }

    pub fn data_at(path: impl AsRef<Path>, line: usize, message: impl Into<String>) -> Self {
        StageError::Data {
            path: path.as_ref().to_path_buf(),
            line: Some(line),
            message: message.into(),
        }
    }

    /// For `map_err`: wraps a libtorch error with what was being done.
    pub fn torch(context: impl Into<String>) -> impl FnOnce(tch::TchError) -> StageError {
        let context = context.into();
        move |source| StageError::Torch { context, source }
    }

    pub fn json(path: impl AsRef<Path>) -> impl FnOnce(serde_json::Error) -> StageError {
        let path = path.as_ref().to_path_buf();
        move |source| StageError::Json { path, source }
    }
}
