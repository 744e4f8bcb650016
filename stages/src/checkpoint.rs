//! Checkpoints: safetensors files holding the model's named tensors plus the metadata
//! needed to rebuild and describe it, as a u8 tensor `__pipe_meta__` (UTF-8 JSON).
//!
//! Safetensors rather than libtorch's `.ot` archive: its bytes depend only on the tensors
//! (names sorted, no timestamps or random ids; libtorch's archive embeds a per-save
//! serialisation id and the file name), so the same seed gives a bit-identical file, which
//! the engine's content-addressed cache rewards. Python reads it too (`safetensors`).
//! The format is chosen by content, not by the out's file extension.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::error::StageError;
use crate::files::parent_dir;
use crate::model::layers::without_random_init;
use crate::model::{ModelConfig, SmokeNet};

const META: &str = "__pipe_meta__";
pub const FORMAT: &str = "pipe-smoke-classifier/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub format: String,
    pub config: ModelConfig,
    /// The `[model]` and `[train]` tables exactly as the training run read them.
    pub params: serde_json::Value,
    /// blake3 of the pretrained frame encoder file, when one was used.
    pub pretrained_blake3: Option<String>,
    /// blake3 of the file that initialised the tube encoder, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tube_pretrained_blake3: Option<String>,
    pub best_epoch: usize,
    pub val_f1: f64,
    pub val_loss: f64,
    pub created_by: String,
}

/// Writes `tensors` (name, value) and `meta` to `path`.
pub fn save(path: &Path, tensors: &[(String, Tensor)], meta: &Meta) -> Result<(), StageError> {
    parent_dir(path)?;
    let json = serde_json::to_vec(meta).map_err(StageError::json(path))?;
    let mut named: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.to_device(Device::Cpu).contiguous()))
        .collect();
    named.push((META.to_string(), Tensor::from_slice(&json)));
    named.sort_by(|a, b| a.0.cmp(&b.0));
    Tensor::write_safetensors(&named, path).map_err(StageError::torch(format!(
        "writing checkpoint {}",
        path.display()
    )))
}

/// The variables of `vs`, sorted by name.
pub fn variables(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Reads a checkpoint: its metadata and named tensors (on the CPU).
pub fn load(path: &Path) -> Result<(Meta, HashMap<String, Tensor>), StageError> {
    if !path.is_file() {
        return Err(StageError::data(path, "checkpoint not found"));
    }
    let mut tensors: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| StageError::data(path, format!("not a pipe checkpoint (safetensors): {e}")))?
        .into_iter()
        .collect();
    let raw = tensors
        .remove(META)
        .ok_or_else(|| StageError::data(path, "not a pipe checkpoint: no __pipe_meta__ record"))?;
    let mut bytes = vec![0u8; raw.numel()];
    raw.f_copy_data_u8(&mut bytes, raw.numel())
        .map_err(StageError::torch("reading checkpoint metadata"))?;
    let meta: Meta = serde_json::from_slice(&bytes).map_err(StageError::json(path))?;
    if meta.format != FORMAT {
        return Err(StageError::data(
            path,
            format!(
                "checkpoint format {:?}, this pipe reads {FORMAT:?}",
                meta.format
            ),
        ));
    }
    Ok((meta, tensors))
}

/// Copies checkpoint tensors into the variables of `vs`, which must match exactly.
pub fn restore(
    vs: &mut VarStore,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<(), StageError> {
    let vars = vs.variables();
    for (name, var) in &vars {
        let src = tensors.get(name).ok_or_else(|| {
            StageError::data(path, format!("checkpoint lacks the tensor `{name}`"))
        })?;
        if src.size() != var.size() {
            return Err(StageError::data(
                path,
                format!(
                    "tensor `{name}` is {:?} in the checkpoint, the model has {:?}",
                    src.size(),
                    var.size()
                ),
            ));
        }
        let mut var = var.shallow_clone();
        tch::no_grad(|| var.f_copy_(&src.to_kind(Kind::Float)))
            .map_err(StageError::torch(format!("restoring `{name}`")))?;
    }
    if let Some(extra) = tensors.keys().find(|k| !vars.contains_key(*k)) {
        return Err(StageError::data(
            path,
            format!("checkpoint has a tensor the model lacks: `{extra}`"),
        ));
    }
    Ok(())
}

/// A checkpoint's network, rebuilt on `device` with its weights (eval-ready).
pub struct Loaded {
    pub meta: Meta,
    pub vs: VarStore,
    pub model: SmokeNet,
}

/// Loads the checkpoint at `path` onto `device`. `base_dir` resolves a relative
/// pretrained-encoder path (the pipeline directory for stages; the unpacked package for
/// `predict`).
pub fn load_model(path: &Path, device: Device, base_dir: &Path) -> Result<Loaded, StageError> {
    let (meta, tensors) = load(path)?;
    build(meta, &tensors, device, base_dir, path)
}

/// Builds the network `meta` describes on `device` and fills in `tensors` (read from
/// `path`, named in errors).
pub fn build(
    meta: Meta,
    tensors: &HashMap<String, Tensor>,
    device: Device,
    base_dir: &Path,
    path: &Path,
) -> Result<Loaded, StageError> {
    let mut vs = VarStore::new(device);
    let model = without_random_init(|| SmokeNet::new(&vs, &meta.config, base_dir))?;
    restore(&mut vs, tensors, path)?;
    Ok(Loaded { meta, vs, model })
}
