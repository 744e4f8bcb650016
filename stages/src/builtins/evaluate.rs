//! `evaluate`: scores the held-out split (`evaluate.split`, test by default) with a
//! checkpoint, and val too, and writes flat metrics (what sweep tables read) and the PR/ROC
//! operating points of the held-out split.
//!
//! ```text
//! eval.json   split: "test", f1, precision, recall, pr_auc, recall_at_fpr_1pct, tn fp fn tp,
//!             fpr_by_kind {steady_plume: .., ..}, ..          <- the held-out split, top level
//!             val: { f1, .., fpr_by_kind }                      <- val, marked as such
//!             params, gflops, latency_ms, best_epoch, device     <- the model's costs
//! ```
//! The top-level names are what sweep tables and reports read, so they show the held-out
//! split; val is the split the checkpoint was selected on, and scores optimistically.
//!
//! Sequences without a tube count as predicted negatives with score 0: in deployment no
//! tube means no alarm, and dropping them would flatter recall. `fpr_by_kind` is the
//! false-positive rate among the negatives of each kind (`kind.txt` beside the labels, see
//! `raw::layout`; sequences without one are `unknown`), since a model's failures are
//! about which look-alikes it cannot reject.

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::Invocation;
use crate::checkpoint;
use crate::dataset::{Index, load_split, read_index};
use crate::device;
use crate::error::StageError;
use crate::files::{parent_dir, write_json};
use crate::fit::score;
use crate::metrics::{self, Confusion};
use crate::model::{SmokeNet, param_count};
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
            .choice("split", "test", &["train", "val", "test"])?
            .as_str()
        {
            "train" => Split::Train,
            "val" => Split::Val,
            _ => Split::Test,
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

/// One split's scores: every sequence, with or without a tube.
pub struct Scored {
    pub split: Split,
    pub scores: Vec<f64>,
    pub labels: Vec<u8>,
    pub kinds: Vec<Option<String>>,
    pub loss: f64,
    pub no_tube: usize,
}

pub fn score_split(
    model: &SmokeNet,
    dir: &Path,
    index: &Index,
    split: Split,
    batch_size: usize,
    device: tch::Device,
) -> Result<Scored, StageError> {
    let data = load_split(dir, index, split, model.config.frames)?;
    let (mut scores, loss) = if data.is_empty() {
        (Vec::new(), 0.0)
    } else {
        score(model, &data, batch_size, device)?
    };
    let mut labels = data.label_list.clone();
    let mut kinds = data.kinds.clone();
    let no_tube: Vec<_> = index.skipped.iter().filter(|s| s.split == split).collect();
    scores.extend(no_tube.iter().map(|_| 0.0));
    labels.extend(no_tube.iter().map(|s| s.label));
    kinds.extend(no_tube.iter().map(|s| s.kind.clone()));
    Ok(Scored {
        split,
        scores,
        labels,
        kinds,
        loss,
        no_tube: no_tube.len(),
    })
}

/// False-positive rate and count of the negatives of each kind.
pub fn fpr_by_kind(s: &Scored, threshold: f64) -> BTreeMap<String, (f64, usize)> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for ((score, label), kind) in s.scores.iter().zip(&s.labels).zip(&s.kinds) {
        if *label != 0 {
            continue;
        }
        let k = kind.clone().unwrap_or_else(|| "unknown".to_string());
        let e = counts.entry(k).or_default();
        e.1 += 1;
        if *score >= threshold {
            e.0 += 1;
        }
    }
    counts
        .into_iter()
        .map(|(k, (fp, n))| (k, (fp as f64 / n as f64, n)))
        .collect()
}

/// The quality metrics of one split (see the module header).
pub fn split_metrics(s: &Scored, threshold: f64) -> (Map<String, Value>, Confusion) {
    let c = Confusion::new(&s.scores, &s.labels, threshold);
    let by_kind = fpr_by_kind(s, threshold);
    let mut m = Map::new();
    for (k, v) in [
        ("f1", json!(c.f1())),
        ("accuracy", json!(c.accuracy())),
        ("precision", json!(c.precision())),
        ("recall", json!(c.recall())),
        (
            "pr_auc",
            json!(metrics::average_precision(&s.scores, &s.labels)),
        ),
        ("roc_auc", json!(metrics::roc_auc(&s.scores, &s.labels))),
        (
            "recall_at_fpr_1pct",
            json!(metrics::recall_at_fpr(&s.scores, &s.labels, 0.01)),
        ),
        ("tn", json!(c.tn)),
        ("fp", json!(c.fp)),
        ("fn", json!(c.fn_)),
        ("tp", json!(c.tp)),
        ("loss", json!(s.loss)),
        ("n", json!(s.labels.len())),
        ("n_no_tube", json!(s.no_tube)),
        (
            "fpr_by_kind",
            Value::Object(
                by_kind
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v.0)))
                    .collect(),
            ),
        ),
        (
            "negatives_by_kind",
            Value::Object(
                by_kind
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v.1)))
                    .collect(),
            ),
        ),
    ] {
        m.insert(k.to_string(), v);
    }
    (m, c)
}

