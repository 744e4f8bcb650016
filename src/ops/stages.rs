//! `pipe stages`, `pipe predict`, and `pipe builtin` (the child side of a built-in stage).

use std::path::Path;

use crate::error::{Error, Result};
use crate::report::printer;

pub fn list() {
    let all = crate::builtin::all();
    let p = printer::get();
    if all.is_empty() {
        p.data("This pipe was built without the `torch` feature: it has no built-in stages.");
        return;
    }
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

#[cfg(feature = "torch")]
pub fn run_builtin(invocation: &Path) -> Result<()> {
    let text = std::fs::read_to_string(invocation)
        .map_err(|e| Error::Env(format!("cannot read {}: {e}", invocation.display())))?;
    let inv: pipe_stages::Invocation = serde_json::from_str(&text).map_err(|e| {
        Error::User(format!(
            "{}: not a built-in invocation: {e}",
            invocation.display()
        ))
    })?;
    pipe_stages::run(&inv).map_err(|e| Error::StageFailed(e.to_string()))
}

#[cfg(feature = "torch")]
pub fn predict(package: &Path, seq_dir: &Path, device: &str) -> Result<()> {
    let p =
        pipe_stages::predict(package, seq_dir, device).map_err(|e| Error::User(e.to_string()))?;
    let json = serde_json::to_string_pretty(&p).map_err(|e| Error::Env(e.to_string()))?;
    printer::get().data(&json);
    Ok(())
}

#[cfg(not(feature = "torch"))]
pub fn run_builtin(_: &Path) -> Result<()> {
    Err(Error::User(
        crate::builtin::signature("").err().unwrap_or_default(),
    ))
}

#[cfg(not(feature = "torch"))]
pub fn predict(_: &Path, _: &Path, _: &str) -> Result<()> {
    Err(Error::User(
        "this pipe was built without the `torch` feature; `pipe predict` needs it".into(),
    ))
}
