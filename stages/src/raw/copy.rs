//! Copying sequences in the raw layout (import, truncate): images as they are, each label
//! file parsed on the way so that a malformed line fails here, with its file and line,
//! rather than three stages later; the kind (`kind.txt`), as `layout` read it.

use std::path::Path;

use rayon::prelude::*;

use crate::error::StageError;
use crate::raw::labels;
use crate::raw::layout::{KIND_FILE, Sequence};

/// Copies the first `limit` frames (all when `None`) of each sequence to `out/<rel>`, with
/// `rel` the sequence's path relative to the scanned root. Returns the frames copied.
pub fn copy_sequences(
    seqs: &[Sequence],
    out: &Path,
    rel_of: impl Fn(&Sequence) -> std::path::PathBuf + Sync,
    limit: Option<usize>,
) -> Result<usize, StageError> {
    let counts = seqs
        .par_iter()
        .map(|s| {
            let dest = out.join(rel_of(s));
            let (images, label_dir) = (dest.join("images"), dest.join("labels"));
            fs_err::create_dir_all(&images)?;
            fs_err::create_dir_all(&label_dir)?;
            if let Some(kind) = &s.kind {
                fs_err::write(dest.join(KIND_FILE), format!("{kind}\n"))?;
            }
            let frames = &s.frames[..limit.unwrap_or(usize::MAX).min(s.frames.len())];
            for f in frames {
                fs_err::copy(&f.image, images.join(&f.name))?;
                if let Some(label) = &f.label {
                    let text = fs_err::read_to_string(label)?;
                    labels::parse(&text, label)?;
                    let name = label.file_name().unwrap_or_default();
                    fs_err::write(label_dir.join(name), text)?;
                }
            }
            Ok(frames.len())
        })
        .collect::<Result<Vec<_>, StageError>>()?;
    Ok(counts.iter().sum())
}
