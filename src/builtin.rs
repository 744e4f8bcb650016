//! The engine's view of built-in stages (`uses = "train"`): their signatures for validation,
//! and where the binary that runs them is. The stages themselves live in the `pipe-stages`
//! crate, behind the `torch` feature, and run in `pipe-torch` (src/bin/pipe-torch.rs), the
//! only binary that links libtorch: `pipe` itself never loads it, so its commands start in
//! milliseconds. Why a built-in cannot be validated or run is a [`BuiltinError`] (exit 2).

use std::path::PathBuf;

/// What a built-in reads and writes (the table lives in `pipe-stage-api`, which links no
/// libtorch).
pub use pipe_stage_api::Signature as BuiltinSig;

/// Every built-in, in pipeline order.
pub fn all() -> Vec<BuiltinSig> {
    pipe_stage_api::signatures().to_vec()
}

/// The built-ins' versions, part of a built-in stage's run-cache key.
pub fn version() -> Option<String> {
    UNAVAILABLE.is_none().then(pipe_stage_api::version)
}

/// Why this pipe has no built-in stages, if it has none.
pub fn unavailable() -> Option<&'static str> {
    UNAVAILABLE
}

#[cfg(feature = "torch")]
const UNAVAILABLE: Option<&str> = None;
#[cfg(not(feature = "torch"))]
const UNAVAILABLE: Option<&str> = Some(NO_TORCH);
const NO_TORCH: &str =
    "this pipe was built without the `torch` feature, so it has no built-in stages";

/// Why a built-in cannot be validated or run. Exit 2.
#[derive(Debug, thiserror::Error)]
pub enum BuiltinError {
    /// A pipeline names a built-in, and this pipe has none.
    #[error("`uses = \"{name}\"`: {NO_TORCH}")]
    NoBuiltins { name: String },
    /// No built-in of this name.
    #[error("unknown built-in stage `{name}` (built-ins: {})", known.join(", "))]
    Unknown {
        name: String,
        known: Vec<&'static str>,
    },
    /// A built-in is to run, and this pipe has none.
    #[error("{NO_TORCH}")]
    NoRunner,
    #[error("cannot locate the pipe binary: {0}")]
    CurrentExe(std::io::Error),
    /// The runner is not where it should be.
    #[error(
        "built-in stages run in `{RUNNER}`, which is not at {} (the pipe-stages package builds \
         it: `cargo build --release -p pipe -p pipe-stages` makes both; `cargo install --path \
         stages` installs it beside `cargo install --path .`)",
        path.display()
    )]
    RunnerMissing { path: PathBuf },
}

impl BuiltinError {
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// The signature of built-in `name`.
pub fn signature(name: &str) -> Result<BuiltinSig, BuiltinError> {
    if UNAVAILABLE.is_some() {
        return Err(BuiltinError::NoBuiltins { name: name.into() });
    }
    let all = all();
    match all.iter().find(|s| s.name == name) {
        Some(s) => Ok(*s),
        None => Err(BuiltinError::Unknown {
            name: name.into(),
            known: all.iter().map(|s| s.name).collect(),
        }),
    }
}

/// The name of the binary that runs built-in stages, installed next to `pipe`.
pub const RUNNER: &str = "pipe-torch";

/// The `pipe-torch` next to this executable (`PIPE_TORCH` names another).
pub fn runner() -> Result<PathBuf, BuiltinError> {
    if UNAVAILABLE.is_some() {
        return Err(BuiltinError::NoRunner);
    }
    let path = match std::env::var_os("PIPE_TORCH") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .map_err(BuiltinError::CurrentExe)?
            .with_file_name(RUNNER),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(BuiltinError::RunnerMissing { path })
    }
}
