//! `prepare`: writes the synthetic dataset, or imports an existing one (`prepare.source`),
//! into the raw layout. See `synth` (and `synth::scene`) for what the generator draws and
//! what each knob means.

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use crate::Invocation;
use crate::error::StageError;
use crate::files::fresh_dir;
use crate::params::Section;
use crate::raw::copy::copy_sequences;
use crate::raw::layout;
use crate::synth::{self, SynthParams};

pub struct PrepareParams {
    /// An existing dataset to import instead of generating one; empty for synthetic.
    pub source: String,
    pub synth: SynthParams,
}

impl PrepareParams {
    pub fn from_params(params: &toml::Table) -> Result<Self, StageError> {
        let s = Section::new(params, "prepare")?;
        let source = s.string("source", "")?;
        let min_frames = s.count("min_frames", 12, 1)?;
        let max_frames = s.count("max_frames", 24, 1)?;
        if max_frames < min_frames {
            return Err(s
                .invalid(
                    "max_frames",
                    max_frames,
                    format!("is less than min_frames = {min_frames}"),
                )
                .into());
        }
        let synth = SynthParams {
            seed: s.u64("seed", 0)?,
            dataset: s.string("dataset", "synthetic")?,
            train_per_class: s.count("train_per_class", 600, 1)?,
            val_per_class: s.count("val_per_class", 100, 1)?,
            test_per_class: s.count("test_per_class", 500, 0)?,
            width: s.count("width", 160, 32)?,
            height: s.count("height", 120, 32)?,
            min_frames,
            max_frames,
            steady_plume: s.f64_in("steady_plume", 0.4, 0.0, 1.0)?,
            smooth_plume: s.f64_in("smooth_plume", 0.4, 0.0, 1.0)?,
            growth_min: s.f64_in("growth_min", 0.006, 0.0, 0.1)?,
            growth_max: s.f64_in("growth_max", 0.025, 0.0, 0.1)?,
            puff: s.f64_in("puff", 0.15, 0.0, 1.0)?,
            haze: s.f64_in("haze", 0.25, 0.0, 0.95)?,
            occlusion: s.f64_in("occlusion", 0.2, 0.0, 1.0)?,
            jitter: s.f64_in("jitter", 0.05, 0.0, 0.5)?,
            miss_rate: s.f64_in("miss_rate", 0.1, 0.0, 0.9)?,
            distractor_rate: s.f64_in("distractor_rate", 0.3, 0.0, 1.0)?,
            label_noise: s.f64_in("label_noise", 0.02, 0.0, 0.5)?,
            jpeg_quality: s.count("jpeg_quality", 90, 1)?.min(100) as u8,
        };
        if synth.steady_plume + synth.smooth_plume > 1.0 + 1e-9 {
            return Err(s
                .invalid(
                    "smooth_plume",
                    synth.smooth_plume,
                    format!(
                        "prepare.steady_plume + prepare.smooth_plume must be at most 1 (the rest of the negatives are cloud banks), got {}",
                        synth.steady_plume + synth.smooth_plume
                    ),
                )
                .into());
        }
        if synth.growth_max < synth.growth_min {
            return Err(s
                .invalid(
                    "growth_max",
                    synth.growth_max,
                    format!("is less than prepare.growth_min = {}", synth.growth_min),
                )
                .into());
        }
        if synth.dataset.is_empty()
            || synth.dataset.contains(['/', '\\'])
            || synth.dataset.starts_with('.')
        {
            return Err(s
                .invalid(
                    "dataset",
                    format!("{:?}", synth.dataset),
                    "must be a plain directory name",
                )
                .into());
        }
        s.finish()?;
        Ok(PrepareParams { source, synth })
    }
}

/// Imports the dataset(s) under `source` into `out`, validating the layout and every label
/// file; a single dataset directory (holding train/, val/) lands in `out/<its name>`.
pub fn import(source: &Path, out: &Path) -> Result<(), StageError> {
    let seqs = layout::scan(source)?;
    let single = seqs
        .first()
        .is_some_and(|s| s.rel.components().count() == 3);
    let prefix = if single {
        PathBuf::from(source.file_name().unwrap_or_else(|| "dataset".as_ref()))
    } else {
        PathBuf::new()
    };
    fresh_dir(out)?;
    let frames = copy_sequences(&seqs, out, |s| prefix.join(&s.rel), None)?;
    println!(
        "imported {} sequences ({frames} frames) from {}",
        seqs.len(),
        source.display()
    );
    Ok(())
}

pub fn run(inv: &Invocation) -> Result<(), StageError> {
    let p = PrepareParams::from_params(&inv.params)?;
    let out = &inv.outs[0];
    if !p.source.is_empty() {
        return import(Path::new(&p.source), out);
    }
    fresh_dir(out)?;
    let summary = synth::generate(&p.synth, out)?;
    println!(
        "generated {} synthetic sequences ({} frames, {}x{}) in {}",
        summary.sequences,
        summary.frames,
        p.synth.width,
        p.synth.height,
        out.join(&p.synth.dataset).display()
    );
    Ok(())
}

/// `import`: the same import, with the source as a declared dep so the engine tracks it.
pub fn run_import(inv: &Invocation) -> Result<(), StageError> {
    import(&inv.deps[0], &inv.outs[0])
}
