//! Model packages: one portable `.zip` a teammate can score sequences with.
//!
//! ```text
//! model.safetensors   the checkpoint (weights + model config + the [model]/[train] tables)
//! params.toml         everything inference needs: [truncate] [tubes] [model_input]
//!                     [evaluate] as resolved by the pipeline, [model] [train] as trained
//! metrics.json        the evaluation metrics of this checkpoint
//! frame_encoder.pt    the TorchScript frame encoder, when the model uses one
//! manifest.json       format, versions, blake3 + size of every member above, metrics
//! ```
//! Members are written with fixed timestamps and permissions, so the same inputs give the
//! same bytes. Opening a package checks every member against the manifest before any of
//! it is used, then unpacks to a temporary directory (libtorch loads from paths).

use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::Device;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::builtins::{build_model_input, build_tubes, evaluate, truncate};
use crate::checkpoint::{self, Loaded};
use crate::crop::CropParams;
use crate::error::StageError;
use crate::files::parent_dir;
use crate::tubes::TubeParams;

pub const FORMAT: &str = "pipe-model-package/1";
pub const MANIFEST: &str = "manifest.json";
pub const CHECKPOINT: &str = "model.safetensors";
pub const PARAMS: &str = "params.toml";
pub const METRICS: &str = "metrics.json";
pub const ENCODER: &str = "frame_encoder.pt";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub bytes: u64,
    pub blake3: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub created_by: String,
    pub members: Vec<Member>,
    pub threshold: f64,
    pub best_epoch: usize,
    pub model: crate::model::ModelConfig,
    pub metrics: serde_json::Value,
}

/// Writes the package: `members` (name, bytes) in order, then the manifest.
pub fn write(
    path: &Path,
    members: &[(&str, Vec<u8>)],
    mut manifest: Manifest,
) -> Result<(), StageError> {
    parent_dir(path)?;
    let zip_err = |e: zip::result::ZipError| {
        StageError::Other(format!("{}: writing the package: {e}", path.display()))
    };
    let file = fs_err::File::create(path)?;
    let mut zip = ZipWriter::new(file);
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    manifest.members.clear();
    for (name, bytes) in members {
        zip.start_file(*name, opts).map_err(zip_err)?;
        zip.write_all(bytes)?;
        manifest.members.push(Member {
            name: (*name).to_string(),
            bytes: bytes.len() as u64,
            blake3: blake3::hash(bytes).to_hex().to_string(),
        });
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(StageError::json(path))?;
    zip.start_file(MANIFEST, opts).map_err(zip_err)?;
    zip.write_all(&json)?;
    zip.finish().map_err(zip_err)?;
    Ok(())
}

/// A package opened for inference.
pub struct Package {
    pub manifest: Manifest,
    pub max_frames: usize,
    pub tubes: TubeParams,
    pub crop: CropParams,
    pub threshold: f64,
    pub loaded: Loaded,
    /// Holds the unpacked members while the model may still read them.
    _dir: tempfile::TempDir,
}

fn read_member(
    zip: &mut ZipArchive<fs_err::File>,
    name: &str,
    path: &Path,
) -> Result<Vec<u8>, StageError> {
    let mut f = zip
        .by_name(name)
        .map_err(|e| StageError::data(path, format!("package member {name}: {e}")))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| StageError::data(path, format!("package member {name}: {e}")))?;
    Ok(bytes)
}

impl Package {
    pub fn open(path: &Path, device: Device) -> Result<Self, StageError> {
        let file = fs_err::File::open(path)?;
        let mut zip = ZipArchive::new(file)
            .map_err(|e| StageError::data(path, format!("not a zip file: {e}")))?;
        let manifest: Manifest = serde_json::from_slice(&read_member(&mut zip, MANIFEST, path)?)
            .map_err(|e| StageError::data(path, format!("{MANIFEST}: {e}")))?;
        if manifest.format != FORMAT {
            return Err(StageError::data(
                path,
                format!(
                    "package format {:?}, this pipe reads {FORMAT:?}",
                    manifest.format
                ),
            ));
        }
        let dir = tempfile::tempdir()?;
        for m in &manifest.members {
            let bytes = read_member(&mut zip, &m.name, path)?;
            let hash = blake3::hash(&bytes).to_hex().to_string();
            if hash != m.blake3 || bytes.len() as u64 != m.bytes {
                return Err(StageError::data(
                    path,
                    format!(
                        "package member {} does not match its manifest entry (corrupt or altered)",
                        m.name
                    ),
                ));
            }
            // Member names come from our own manifest, but never trust a path from a file.
            if m.name.contains(['/', '\\']) || m.name.starts_with('.') {
                return Err(StageError::data(
                    path,
                    format!("package member name {:?} is not a plain file name", m.name),
                ));
            }
            fs_err::write(dir.path().join(&m.name), bytes)?;
        }
        let params_text = fs_err::read_to_string(dir.path().join(PARAMS))?;
        let params: toml::Table = params_text
            .parse()
            .map_err(|e| StageError::data(path, format!("{PARAMS}: {e}")))?;
        let ckpt = dir.path().join(CHECKPOINT);
        let (mut meta, tensors) = checkpoint::load(&ckpt)?;
        if !meta.config.pretrained.is_empty() {
            meta.config.pretrained = ENCODER.to_string();
        }
        let loaded = checkpoint::build(meta, &tensors, device, dir.path(), &ckpt)?;
        Ok(Package {
            max_frames: truncate::max_frames(&params)?,
            tubes: build_tubes::tube_params(&params)?,
            crop: build_model_input::crop_params(&params)?,
            threshold: evaluate::EvalParams::from_params(&params)?.threshold,
            manifest,
            loaded,
            _dir: dir,
        })
    }
}
