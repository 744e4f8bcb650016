//! `pipe merge-lock BASE OURS THEIRS`: git's merge driver for lock files. Writes the result
//! to OURS; exits 1 (a conflict for git) when a stage changed differently on both sides.

use std::path::Path;

use crate::error::{Error, Result};
use crate::lock::merge::merge_texts;
use crate::report::printer;

pub fn merge_lock(base: &Path, ours: &Path, theirs: &Path) -> Result<()> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| Error::Env(format!("cannot read {}: {e}", p.display())))
    };
    let (text, conflicts) =
        merge_texts(&read(base)?, &read(ours)?, &read(theirs)?).map_err(Error::from)?;
    pipe_cache::fsutil::write_atomic(ours, text.as_bytes(), true)?;
    if conflicts.is_empty() {
        return Ok(());
    }
    for c in &conflicts {
        printer::get().warn(&format!(
            "stage {c} changed on both sides; kept ours (rerun it to settle)"
        ));
    }
    Err(Error::LockConflict(conflicts.len()))
}
