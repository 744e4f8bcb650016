//! `pipe stages` and `pipe predict`.

use std::path::Path;

use crate::error::{Error, Result};
use crate::report::printer;

pub fn list() {
    let p = printer::get();
    if crate::builtin::unavailable().is_some() {
        p.data("This pipe was built without the `torch` feature: it has no built-in stages.");
        return;
    }
    let all = crate::builtin::all();
    let mut out = String::new();
    for s in all {
        out.push_str(&format!("{}\n    {}\n", s.name, s.summary));
        if !s.params.is_empty() {
            out.push_str(&format!("    params:  {}\n", s.params.join(", ")));
        }
        for (what, list) in [
            ("deps", s.deps),
            ("outs", s.outs),
            ("metrics", s.metrics),
            ("plots", s.plots),
        ] {
            for (i, d) in list.iter().enumerate() {
                out.push_str(&format!("    {what}[{i}]: {d}\n"));
            }
        }
    }
    p.data(out.trim_end());
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
    Err(Error::Env(format!("cannot run {}: {err}", exe.display())))
}
