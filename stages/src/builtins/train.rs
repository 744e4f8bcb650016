//! `train`: loads the model input's train and val splits into memory, builds the model
//! from `[model]` (plus the frame count and patch size the data fixes), fits it as `[train]`
//! says, and writes the best checkpoint, a summary JSON and the per-epoch CSV.

#![allow(clippy::print_stdout)]

use std::path::Path;

use serde_json::json;
use tch::nn::VarStore;

use crate::checkpoint::{self, Meta};
use crate::dataset::{load_split, read_index};
use crate::device;
use crate::error::StageError;
use crate::files::{parent_dir, write_json};
use crate::fit::{self, EpochLog, TrainParams};
use crate::memory;
use crate::model::{ModelConfig, SmokeNet, param_count};
use crate::raw::Split;
use crate::{Invocation, version};

/// The tables a training run read, exactly as given (defaults not filled in).
pub fn given_params(params: &toml::Table, tables: &[&str]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for t in tables {
        let v = params
            .get(*t)
            .cloned()
            .unwrap_or(toml::Value::Table(toml::Table::new()));
        out.insert(
            (*t).to_string(),
            serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
        );
    }
    serde_json::Value::Object(out)
}

fn write_curve(path: &Path, history: &[EpochLog]) -> Result<(), StageError> {
    parent_dir(path)?;
    let mut s = String::from(
        "epoch,train_loss,val_loss,val_f1,val_accuracy,val_precision,val_recall,lr,seconds,samples_per_s\n",
    );
    for h in history {
        s.push_str(&format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.3e},{:.3},{:.1}\n",
            h.epoch,
            h.train_loss,
            h.val_loss,
            h.val_f1,
            h.val_accuracy,
            h.val_precision,
            h.val_recall,
            h.lr,
            h.seconds,
            h.samples_per_s
        ));
    }
    fs_err::write(path, s)?;
    Ok(())
}

fn file_blake3(path: &Path) -> Result<String, StageError> {
    Ok(blake3::hash(&fs_err::read(path)?).to_hex().to_string())
}

pub fn run(inv: &Invocation) -> Result<(), StageError> {
    let model_params = ModelConfig::from_params(&inv.params)?;
    let tp = TrainParams::from_params(&inv.params)?;
    let dir = &inv.deps[0];
    let index = read_index(dir)?;
    let config = model_params.with_data(index.max_frames, index.crop.patch_size)?;
    let device = device::resolve(&tp.device, "train.device")?;
    let train = load_split(dir, &index, Split::Train, config.frames)?;
    let val = load_split(dir, &index, Split::Val, config.frames)?;
    for (name, split) in [("train", &train), ("val", &val)] {
        if split.is_empty() {
            return Err(StageError::data(
                dir,
                format!("the model input has no {name} sequences"),
            ));
        }
    }
    tch::manual_seed(tp.seed as i64);
    if device.is_cuda() {
        tch::Cuda::manual_seed_all(tp.seed);
        tch::Cuda::cudnn_set_benchmark(false);
    }
    let vs = VarStore::new(device);
    let mut model = SmokeNet::new(&vs, &config, Path::new("."))?;
    model.precision = fit::precision(&tp);
    if !device.is_cuda() && tp.precision == "bf16" {
        println!(
            "note: train.precision = \"bf16\" on the CPU: correct, but usually slower than fp32 there"
        );
    }
    let params = param_count(&vs) + model.frozen_params();
    println!(
        "training on {}: {} train / {} val sequences, {} frames of {}px, {} tubes, {:.3}M params, {}",
        device::describe(device),
        train.len(),
        val.len(),
        config.frames,
        config.patch_size,
        if config.local_branch {
            config.tubes()
        } else {
            0
        },
        params as f64 / 1e6,
        tp.precision
    );
    let result = fit::fit(&vs, &model, &train, &val, &tp, device)?;
    let best = &result.history[result
        .best_epoch
        .saturating_sub(1)
        .min(result.history.len() - 1)];
    let meta = Meta {
        format: checkpoint::FORMAT.to_string(),
        config: config.clone(),
        params: given_params(&inv.params, &["model", "train"]),
        pretrained_blake3: if config.pretrained.is_empty() {
            None
        } else {
            Some(file_blake3(Path::new(&config.pretrained))?)
        },
        tube_pretrained_blake3: if config.tube_pretrained.is_empty() {
            None
        } else {
            Some(file_blake3(Path::new(&config.tube_pretrained))?)
        },
        best_epoch: result.best_epoch,
        val_f1: best.val_f1,
        val_loss: best.val_loss,
        created_by: version(),
    };
    checkpoint::save(&inv.outs[0], &result.best, &meta)?;
    let last = result.history.last();
    // What the study's cost tables hold next to the scores: peak memory of this training
    // process (CPU resident set; device memory on CUDA), with throughput and time per epoch.
    let peak_cpu = memory::peak_rss_mb();
    let peak_gpu = if device.is_cuda() {
        memory::gpu_mem_mb()
    } else {
        None
    };
    let mut summary = json!({
            "best_epoch": result.best_epoch,
            "epochs_run": result.history.len(),
            "best_val_f1": best.val_f1,
            "best_val_loss": best.val_loss,
            "best_val_accuracy": best.val_accuracy,
            "final_train_loss": last.map_or(0.0, |l| l.train_loss),
            "train_seconds": result.train_seconds,
            "seconds_per_epoch": result.train_seconds / result.history.len().max(1) as f64,
            "samples_per_s": result.samples_per_s,
            "params": params,
            "params_m": params as f64 / 1e6,
            "train_sequences": train.len(),
            "val_sequences": val.len(),
            "device": device::describe(device),
            "precision": tp.precision,
    });
    if let Some(mb) = peak_cpu {
        summary["peak_cpu_mem_mb"] = json!(mb);
    }
    if let Some(mb) = peak_gpu {
        summary["peak_gpu_mem_mb"] = json!(mb);
    }
    write_json(&inv.metrics[0], &summary)?;
    write_curve(&inv.plots[0], &result.history)?;
    println!(
        "best epoch {} (val_f1 {:.3}, val_loss {:.4}); {:.0} samples/s; checkpoint {}",
        result.best_epoch,
        best.val_f1,
        best.val_loss,
        result.samples_per_s,
        inv.outs[0].display()
    );
    Ok(())
}
