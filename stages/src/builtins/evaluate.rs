//! `evaluate`: scores a split (val by default) of the model input with a checkpoint and
//! writes flat metrics (what sweep tables read) and the PR/ROC operating points.
//! Sequences without a tube count as predicted negatives with score 0: in deployment no
//! tube means no alarm, and dropping them would flatter recall.

#![allow(clippy::print_stdout)]

use std::path::Path;

use serde_json::json;

use crate::Invocation;
use crate::checkpoint;
use crate::dataset::{load_split, read_index};
use crate::device;
use crate::error::StageError;
use crate::files::{parent_dir, write_json};
use crate::fit::score;
use crate::metrics::{self, Confusion};
use crate::model::param_count;
use crate::params::Section;
use crate::raw::Split;
use crate::timing::{forward_ms, percentile};

pub struct EvalParams {
    pub threshold: f64,
    pub batch_size: usize,
    pub device: String,
    pub split: Split,
    pub latency_runs: usize,
}

impl EvalParams {
    pub fn from_params(params: &toml::Table) -> Result<Self, StageError> {
        let s = Section::new(params, "evaluate")?;
        let split = match s
            .choice("split", "val", &["train", "val", "test"])?
            .as_str()
        {
            "train" => Split::Train,
            "test" => Split::Test,
            _ => Split::Val,
        };
        let p = EvalParams {
            threshold: s.f64_in("threshold", 0.5, 0.0, 1.0)?,
            batch_size: s.count("batch_size", 32, 1)?,
            device: s.string("device", "auto")?,
            split,
            latency_runs: s.count("latency_runs", 20, 1)?,
        };
        s.finish()?;
        Ok(p)
    }
}

fn write_curve(path: &Path, points: &[metrics::CurvePoint]) -> Result<(), StageError> {
    parent_dir(path)?;
    let mut s = String::from("threshold,precision,recall,fpr\n");
    for p in points {
        s.push_str(&format!(
            "{:.6},{:.6},{:.6},{:.6}\n",
            p.threshold, p.precision, p.recall, p.fpr
        ));
    }
    fs_err::write(path, s)?;
    Ok(())
}

pub fn run(inv: &Invocation) -> Result<(), StageError> {
    let p = EvalParams::from_params(&inv.params)?;
    let (dir, ckpt) = (&inv.deps[0], &inv.deps[1]);
    let device = device::resolve(&p.device, "evaluate.device")?;
    let loaded = checkpoint::load_model(ckpt, device, Path::new("."))?;
    let (model, config) = (&loaded.model, &loaded.meta.config);
    let index = read_index(dir)?;
    if index.crop.patch_size != config.patch_size {
        return Err(StageError::data(
            dir,
            format!(
                "patches are {}px, the checkpoint was trained on {}px",
                index.crop.patch_size, config.patch_size
            ),
        ));
    }
    let data = load_split(dir, &index, p.split, config.frames)?;
    let (mut scores, val_loss) = score(model, &data, p.batch_size, device)?;
    let mut labels = data.label_list.clone();
    let no_tube: Vec<_> = index
        .skipped
        .iter()
        .filter(|s| s.split == p.split)
        .collect();
    scores.extend(no_tube.iter().map(|_| 0.0));
    labels.extend(no_tube.iter().map(|s| s.label));
    if labels.is_empty() {
        return Err(StageError::data(
            dir,
            format!("no {} sequences to evaluate", p.split.name()),
        ));
    }
    let c = Confusion::new(&scores, &labels, p.threshold);
    let params = param_count(&loaded.vs) + model.frozen_params();
    let flops = model.flops_per_sequence(device)?;
    let lat = forward_ms(model, device, 1, 3, p.latency_runs)?;
    let m = json!({
        "f1": c.f1(),
        "accuracy": c.accuracy(),
        "precision": c.precision(),
        "recall": c.recall(),
        "pr_auc": metrics::average_precision(&scores, &labels),
        "roc_auc": metrics::roc_auc(&scores, &labels),
        "recall_at_fpr_1pct": metrics::recall_at_fpr(&scores, &labels, 0.01),
        "tn": c.tn,
        "fp": c.fp,
        "fn": c.fn_,
        "tp": c.tp,
        "threshold": p.threshold,
        "val_loss": val_loss,
        "n": labels.len(),
        "n_no_tube": no_tube.len(),
        "params": params,
        "params_m": params as f64 / 1e6,
        "gflops": flops as f64 / 1e9,
        "latency_ms": percentile(&lat, 0.5),
        "best_epoch": loaded.meta.best_epoch,
        "device": device::describe(device),
    });
    write_json(&inv.metrics[0], &m)?;
    write_curve(&inv.plots[0], &metrics::curve(&scores, &labels))?;
    println!(
        "{} ({} sequences): f1 {:.3}  precision {:.3}  recall {:.3}  pr_auc {:.3}  R@1%FPR {:.3}  [tn {} fp {} fn {} tp {}]  {:.3} GFLOPs  {:.2} ms/seq",
        p.split.name(),
        labels.len(),
        c.f1(),
        c.precision(),
        c.recall(),
        m["pr_auc"].as_f64().unwrap_or(0.0),
        m["recall_at_fpr_1pct"].as_f64().unwrap_or(0.0),
        c.tn,
        c.fp,
        c.fn_,
        c.tp,
        flops as f64 / 1e9,
        percentile(&lat, 0.5)
    );
    Ok(())
}
