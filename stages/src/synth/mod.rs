//! The synthetic dataset that `prepare` writes when no real one is given: the raw layout of
//! domain.md (JPEG frames + YOLO label files), with train, val and test splits, each
//! sequence's kind beside its labels (`kind.txt`, see `raw::layout`), deterministic from a
//! seed. `scene` says what is drawn and why.
//!
//! Each sequence draws everything from its own random stream (seed + name), so the output
//! is byte-identical whatever the thread count. The detector is simulated on top of the
//! true boxes: jittered boxes, missed frames (sometimes an empty label file, sometimes none
//! at all), an optional confidence column, and now and then a short spurious box elsewhere
//! that tube building has to reject. Annotators are simulated too: in train and val a
//! sequence lands in the wrong class folder with probability `label_noise` (its `kind.txt`
//! still says what it shows); the test split is kept clean, as a verified benchmark is.

mod noise;
mod scene;

use std::path::Path;

use rayon::prelude::*;

use crate::error::StageError;
use crate::geometry::BBox;
use crate::raw::jpeg;
use crate::raw::labels::{self, Detection};
use crate::raw::layout::KIND_FILE;
use crate::raw::{Class, Split};
use crate::rng::Rand;

use scene::Scene;
pub use scene::{Kind, Physics};

#[derive(Debug, Clone, serde::Serialize)]
pub struct SynthParams {
    pub seed: u64,
    pub dataset: String,
    /// Sequences per class in each split.
    pub train_per_class: usize,
    pub val_per_class: usize,
    pub test_per_class: usize,
    pub width: usize,
    pub height: usize,
    pub min_frames: usize,
    pub max_frames: usize,
    /// The share of each hard look-alike among the negatives; the rest are cloud banks.
    pub steady_plume: f64,
    pub smooth_plume: f64,
    /// A growing plume's rise per frame, as a fraction of the frame height.
    pub growth_min: f64,
    pub growth_max: f64,
    /// Puffing amplitude, a fraction of a plume's starting height.
    pub puff: f64,
    /// Strongest haze (0: none, 1: the frame is all haze).
    pub haze: f64,
    /// Probability of a static occluder in front of the object.
    pub occlusion: f64,
    /// Box jitter, as a fraction of the box size (standard deviation).
    pub jitter: f64,
    pub miss_rate: f64,
    /// Probability that a sequence holds a short spurious detection.
    pub distractor_rate: f64,
    /// Probability that a train or val sequence sits in the wrong class folder.
    pub label_noise: f64,
    pub jpeg_quality: u8,
}

struct Job {
    split: Split,
    /// What the sequence shows, and the class folder it is filed under.
    kind_is_smoke: bool,
    class: Class,
    name: String,
}

fn jobs(p: &SynthParams) -> Vec<Job> {
    let mut out = Vec::new();
    for (split, n) in [
        (Split::Train, p.train_per_class),
        (Split::Val, p.val_per_class),
        (Split::Test, p.test_per_class),
    ] {
        // Names are numbered in a shuffled order so that they say nothing about the class.
        let order = Rand::derive(p.seed, &format!("names/{}", split.name())).permutation(2 * n);
        let mut noise = Rand::derive(p.seed, &format!("label_noise/{}", split.name()));
        for (i, k) in order.into_iter().enumerate() {
            let smoke = i < n;
            let flipped = split != Split::Test && noise.chance(p.label_noise);
            out.push(Job {
                split,
                kind_is_smoke: smoke,
                class: if smoke != flipped {
                    Class::Wildfire
                } else {
                    Class::Fp
                },
                name: format!("syn_{}_{k:04}", split.name()),
            });
        }
    }
    out
}

