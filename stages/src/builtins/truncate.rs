//! `truncate`: keeps the first `truncate.max_frames` frames of every sequence, in the same
//! raw layout (label files validated on the way).

#![allow(clippy::print_stdout)]

use crate::Invocation;
use crate::error::StageError;
use crate::files::fresh_dir;
use crate::params::Section;
use crate::raw::copy::copy_sequences;
use crate::raw::layout;

pub fn max_frames(params: &toml::Table) -> Result<usize, StageError> {
    let s = Section::new(params, "truncate")?;
    let n = s.count("max_frames", 16, 1)?;
    s.finish()?;
    Ok(n)
}

pub fn run(inv: &Invocation) -> Result<(), StageError> {
    let max = max_frames(&inv.params)?;
    let seqs = layout::scan(&inv.deps[0])?;
    let out = &inv.outs[0];
    fresh_dir(out)?;
    let kept = copy_sequences(&seqs, out, |s| s.rel.clone(), Some(max))?;
    let total: usize = seqs.iter().map(|s| s.frames.len()).sum();
    println!(
        "truncated {} sequences to at most {max} frames: kept {kept} of {total} frames",
        seqs.len()
    );
    Ok(())
}
