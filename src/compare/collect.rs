//! What the metrics and params were at a revision.
//!
//! Which files are metrics comes from the pipeline as it is now (every `metrics` out of
//! every stage instance, sweep cells included). Their contents at a revision:
//!
//! | side | metrics file | params |
//! |---|---|---|
//! | workspace | the file on disk | the params files as they are now (what a run would use) |
//! | git revision | the file in that commit's tree; else, for a cached out (git-ignored), the cache object its digest in that commit's `pipe.lock` names | that commit's `pipe.lock`: what each stage last ran with |
//!
//! A file that cannot be read or parsed is kept as an error naming it, so the others are
//! still shown. A file absent at a revision (the stage had not run then) is simply absent.

use std::collections::{BTreeMap, HashMap};

use pipe_cache::Digest;

use super::error::{CompareError, FileError};
use super::flat::{self, Flat, Value};
use super::git::{Repo, Rev};
use crate::error::Result;
use crate::graph::Graph;
use crate::lock::{Entries, format as lock_format};
use crate::session::Session;
use crate::spec::OutRole;

/// One metrics (or plots) file of one stage instance.
#[derive(Debug, Clone)]
pub struct FileRef {
    pub stage: String,
    pub path: String,
}

/// A metrics file as read at one revision.
#[derive(Debug)]
pub enum Read {
    Ok(Flat),
    /// Not there at that revision (never ran, or not yet declared).
    Absent,
    /// There but unreadable, and why.
    Broken(FileError),
}

/// The `role` outs (metrics or plots) of the stage instances `targets` name: a stage id
/// (`train` is the base pipeline's, `train@grid=4` a cell's), a sweep name (all its
/// cells), or a path. No targets: all of them.
pub fn files(g: &Graph, targets: &[String], role: OutRole) -> Result<Vec<FileRef>> {
    let mut out = Vec::new();
    let mut matched = vec![false; targets.len()];
    for st in g.stages() {
        for o in st.outs_of(role) {
            let hit: Vec<usize> = targets
                .iter()
                .enumerate()
                .filter(|(_, t)| {
                    let t = t.trim_end_matches('/');
                    t == st.id.as_str()
                        || st.cell.as_ref().is_some_and(|c| c.sweep == t)
                        || t == o.path.as_str()
                })
                .map(|(i, _)| i)
                .collect();
            for &i in &hit {
                matched[i] = true;
            }
            if targets.is_empty() || !hit.is_empty() {
                out.push(FileRef {
                    stage: st.id.to_string(),
                    path: o.path.to_string(),
                });
            }
        }
    }
    if let Some(i) = matched.iter().position(|m| !m) {
        return Err(CompareError::NoTarget {
            target: targets[i].clone(),
            role: role.key().to_string(),
        }
        .into());
    }
    Ok(out)
}

/// The raw bytes of `files` at `rev`: `Ok(None)` when absent there.
pub fn bytes_at(
    s: &Session,
    repo: Option<&Repo>,
    rev: &Rev,
    files: &[FileRef],
) -> Result<Vec<std::result::Result<Option<Vec<u8>>, FileError>>> {
    let Rev::Git { commit, name } = rev else {
        return Ok(files
            .iter()
            .map(|f| {
                let p = s.ws.root.join(&f.path);
                match std::fs::read(&p) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(FileError::Read(e)),
                }
            })
            .collect());
    };
    let repo = repo.ok_or(CompareError::NoRepo)?;
    let lock = lock_at(s, repo, commit, name)?;
    let digests: HashMap<&str, Digest> = lock
        .values()
        .flat_map(|e| e.outs.iter())
        .map(|(p, h)| (p.as_str(), h.digest))
        .collect();
    let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let in_git = repo.read_all(commit, &paths)?;
    Ok(files
        .iter()
        .zip(in_git)
        .map(|(f, blob)| {
            if let Some(b) = blob {
                return Ok(Some(b));
            }
            let Some(d) = digests.get(f.path.as_str()) else {
                return Ok(None);
            };
            s.ws.store
                .read_object(d)
                .map(Some)
                .map_err(|_| FileError::NotCached {
                    rev: name.clone(),
                    object: d.short(),
                })
        })
        .collect())
}

/// The lock as committed at `commit` (empty if there was none).
pub fn lock_at(s: &Session, repo: &Repo, commit: &str, name: &str) -> Result<Entries> {
    let rel =
        s.ws.lock
            .path()
            .strip_prefix(&s.ws.root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "pipe.lock".into());
    let got = repo.read_all(commit, std::slice::from_ref(&rel))?;
    match got.into_iter().next().flatten() {
        None => Ok(Entries::new()),
        Some(b) => lock_format::parse(&String::from_utf8_lossy(&b)).map_err(|why| {
            CompareError::LockAt {
                file: rel.clone(),
                rev: name.to_string(),
                why: why.to_string(),
            }
            .into()
        }),
    }
}

/// Every metrics file in `files`, parsed, at `rev`.
pub fn metrics_at(
    s: &Session,
    repo: Option<&Repo>,
    rev: &Rev,
    files: &[FileRef],
) -> Result<Vec<Read>> {
    Ok(bytes_at(s, repo, rev, files)?
        .into_iter()
        .zip(files)
        .map(|(b, f)| match b {
            Ok(None) => Read::Absent,
            Ok(Some(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => {
                    flat::parse(&f.path, text).map_or_else(|e| Read::Broken(e.into()), Read::Ok)
                }
                Err(_) => Read::Broken(FileError::NotUtf8),
            },
            Err(e) => Read::Broken(e),
        })
        .collect())
}

/// `(cell or "", key) -> value`: the params each scope reads at `rev`. Base-pipeline
/// stages share the scope `""`; a sweep cell's stages (seed replicates included) share
/// the cell part of their id.
pub type ParamSet = BTreeMap<(String, String), Value>;

pub fn params_at(s: &Session, repo: Option<&Repo>, rev: &Rev) -> Result<ParamSet> {
    let mut out = ParamSet::new();
    match rev {
        Rev::Workspace => {
            for st in s.graph.stages() {
                let scope = st.id.cell().unwrap_or("").to_string();
                for (k, v) in &st.params {
                    out.entry((scope.clone(), k.clone()))
                        .or_insert_with(|| Value::from_toml(v));
                }
            }
        }
        Rev::Git { commit, name } => {
            let repo = repo.ok_or(CompareError::NoRepo)?;
            for (id, e) in lock_at(s, repo, commit, name)? {
                let scope = id.split_once('@').map_or("", |(_, c)| c).to_string();
                for (k, v) in &e.params {
                    let mut flat = BTreeMap::new();
                    crate::spec::params::flatten_into(k, v, &mut flat);
                    for (k, v) in flat {
                        out.entry((scope.clone(), k))
                            .or_insert_with(|| Value::from_toml(&v));
                    }
                }
            }
        }
    }
    Ok(out)
}
