//! `build_model_input`: for every sequence with a tube, decodes the tube's frames, cuts the
//! stabilised window and resizes it to `model_input.patch_size`, in parallel across
//! sequences (one resizer and scratch buffer per sequence, no shared state); writes the
//! layout of `dataset`.

#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use crate::Invocation;
use crate::crop::{self, CropParams};
use crate::dataset::{INDEX, Index, Item, Skipped};
use crate::error::StageError;
use crate::files::{fresh_dir, read_json, write_json};
use crate::params::Section;
use crate::record::TubeRecord;

pub fn crop_params(params: &toml::Table) -> Result<CropParams, StageError> {
    let s = Section::new(params, "model_input")?;
    let p = CropParams {
        patch_size: s.count("patch_size", 32, 4)?,
        context: s.f64_in("context", 1.0, 1.0, 10.0)?,
        min_window: s.f64_in("min_window", 16.0, 1.0, 1e6)?,
    };
    s.finish()?;
    Ok(p)
}

/// Every tube record in `dir`, sorted by sequence name.
pub fn read_records(dir: &Path) -> Result<Vec<TubeRecord>, StageError> {
    let mut paths = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(StageError::data(
            dir,
            "no tube records (*.json): is this the output of build_tubes?",
        ));
    }
    let mut records = paths
        .par_iter()
        .map(|p| read_json::<TubeRecord>(p))
        .collect::<Result<Vec<_>, _>>()?;
    records.sort_by(|a, b| a.sequence.cmp(&b.sequence));
    Ok(records)
}

/// Writes the stack of one record; `None` when it has no tube.
fn build_one(
    r: &TubeRecord,
    raw: &Path,
    out: &Path,
    p: &CropParams,
) -> Result<Option<Item>, StageError> {
    let Some(tube) = &r.tube else {
        return Ok(None);
    };
    let images = raw.join(&r.path).join("images");
    let (bytes, window) = crop::tube_patches(&images, &r.frames, tube, (r.width, r.height), p)?;
    let file = format!("{}/{}.npy", r.split.name(), r.sequence);
    let size = p.patch_size;
    // Written without libtorch: this runs on rayon's threads (see `npy`).
    crate::npy::write_u8(&out.join(&file), &[tube.len(), 3, size, size], &bytes)?;
    Ok(Some(Item {
        name: r.sequence.clone(),
        split: r.split,
        label: r.label,
        kind: r.kind.clone(),
        frames: tube.len(),
        file,
        first_frame: tube.first().map_or(0, |e| e.frame),
        window,
    }))
}

pub fn run(inv: &Invocation) -> Result<(), StageError> {
    let p = crop_params(&inv.params)?;
    let (raw, tubes, out) = (&inv.deps[0], &inv.deps[1], &inv.outs[0]);
    let records = read_records(tubes)?;
    fresh_dir(out)?;
    for split in crate::raw::Split::ALL.map(crate::raw::Split::name) {
        fs_err::create_dir_all(out.join(split))?;
    }
    let started = Instant::now();
    let built = records
        .par_iter()
        .map(|r| build_one(r, raw, out, &p))
        .collect::<Result<Vec<_>, _>>()?;
    let seconds = started.elapsed().as_secs_f64();
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for (r, item) in records.iter().zip(built) {
        match item {
            Some(item) => items.push(item),
            None => skipped.push(Skipped {
                name: r.sequence.clone(),
                split: r.split,
                label: r.label,
                kind: r.kind.clone(),
                reason: "no tube passed the filters".to_string(),
            }),
        }
    }
    let frames: usize = items.iter().map(|i| i.frames).sum();
    let index = Index {
        crop: p.clone(),
        max_frames: items.iter().map(|i| i.frames).max().unwrap_or(0),
        items,
        skipped,
    };
    write_json(&out.join(INDEX), &index)?;
    println!(
        "cropped {} tubes ({frames} frames, {}px) in {seconds:.2}s: {:.0} frames/s; {} sequences without a tube",
        index.items.len(),
        p.patch_size,
        frames as f64 / seconds.max(1e-9),
        index.skipped.len()
    );
    Ok(())
}
