//! `pipe merge-lock BASE OURS THEIRS`: git's merge driver for lock files. Writes the result
//! to OURS; exits 1 (a conflict for git) when a stage changed differently on both sides.

use std::path::Path;

use crate::error::{Error, Result};
use crate::lock::merge::merge_texts;

use super::error::OpsError;
use crate::report::printer::Printer;

pub fn merge_lock(p: &Printer, base: &Path, ours: &Path, theirs: &Path) -> Result<()> {
    let read = |p: &Path| -> Result<String> {
        std::fs::read_to_string(p).map_err(|err| {
            OpsError::Read {
                path: p.to_path_buf(),
                err,
            }
            .into()
        })
    };
    let (text, conflicts) =
        merge_texts(&read(base)?, &read(ours)?, &read(theirs)?).map_err(Error::from)?;
    pipe_cache::fsutil::write_atomic(ours, text.as_bytes(), true)?;
    if conflicts.is_empty() {
        return Ok(());
    }
    for c in &conflicts {
        p.warn(&format!(
            "stage {c} changed on both sides; kept ours (rerun it to settle)"
        ));
    }
    Err(Error::LockConflict(conflicts.len()))
}
