//! The engine's view of built-in stages (`uses = "train"`): their signatures for validation,
//! and where the binary that runs them is. The stages themselves live in the `pipe-stages`
//! crate, behind the `torch` feature, and run in `pipe-torch` (src/bin/pipe-torch.rs), the
//! only binary that links libtorch: `pipe` itself never loads it, so its commands start in
//! milliseconds.

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
const UNAVAILABLE: Option<&str> =
    Some("this pipe was built without the `torch` feature, so it has no built-in stages");

/// The signature of built-in `name`, or a sentence saying why there is none.
pub fn signature(name: &str) -> Result<BuiltinSig, String> {
    if let Some(why) = UNAVAILABLE {
        return Err(format!("`uses = \"{name}\"`: {why}"));
    }
    let all = all();
    match all.iter().find(|s| s.name == name) {
        Some(s) => Ok(*s),
        None => {
            let names: Vec<&str> = all.iter().map(|s| s.name).collect();
            Err(format!(
                "unknown built-in stage `{name}` (built-ins: {})",
                names.join(", ")
            ))
        }
    }
}

/// The name of the binary that runs built-in stages, installed next to `pipe`.
pub const RUNNER: &str = "pipe-torch";

/// The `pipe-torch` next to this executable (`PIPE_TORCH` names another), or a sentence
/// saying why there is none.
pub fn runner() -> Result<PathBuf, String> {
    if let Some(why) = UNAVAILABLE {
        return Err(why.to_string());
    }
    let path = match std::env::var_os("PIPE_TORCH") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot locate the pipe binary: {e}"))?
            .with_file_name(RUNNER),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "built-in stages run in `{RUNNER}`, which is not at {} (it is built with pipe: \
             `cargo build --release` makes both; `cargo install` installs both)",
            path.display()
        ))
    }
}
