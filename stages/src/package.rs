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
//! it is used, then unpacks to a temporary directory (libtorch loads from paths). A member
//! is inflated no further than the size its manifest entry gives (the manifest itself no
//! further than 16 MiB), so a zip bomb is an error, not an allocation.

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

/// The most `manifest.json` may hold: it lists a handful of members and the metrics.
const MANIFEST_LIMIT: u64 = 16 << 20;

/// Reads member `name` whole, but never more than `limit` bytes: a member that inflates past
/// it (a zip bomb, or a file altered after packaging) is an error before it costs memory.
/// The zip's own size fields are not trusted: they are written by whoever made the file.
fn read_member(
    zip: &mut ZipArchive<fs_err::File>,
    name: &str,
    limit: u64,
    path: &Path,
) -> Result<Vec<u8>, StageError> {
    let f = zip
        .by_name(name)
        .map_err(|e| StageError::data(path, format!("package member {name}: {e}")))?;
    read_limited(f, name, limit, path)
}

/// Reads `r` to its end, pulling at most `limit + 1` bytes from it (the one past the limit
/// tells a member that is too long from one that is exactly as long as allowed).
fn read_limited(r: impl Read, name: &str, limit: u64, path: &Path) -> Result<Vec<u8>, StageError> {
    let mut bytes = Vec::new();
    r.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| StageError::data(path, format!("package member {name}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(StageError::data(
            path,
            format!(
                "package member {name} holds more than the {limit} bytes its manifest allows (corrupt or altered)"
            ),
        ));
    }
    Ok(bytes)
}

impl Package {
    pub fn open(path: &Path, device: Device) -> Result<Self, StageError> {
        let file = fs_err::File::open(path)?;
        let mut zip = ZipArchive::new(file)
            .map_err(|e| StageError::data(path, format!("not a zip file: {e}")))?;
        let manifest: Manifest =
            serde_json::from_slice(&read_member(&mut zip, MANIFEST, MANIFEST_LIMIT, path)?)
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
            let bytes = read_member(&mut zip, &m.name, m.bytes, path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip holding `manifest` (as written) and `members`, deflated as `write` does.
    fn zip_with(path: &Path, manifest: &[u8], members: &[(&str, &[u8])]) {
        let mut zip = ZipWriter::new(fs_err::File::create(path).expect("create zip"));
        let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, bytes) in members.iter().chain([&(MANIFEST, manifest)]) {
            zip.start_file(*name, opts).expect("start member");
            zip.write_all(bytes).expect("write member");
        }
        zip.finish().expect("finish zip");
    }

    fn manifest_json(members: serde_json::Value) -> Vec<u8> {
        let model = crate::model::ModelConfig::from_params(&toml::Table::new()).expect("defaults");
        serde_json::to_vec(&serde_json::json!({
            "format": FORMAT, "created_by": "test", "members": members, "threshold": 0.5,
            "best_epoch": 1, "model": model, "metrics": {},
        }))
        .expect("manifest json")
    }

    fn open_err(path: &Path) -> String {
        match Package::open(path, Device::Cpu) {
            Ok(_) => panic!("{} opened", path.display()),
            Err(e) => e.to_string(),
        }
    }

    /// Counts the bytes pulled through it.
    struct Counting<R> {
        inner: R,
        pulled: std::rc::Rc<std::cell::Cell<u64>>,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.pulled.set(self.pulled.get() + n as u64);
            Ok(n)
        }
    }

    #[test]
    fn a_member_longer_than_its_limit_is_not_inflated_past_it() {
        // A member of 1 MiB against a limit of 1000 bytes: no more than 1001 are pulled.
        let pulled = std::rc::Rc::new(std::cell::Cell::new(0));
        let r = Counting {
            inner: std::io::repeat(0).take(1 << 20),
            pulled: pulled.clone(),
        };
        let e = read_limited(r, PARAMS, 1000, Path::new("m.zip")).expect_err("past the limit");
        assert!(
            e.to_string().contains("holds more than the 1000 bytes"),
            "{e}"
        );
        assert_eq!(pulled.get(), 1001, "bytes pulled from the member");
        // Exactly at the limit is fine.
        let pulled = std::rc::Rc::new(std::cell::Cell::new(0));
        let r = Counting {
            inner: std::io::repeat(7).take(1000),
            pulled: pulled.clone(),
        };
        let bytes = read_limited(r, PARAMS, 1000, Path::new("m.zip")).expect("at the limit");
        assert_eq!(bytes, vec![7u8; 1000]);
    }

    #[test]
    fn a_member_is_read_no_further_than_its_manifest_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 64 MiB of zeros deflate to ~64 KiB: the manifest says 10 bytes.
        let bomb = vec![0u8; 64 << 20];
        let manifest = manifest_json(serde_json::json!([
            { "name": PARAMS, "bytes": 10, "blake3": blake3::hash(&bomb[..10]).to_hex().to_string() }
        ]));
        let path = dir.path().join("bomb.zip");
        zip_with(&path, &manifest, &[(PARAMS, &bomb)]);
        let e = open_err(&path);
        assert!(
            e.contains(
                "package member params.toml holds more than the 10 bytes its manifest allows"
            ),
            "{e}"
        );
    }

    #[test]
    fn an_oversized_manifest_is_refused_before_it_is_parsed() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Valid JSON after 17 MiB of leading spaces: only the size makes it wrong.
        let mut manifest = vec![b' '; 17 << 20];
        manifest.extend(manifest_json(serde_json::json!([])));
        let path = dir.path().join("big-manifest.zip");
        zip_with(&path, &manifest, &[]);
        let e = open_err(&path);
        assert!(
            e.contains("package member manifest.json holds more than the 16777216 bytes"),
            "{e}"
        );
    }
}
