//! Scoring one raw sequence with a model package: what `pipe predict PACKAGE SEQ_DIR` runs.
//! The sequence goes through exactly the pipeline's steps with the packaged params:
//! truncate -> link boxes into the longest tube -> stabilised crop -> model.
//! A sequence with no tube is a negative with score 0 (no tube, no alarm).

use std::path::Path;

use serde::Serialize;
use tch::{Kind, Tensor};

use crate::crop::{self, Window};
use crate::device;
use crate::error::StageError;
use crate::package::Package;
use crate::raw::{jpeg, labels, layout};
use crate::tubes;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub sequence: String,
    /// Probability of smoke.
    pub score: f64,
    /// 1 (smoke) when `score >= threshold`.
    pub label: u8,
    /// `wildfire` or `fp`, as in the raw layout.
    pub class: String,
    pub threshold: f64,
    /// Frames in the directory, frames kept by truncation, frames the model saw.
    pub frames_total: usize,
    pub frames_truncated: usize,
    pub frames_used: usize,
    /// First and last frame (0-based) of the tube, if one was found.
    pub tube: Option<(usize, usize)>,
    pub window: Option<Window>,
    pub device: String,
}

/// Scores `seq_dir` (`images/` + `labels/`) with an opened package.
pub fn predict_with(pkg: &Package, seq_dir: &Path) -> Result<Prediction, StageError> {
    let frames = layout::scan_sequence(seq_dir)?;
    let total = frames.len();
    let kept = &frames[..total.min(pkg.max_frames)];
    let dets = kept
        .iter()
        .map(|f| labels::read(f.label.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let name = seq_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let model = &pkg.loaded.model;
    let device = pkg.loaded.vs.device();
    let mut pred = Prediction {
        sequence: name,
        score: 0.0,
        label: 0,
        class: "fp".into(),
        threshold: pkg.threshold,
        frames_total: total,
        frames_truncated: kept.len(),
        frames_used: 0,
        tube: None,
        window: None,
        device: device::describe(device),
    };
    let Some(tube) = tubes::best_tube(&dets, &pkg.tubes) else {
        return Ok(pred);
    };
    let size = jpeg::dimensions(&kept[0].image)?;
    let names: Vec<String> = kept.iter().map(|f| f.name.clone()).collect();
    let (bytes, window) =
        crop::tube_patches(&seq_dir.join("images"), &names, &tube, size, &pkg.crop)?;
    let c = &model.config;
    let (t, p) = (c.frames as i64, c.patch_size as i64);
    let used = (tube.len() as i64).min(t);
    let stack = Tensor::from_slice(&bytes)
        .view([tube.len() as i64, 3, p, p])
        .narrow(0, 0, used);
    let x = Tensor::zeros([1, t, 3, p, p], (Kind::Uint8, tch::Device::Cpu));
    x.get(0).narrow(0, 0, used).copy_(&stack);
    let len = Tensor::from_slice(&[used]).to_device(device);
    let logit = tch::no_grad(|| model.forward(&x.to_device(device), &len, false))?;
    let score = f64::try_from(logit.sigmoid().to_kind(Kind::Double).sum(Kind::Double))
        .map_err(StageError::torch("reading the score"))?;
    pred.score = score;
    pred.label = u8::from(score >= pkg.threshold);
    pred.class = if pred.label == 1 { "wildfire" } else { "fp" }.into();
    pred.frames_used = used as usize;
    pred.tube = Some((tube[0].frame, tube[tube.len() - 1].frame));
    pred.window = Some(window);
    Ok(pred)
}

/// Opens `package` on `device` (`auto`, `cpu`, `cuda`, `cuda:N`) and scores `seq_dir`.
pub fn predict(package: &Path, seq_dir: &Path, device: &str) -> Result<Prediction, StageError> {
    let device = device::resolve(device, "--device")?;
    let pkg = Package::open(package, device)?;
    predict_with(&pkg, seq_dir)
}
