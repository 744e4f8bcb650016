//! The model input on disk, as `build_model_input` writes it and `train`/`evaluate` read it:
//!
//! ```text
//! <dir>/index.json              patch size, every sequence (split, label, frames, file)
//! <dir>/<split>/<sequence>.npy  u8 [T, 3, P, P]: the tube's stabilised crops, T <= max_frames
//! ```
//! `.npy` so a Python script (or numpy in a notebook) reads it as it is. Sequences without a
//! tube have no stack; they are listed under `skipped` so evaluation can still count them
//! (as negatives: no tube, no alarm).

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::crop::{CropParams, Window};
use crate::error::StageError;
use crate::files::read_json;
use crate::raw::Split;

pub const INDEX: &str = "index.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub crop: CropParams,
    /// The longest stack; the model's frame count.
    pub max_frames: usize,
    pub items: Vec<Item>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub name: String,
    pub split: Split,
    pub label: u8,
    /// What the sequence shows (`kind.txt` of the raw layout), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub frames: usize,
    /// The stack's path relative to the model input directory.
    pub file: String,
    /// First frame of the tube in the (truncated) sequence.
    pub first_frame: usize,
    pub window: Window,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skipped {
    pub name: String,
    pub split: Split,
    pub label: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub reason: String,
}

pub fn read_index(dir: &Path) -> Result<Index, StageError> {
    let path = dir.join(INDEX);
    if !path.is_file() {
        return Err(StageError::data(
            dir,
            "not a model input directory (no index.json): is this the output of build_model_input?",
        ));
    }
    read_json(&path)
}

pub fn stack_path(dir: &Path, item: &Item) -> PathBuf {
    dir.join(&item.file)
}

/// One split in memory: every stack padded to `T` frames, in one u8 tensor so that a
/// batch is a single `index_select` and the training loop never waits on the disk.
pub struct SplitData {
    /// u8 `[N, T, 3, P, P]`, zero beyond each sequence's length.
    pub frames: Tensor,
    /// i64 `[N]`, each at most `T`.
    pub lengths: Tensor,
    /// f32 `[N]`, 1 for smoke.
    pub labels: Tensor,
    pub names: Vec<String>,
    pub label_list: Vec<u8>,
    pub kinds: Vec<Option<String>>,
}

impl SplitData {
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Reads a stack (u8 `[T, 3, P, P]`) into `out` (room for `max_frames` frames, zeros after
/// the stack's own), returning the frames it holds. No libtorch here: this runs on rayon's
/// threads (see `npy`).
fn read_stack(path: &Path, patch: usize, out: &mut [u8]) -> Result<i64, StageError> {
    let a = crate::npy::read_u8(path)?;
    let s = &a.shape;
    if s.len() != 4 || s[1] != 3 || s[2] != patch || s[3] != patch || s[0] < 1 {
        return Err(StageError::data(
            path,
            format!("patch stack is uint8 {s:?}, expected [T, 3, {patch}, {patch}]"),
        ));
    }
    let frame = 3 * patch * patch;
    let len = s[0].min(out.len() / frame);
    out[..len * frame].copy_from_slice(&a.data[..len * frame]);
    Ok(len as i64)
}

/// Loads `split` of the model input at `dir`, cut or padded to `frames` frames (reading the
/// stacks in parallel).
pub fn load_split(
    dir: &Path,
    index: &Index,
    split: Split,
    frames: usize,
) -> Result<SplitData, StageError> {
    let items: Vec<&Item> = index.items.iter().filter(|i| i.split == split).collect();
    let p = index.crop.patch_size;
    let per_item = (frames * 3 * p * p).max(1);
    let mut buf = vec![0u8; items.len() * per_item];
    let lengths = buf
        .par_chunks_mut(per_item)
        .zip(items.par_iter())
        .map(|(out, i)| read_stack(&stack_path(dir, i), p, out))
        .collect::<Result<Vec<i64>, _>>()?;
    // The one libtorch op, on this thread.
    let all =
        Tensor::from_slice(&buf).view([items.len() as i64, frames as i64, 3, p as i64, p as i64]);
    drop(buf);
    let label_list: Vec<u8> = items.iter().map(|i| i.label).collect();
    let labels: Vec<f32> = label_list.iter().map(|&l| f32::from(l)).collect();
    Ok(SplitData {
        frames: all,
        lengths: Tensor::from_slice(&lengths),
        labels: Tensor::from_slice(&labels),
        names: items.iter().map(|i| i.name.clone()).collect(),
        label_list,
        kinds: items.iter().map(|i| i.kind.clone()).collect(),
    })
}
