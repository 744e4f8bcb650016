//! The raw data layout of domain.md, read from disk and validated.
//!
//! ```text
//! ROOT/<dataset>/<split>/<class>/<sequence>/images/frame_000001.jpg ...
//!                                           labels/frame_000001.txt ...
//!                                           kind.txt      (optional)
//! ```
//! `<split>` is `train`, `val` or `test`; `<class>` is `wildfire` (label 1) or `fp` (label
//! 0), and the class folder, not the class id in the label files, is the target. ROOT may
//! also be a single dataset (holding `train/`, `val/` directly). Frames are ordered by file
//! name; a frame whose label file is missing has no detections. Sequence names are the keys
//! of every later output, so a name used twice anywhere under ROOT is an error naming both.
//!
//! `kind.txt`, one word (`smoke`, `steady_plume`, `cloud`, `fog`, ..), says what the sequence
//! shows, finer than its class: `evaluate` reports the false-positive rate per kind. The
//! synthetic generator writes it; for real data it is optional (an annotation a team may
//! add), and is carried through every stage to the model input's index.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::StageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Wildfire,
    Fp,
}

impl Class {
    pub const ALL: [Class; 2] = [Class::Wildfire, Class::Fp];

    pub fn name(self) -> &'static str {
        match self {
            Class::Wildfire => "wildfire",
            Class::Fp => "fp",
        }
    }

    /// The training target: 1 for smoke.
    pub fn label(self) -> u8 {
        match self {
            Class::Wildfire => 1,
            Class::Fp => 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Frame {
    /// The image's file name (`frame_000001.jpg`).
    pub name: String,
    pub image: PathBuf,
    /// `labels/<stem>.txt`, where it exists.
    pub label: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Sequence {
    pub name: String,
    /// The word in `kind.txt`, where there is one.
    pub kind: Option<String>,
    pub split: Split,
    pub class: Class,
    /// `<dataset>/<split>/<class>/<name>` relative to the scanned root (no dataset part
    /// when the root is the dataset itself).
    pub rel: PathBuf,
    pub dir: PathBuf,
    pub frames: Vec<Frame>,
}

fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, StageError> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if fs_err::metadata(&path)?.is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Dot-dirs are tooling (`.ipynb_checkpoints`, `.git`), not data.
            if !name.starts_with('.') {
                out.push((name, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The file beside `images/` and `labels/` naming a sequence's kind.
pub const KIND_FILE: &str = "kind.txt";

/// The kind of the sequence at `dir` (`kind.txt`), if it has one: one word of letters,
/// digits, `_` or `-`.
pub fn read_kind(dir: &Path) -> Result<Option<String>, StageError> {
    let path = dir.join(KIND_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = fs_err::read_to_string(&path)?;
    let word = text.trim();
    let ok = !word.is_empty()
        && word.len() <= 64
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(StageError::data(
            &path,
            format!(
                "a kind is one word of letters, digits, `_` or `-` (at most 64), got {:?}",
                text.trim_end()
            ),
        ));
    }
    Ok(Some(word.to_string()))
}

fn is_jpeg(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".jpg") || lower.ends_with(".jpeg")
}

/// The frames of one sequence directory (`images/` + optional `labels/`), in order.
pub fn scan_sequence(dir: &Path) -> Result<Vec<Frame>, StageError> {
    let images = dir.join("images");
    if !images.is_dir() {
        return Err(StageError::data(
            &images,
            "missing images directory (a sequence holds images/ and labels/)",
        ));
    }
    let labels = dir.join("labels");
    let mut frames = Vec::new();
    for entry in fs_err::read_dir(&images)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_jpeg(&name) {
            continue;
        }
        let stem = Path::new(&name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = labels.join(format!("{stem}.txt"));
        frames.push(Frame {
            image: entry.path(),
            label: label.is_file().then_some(label),
            name,
        });
    }
    if frames.is_empty() {
        return Err(StageError::data(
            &images,
            "no .jpg frames in the images directory",
        ));
    }
    frames.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(frames)
}

/// The dataset directories under `root`: `root` itself if it holds split folders.
fn datasets(root: &Path) -> Result<Vec<(PathBuf, PathBuf)>, StageError> {
    let holds_splits = |d: &Path| Split::ALL.iter().any(|s| d.join(s.name()).is_dir());
    if !root.is_dir() {
        return Err(StageError::data(root, "raw data directory does not exist"));
    }
    if holds_splits(root) {
        return Ok(vec![(root.to_path_buf(), PathBuf::new())]);
    }
    let found: Vec<_> = subdirs(root)?
        .into_iter()
        .filter(|(_, p)| holds_splits(p))
        .map(|(name, p)| (p, PathBuf::from(name)))
        .collect();
    if found.is_empty() {
        return Err(StageError::data(
            root,
            "no dataset found: expected <dataset>/train|val/wildfire|fp/<sequence>/images/",
        ));
    }
    Ok(found)
}

/// Every sequence under `root`, sorted by (split, class, name); see the module header.
pub fn scan(root: &Path) -> Result<Vec<Sequence>, StageError> {
    let mut seqs = Vec::new();
    for (ds_dir, ds_rel) in datasets(root)? {
        for (split_name, split_dir) in subdirs(&ds_dir)? {
            let Some(split) = Split::ALL.into_iter().find(|s| s.name() == split_name) else {
                return Err(StageError::data(
                    &split_dir,
                    "unexpected directory: a dataset holds train/, val/ (and test/)",
                ));
            };
            for (class_name, class_dir) in subdirs(&split_dir)? {
                let Some(class) = Class::ALL.into_iter().find(|c| c.name() == class_name) else {
                    return Err(StageError::data(
                        &class_dir,
                        "unexpected class directory: expected wildfire/ or fp/",
                    ));
                };
                for (name, dir) in subdirs(&class_dir)? {
                    let frames = scan_sequence(&dir)?;
                    seqs.push(Sequence {
                        kind: read_kind(&dir)?,
                        rel: ds_rel.join(split.name()).join(class.name()).join(&name),
                        name,
                        split,
                        class,
                        dir,
                        frames,
                    });
                }
            }
        }
    }
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for s in &seqs {
        if let Some(first) = seen.insert(&s.name, &s.dir) {
            return Err(StageError::data(
                &s.dir,
                format!(
                    "duplicate sequence name `{}`: also at {} (names must be unique across classes and splits)",
                    s.name,
                    first.display()
                ),
            ));
        }
    }
    seqs.sort_by(|a, b| (a.split, a.class, &a.name).cmp(&(b.split, b.class, &b.name)));
    Ok(seqs)
}
