//! `package`: bundles the checkpoint, the params that make it usable (preprocessing as the
//! pipeline resolved it; model and training as the checkpoint recorded them), its
//! evaluation metrics and, if used, the TorchScript frame encoder. See `crate::package`.

#![allow(clippy::print_stdout)]

use std::path::Path;

use crate::builtins::{build_model_input, build_tubes, evaluate, truncate};
use crate::checkpoint;
use crate::error::StageError;
use crate::files::read_json;
use crate::package::{self, Manifest};
use crate::{Invocation, version};

fn table(value: impl serde::Serialize, what: &str) -> Result<toml::Value, StageError> {
    toml::Value::try_from(value)
        .map_err(|e| StageError::Other(format!("cannot write {what} as TOML: {e}")))
}

pub fn run(inv: &Invocation) -> Result<(), StageError> {
    let max_frames = truncate::max_frames(&inv.params)?;
    let tubes = build_tubes::tube_params(&inv.params)?;
    let crop = build_model_input::crop_params(&inv.params)?;
    let threshold = evaluate::EvalParams::from_params(&inv.params)?.threshold;
    let (ckpt, metrics_path) = (&inv.deps[0], &inv.deps[1]);
    let (meta, _) = checkpoint::load(ckpt)?;
    if meta.config.patch_size != crop.patch_size {
        return Err(StageError::Invalid(format!(
            "model_input.patch_size = {} but the checkpoint {} was trained on {}px patches",
            crop.patch_size,
            ckpt.display(),
            meta.config.patch_size
        )));
    }
    let metrics: serde_json::Value = read_json(metrics_path)?;
    if !metrics.is_object() {
        return Err(StageError::data(
            metrics_path,
            "expected a JSON object of metrics",
        ));
    }
    let mut params = toml::Table::new();
    params.insert(
        "truncate".into(),
        table(serde_json::json!({ "max_frames": max_frames }), "truncate")?,
    );
    params.insert("tubes".into(), table(&tubes, "tubes")?);
    params.insert("model_input".into(), table(&crop, "model_input")?);
    params.insert(
        "evaluate".into(),
        table(serde_json::json!({ "threshold": threshold }), "evaluate")?,
    );
    if let serde_json::Value::Object(trained) = &meta.params {
        for (k, v) in trained {
            params.insert(k.clone(), table(v, k)?);
        }
    }
    let params_text = format!(
        "# The params of a pipe model package: preprocessing as the pipeline resolved it,\n# [model] and [train] as the checkpoint was trained with.\n{}",
        toml::to_string(&params)
            .map_err(|e| StageError::Other(format!("cannot write params.toml: {e}")))?
    );
    let mut members = vec![
        (package::CHECKPOINT, fs_err::read(ckpt)?),
        (package::PARAMS, params_text.into_bytes()),
        (package::METRICS, fs_err::read(metrics_path)?),
    ];
    if !meta.config.pretrained.is_empty() {
        members.push((
            package::ENCODER,
            fs_err::read(Path::new(&meta.config.pretrained))?,
        ));
    }
    let manifest = Manifest {
        format: package::FORMAT.to_string(),
        created_by: version(),
        members: Vec::new(),
        threshold,
        best_epoch: meta.best_epoch,
        model: meta.config.clone(),
        metrics,
    };
    package::write(&inv.outs[0], &members, manifest)?;
    let bytes = fs_err::metadata(&inv.outs[0])?.len();
    println!(
        "packaged {} ({:.2} MB, {} members)",
        inv.outs[0].display(),
        bytes as f64 / 1e6,
        members.len() + 1
    );
    Ok(())
}