fn detector(rng: &mut Rand, truth: BBox, jitter: f64, confidence: bool) -> Detection {
    let w = (truth.w * (jitter * rng.normal()).exp()).clamp(0.01, 1.0);
    let h = (truth.h * (jitter * rng.normal()).exp()).clamp(0.01, 1.0);
    let cx = (truth.cx + jitter * truth.w * rng.normal()).clamp(w / 2.0, 1.0 - w / 2.0);
    let cy = (truth.cy + jitter * truth.h * rng.normal()).clamp(h / 2.0, 1.0 - h / 2.0);
    Detection {
        class_id: 0,
        bbox: BBox::new(cx, cy, w, h),
        confidence: if confidence {
            rng.range(0.35, 0.95)
        } else {
            1.0
        },
    }
}

fn kind_of(rng: &mut Rand, p: &SynthParams, smoke: bool) -> Kind {
    let u = rng.f64();
    if smoke {
        Kind::Smoke
    } else if u < p.steady_plume {
        Kind::SteadyPlume
    } else if u < p.steady_plume + p.smooth_plume {
        Kind::SmoothPlume
    } else {
        Kind::CloudBank
    }
}

fn write_sequence(p: &SynthParams, job: &Job, root: &Path) -> Result<usize, StageError> {
    let mut rng = Rand::derive(p.seed, &format!("seq/{}", job.name));
    let dir = root
        .join(job.split.name())
        .join(job.class.name())
        .join(&job.name);
    let (images, labels_dir) = (dir.join("images"), dir.join("labels"));
    fs_err::create_dir_all(&images)?;
    fs_err::create_dir_all(&labels_dir)?;
    let n = rng.int(p.min_frames, p.max_frames);
    let kind = kind_of(&mut rng, p, job.kind_is_smoke);
    let physics = Physics {
        growth_min: p.growth_min,
        growth_max: p.growth_max,
        puff: p.puff,
        haze: p.haze,
        occlusion: p.occlusion,
    };
    let scene = Scene::new(&mut rng, kind, &physics, n, p.width, p.height);
    fs_err::write(dir.join(KIND_FILE), format!("{}\n", kind.name()))?;
    let confidence = rng.chance(0.5);
    let spurious = rng.chance(p.distractor_rate).then(|| {
        let start = rng.int(0, n.saturating_sub(1));
        let len = rng.int(1, 2);
        let (w, h) = (rng.range(0.05, 0.15), rng.range(0.05, 0.15));
        let b = BBox::new(
            rng.range(w / 2.0, 1.0 - w / 2.0),
            rng.range(h / 2.0, 1.0 - h / 2.0),
            w,
            h,
        );
        (start..start + len, b)
    });
    for t in 0..n {
        let (img, truth) = scene.frame(t);
        let stem = format!("frame_{:06}", t + 1);
        fs_err::write(
            images.join(format!("{stem}.jpg")),
            jpeg::encode(&img, p.jpeg_quality)?,
        )?;
        let mut dets = Vec::new();
        if let Some(truth) = truth
            && !rng.chance(p.miss_rate)
        {
            dets.push(detector(&mut rng, truth, p.jitter, confidence));
        }
        if let Some((frames, b)) = &spurious
            && frames.contains(&t)
        {
            dets.push(detector(&mut rng, *b, p.jitter, confidence));
        }
        // Real detectors' exports drop the file of an empty frame about as often as they
        // write it empty; both must mean "no detection".
        if !dets.is_empty() || rng.chance(0.5) {
            fs_err::write(
                labels_dir.join(format!("{stem}.txt")),
                labels::format(&dets),
            )?;
        }
    }
    Ok(n)
}

pub struct Summary {
    pub sequences: usize,
    pub frames: usize,
}

/// Writes the dataset to `out/<dataset>/...`.
pub fn generate(p: &SynthParams, out: &Path) -> Result<Summary, StageError> {
    let root = out.join(&p.dataset);
    let jobs = jobs(p);
    let frames = jobs
        .par_iter()
        .map(|job| write_sequence(p, job, &root))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Summary {
        sequences: jobs.len(),
        frames: frames.iter().sum(),
    })
}
