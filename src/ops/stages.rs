//! `pipe stages` and `pipe predict`.

use std::path::Path;

use crate::error::Result;

use super::error::OpsError;

/// The built-in stages' signatures; `None` when this pipe was built without them (the
/// `torch` feature).
pub fn list() -> Option<Vec<crate::builtin::BuiltinSig>> {
    if crate::builtin::unavailable().is_some() {
        return None;
    }
    Some(crate::builtin::all())
}

/// `pipe predict`: hands the process over to `pipe-torch predict` (the binary that links
/// libtorch), so its output and exit code are the prediction's own.
pub fn predict(package: &Path, seq_dir: &Path, device: &str) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = crate::builtin::runner()?;
    let err = std::process::Command::new(&exe)
        .arg("predict")
        .arg(package)
        .arg(seq_dir)
        .arg("--device")
        .arg(device)
        .exec();
    Err(OpsError::Exec { path: exe, err }.into())
}
