//! `build_tubes`: one tube record per sequence (`<out>/<sequence>.json`), linking the
//! label files' boxes as `tubes` describes.

#![allow(clippy::print_stdout)]

use std::path::Path;

use rayon::prelude::*;

use crate::Invocation;
use crate::error::StageError;
use crate::files::{fresh_dir, write_json};
use crate::params::Section;
use crate::raw::layout::{self, Frame, Sequence};
use crate::raw::{jpeg, labels};
use crate::record::TubeRecord;
use crate::tubes::{self, TubeParams};

pub fn tube_params(params: &toml::Table) -> Result<TubeParams, StageError> {
    let s = Section::new(params, "tubes")?;
    let p = TubeParams {
        iou_threshold: s.f64_in("iou_threshold", 0.2, 0.0, 1.0)?,
        max_misses: s.count("max_misses", 2, 0)?,
        min_tube_length: s.count("min_tube_length", 4, 1)?,
        min_detected_entries: s.count("min_detected_entries", 2, 1)?,
        merge_iomin: s.f64_in("merge_iomin", 0.3, 0.0, 1.0)?,
        merge_max_gap: s.count("merge_max_gap", 10, 0)?,
    };
    s.finish()?;
    Ok(p)
}

/// The record of one sequence: its frames' detections linked into the kept tube.
pub fn record(seq: &Sequence, frames: &[Frame], p: &TubeParams) -> Result<TubeRecord, StageError> {
    let dets = frames
        .iter()
        .map(|f| labels::read(f.label.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let first = frames
        .first()
        .ok_or_else(|| StageError::data(&seq.dir, "sequence has no frames"))?;
    let (width, height) = jpeg::dimensions(&first.image)?;
    let all = tubes::tubes(&dets, p);
    Ok(TubeRecord {
        sequence: seq.name.clone(),
        split: seq.split,
        class: seq.class,
        label: seq.class.label(),
        kind: seq.kind.clone(),
        path: rel_string(&seq.rel),
        frames: frames.iter().map(|f| f.name.clone()).collect(),
        width,
        height,
        candidates: all.len(),
        tube: all.into_iter().next(),
    })
}

fn rel_string(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

pub fn run(inv: &Invocation) -> Result<(), StageError> {
    let p = tube_params(&inv.params)?;
    let seqs = layout::scan(&inv.deps[0])?;
    let out = &inv.outs[0];
    fresh_dir(out)?;
    let records = seqs
        .par_iter()
        .map(|s| {
            let r = record(s, &s.frames, &p)?;
            write_json(&out.join(format!("{}.json", s.name)), &r)?;
            Ok(r)
        })
        .collect::<Result<Vec<_>, StageError>>()?;
    let with = |label: u8| {
        records
            .iter()
            .filter(|r| r.label == label && r.tube.is_some())
            .count()
    };
    let without = records.iter().filter(|r| r.tube.is_none()).count();
    println!(
        "built tubes for {} sequences: {} wildfire and {} fp kept a tube, {without} have none",
        records.len(),
        with(1),
        with(0)
    );
    Ok(())
}