fn describe(s: &Scored, m: &Map<String, Value>, c: &Confusion) -> String {
    let num = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let kinds = m
        .get("fpr_by_kind")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k} {:.3}", v.as_f64().unwrap_or(0.0)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "{} ({} sequences): f1 {:.3}  precision {:.3}  recall {:.3}  pr_auc {:.3}  R@1%FPR {:.3}  [tn {} fp {} fn {} tp {}]{}",
        s.split.name(),
        s.labels.len(),
        c.f1(),
        c.precision(),
        c.recall(),
        num("pr_auc"),
        num("recall_at_fpr_1pct"),
        c.tn,
        c.fp,
        c.fn_,
        c.tp,
        if kinds.is_empty() {
            String::new()
        } else {
            format!("  FPR by kind: {kinds}")
        }
    )
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
    let held_out = score_split(model, dir, &index, p.split, p.batch_size, device)?;
    if held_out.labels.is_empty() {
        let hint = if p.split == Split::Test {
            " (the dataset has no test/ split: set evaluate.split = \"val\" to report val, which selected the checkpoint)"
        } else {
            ""
        };
        return Err(StageError::data(
            dir,
            format!("no {} sequences to evaluate{hint}", p.split.name()),
        ));
    }
    let (mut m, c) = split_metrics(&held_out, p.threshold);
    let mut lines = vec![describe(&held_out, &m, &c)];
    if p.split != Split::Val {
        let val = score_split(model, dir, &index, Split::Val, p.batch_size, device)?;
        if !val.labels.is_empty() {
            let (vm, vc) = split_metrics(&val, p.threshold);
            lines.push(describe(&val, &vm, &vc));
            m.insert("val".into(), Value::Object(vm));
        }
    }
    let params = param_count(&loaded.vs) + model.frozen_params();
    let flops = model.flops_per_sequence(device)?;
    let lat = forward_ms(model, device, 1, 3, p.latency_runs)?;
    for (k, v) in [
        ("split", json!(p.split.name())),
        ("threshold", json!(p.threshold)),
        ("params", json!(params)),
        ("params_m", json!(params as f64 / 1e6)),
        ("gflops", json!(flops as f64 / 1e9)),
        ("latency_ms", json!(percentile(&lat, 0.5))),
        ("best_epoch", json!(loaded.meta.best_epoch)),
        ("device", json!(device::describe(device))),
    ] {
        m.insert(k.to_string(), v);
    }
    write_json(&inv.metrics[0], &Value::Object(m))?;
    write_curve(
        &inv.plots[0],
        &metrics::curve(&held_out.scores, &held_out.labels),
    )?;
    for l in lines {
        println!("{l}");
    }
    println!(
        "{:.3}M params, {:.3} GFLOPs/sequence, {:.2} ms/sequence",
        params as f64 / 1e6,
        flops as f64 / 1e9,
        percentile(&lat, 0.5)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fpr_by_kind_counts_the_negatives_of_each_kind_at_the_threshold() {
        let kind = |k: &str| Some(k.to_string());
        let s = Scored {
            split: Split::Test,
            // Positives never count, whatever their score; a score at the threshold alarms.
            scores: vec![0.9, 0.2, 0.7, 0.5, 0.1, 0.6, 0.99],
            labels: vec![1, 0, 0, 0, 0, 0, 0],
            kinds: vec![
                kind("smoke"),
                kind("steady_plume"),
                kind("steady_plume"),
                kind("steady_plume"),
                kind("cloud_bank"),
                None,
                kind("smooth_plume"),
            ],
            loss: 0.0,
            no_tube: 0,
        };
        let by = fpr_by_kind(&s, 0.5);
        let got: Vec<(&str, f64, usize)> = by.iter().map(|(k, v)| (k.as_str(), v.0, v.1)).collect();
        assert_eq!(
            got,
            vec![
                ("cloud_bank", 0.0, 1),
                ("smooth_plume", 1.0, 1),
                ("steady_plume", 2.0 / 3.0, 3),
                ("unknown", 1.0, 1),
            ]
        );
        let (m, _) = split_metrics(&s, 0.5);
        assert_eq!(m["fpr_by_kind"]["steady_plume"], json!(2.0 / 3.0));
        assert_eq!(m["negatives_by_kind"]["steady_plume"], json!(3));
        assert_eq!(m["fp"], json!(4));
    }
}
