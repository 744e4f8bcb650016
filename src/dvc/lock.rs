//! `dvc.lock`: what DVC last ran each stage with, and whether the workspace still matches.
//!
//! ```yaml
//! schema: '2.0'
//! stages:
//!   train@us:
//!     cmd: python train.py us
//!     deps:
//!     - path: data/raw          # relative to the stage's wdir
//!       hash: md5
//!       md5: 22c4c6b03910c42cdcb506a0c358e69e.dir
//!     params:
//!       params.yaml:
//!         train.lr: 0.001
//!     outs:
//!     - path: model.pkl
//!       md5: ...
//! ```
//! DVC 1's dvc.lock (no `schema`, the stages at the top level, md5s of DVC 2's kind) is
//! read too.
//!
//! A stage matches when its command, its deps and outs (as sets), the params values and
//! the md5 of every dep and out in the workspace are what dvc.lock says: DVC would call it
//! up to date. Each md5 is computed once per path however many stages name it.
//!
//! Paths are checked before anything is imported ([`check_paths`]): a dep, out or params
//! file that leaves the project (`../../x.txt` from the stage's wdir) is refused with its
//! `dvc.lock:LINE`, never resolved to a path inside it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use toml::Value;

use super::convert::{JoinError, entries, join, within};
use super::md5;
use crate::spec::yaml;
use crate::spec::{SourceFile, SpecError};

/// A dep or out as dvc.lock records it.
#[derive(Debug, Clone)]
pub struct Hashed {
    /// Relative to the stage's wdir.
    pub path: String,
    pub md5: Option<String>,
    pub legacy: bool,
    /// `dvc.lock:LINE`, for messages.
    pub at: String,
}

impl Hashed {
    /// A dep or out entry (`path`, `md5`, `hash`) as DVC writes it, in a dvc.lock or a
    /// single-stage file: without `hash: md5`, its md5 is DVC 2's (or older) kind.
    pub fn of_entry(e: &toml::Table, path: &str, at: String) -> Hashed {
        Hashed {
            path: path.to_string(),
            md5: e.get("md5").and_then(Value::as_str).map(String::from),
            legacy: e.get("hash").and_then(Value::as_str) != Some("md5"),
            at,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LockedStage {
    /// `dvc.lock:LINE` of the stage, for messages.
    pub at: String,
    pub cmd: Vec<String>,
    pub deps: Vec<Hashed>,
    pub outs: Vec<Hashed>,
    /// file (relative to the wdir) -> key -> value.
    pub params: BTreeMap<String, BTreeMap<String, Value>>,
}

/// Reads `dir/dvc.lock` (workspace-relative dir); empty when there is none.
pub fn read(root: &Path, dir: &str) -> Result<BTreeMap<String, LockedStage>, SpecError> {
    let rel = within(dir, "dvc.lock");
    let abs = root.join(&rel);
    let text = match std::fs::read_to_string(&abs) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => {
            return Err(SpecError::new(format!(
                "cannot read {}: {e}",
                abs.display()
            )));
        }
    };
    let file = SourceFile {
        name: rel,
        text: text.into(),
    };
    let Some(doc) = yaml::parse(&file)? else {
        return Ok(BTreeMap::new());
    };
    let top = entries(&file, &doc)?;
    // DVC 1 wrote the stages at the top level, without `schema` (DVC 2 read such a file
    // and rewrote it on the next run; DVC 3 refuses it). Read either way.
    let lists: Vec<&yaml::Node> = if top.iter().any(|(k, _, _)| k == "schema") {
        top.iter()
            .filter(|(k, _, _)| k == "stages")
            .map(|(_, _, v)| *v)
            .collect()
    } else {
        vec![&doc]
    };
    let mut out = BTreeMap::new();
    for v in lists {
        for (name, nnode, body) in entries(&file, v)? {
            let Value::Table(t) = yaml::to_value_or(&file, body, &crate::spec::null::null())?
            else {
                return Err(file.error(
                    yaml::span(&file, body),
                    format!("stage `{name}` is not a mapping"),
                ));
            };
            let mut s = stage(&t);
            s.at = format!("{}:{}", file.name, nnode.span.start.line());
            s.deps = hashed(&file, body, "deps")?;
            s.outs = hashed(&file, body, "outs")?;
            out.insert(name, s);
        }
    }
    Ok(out)
}

/// The `key` list (`deps` or `outs`) of a stage's `body`, each entry with its line.
fn hashed(file: &SourceFile, body: &yaml::Node, key: &str) -> Result<Vec<Hashed>, SpecError> {
    let mut out = Vec::new();
    let Some((_, _, list)) = entries(file, body)?.into_iter().find(|(k, _, _)| k == key) else {
        return Ok(out);
    };
    let saphyr::YamlDataOwned::Sequence(items) = &list.data else {
        return Ok(out);
    };
    for it in items {
        let Some(Value::Table(e)) = yaml::to_value(file, it)? else {
            continue;
        };
        let Some(path) = e.get("path").and_then(Value::as_str) else {
            continue;
        };
        out.push(Hashed::of_entry(
            &e,
            path,
            format!("{}:{}", file.name, it.span.start.line()),
        ));
    }
    Ok(out)
}

/// Refuses a dvc.lock path that leaves the project: every dep and out of `locked` (paths
/// relative to `wdir`, the stage's project-relative working directory) and every params
/// file it names, with the `dvc.lock:LINE` it is at.
pub fn check_paths(locked: &LockedStage, wdir: &str) -> Result<(), LockPathError> {
    for h in locked
        .deps
        .iter()
        .chain(&locked.outs)
        .filter(|h| !super::convert::is_url(&h.path))
    {
        join(wdir, &h.path).map_err(|e| LockPathError::Path {
            at: h.at.clone(),
            e,
        })?;
    }
    for file in locked.params.keys() {
        join(wdir, file).map_err(|e| LockPathError::ParamsFile {
            at: locked.at.clone(),
            e,
        })?;
    }
    Ok(())
}

/// A dvc.lock path that leaves the project, with the `dvc.lock:LINE` it is at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockPathError {
    #[error("{at}: {e}")]
    Path { at: String, e: JoinError },
    #[error("{at}: params file {e}")]
    ParamsFile { at: String, e: JoinError },
}

/// `rel` (from a dvc.lock that [`check_paths`] passed) as a project path.
fn joined(wdir: &str, rel: &str) -> std::io::Result<String> {
    join(wdir, rel).map_err(std::io::Error::other)
}

fn stage(t: &toml::Table) -> LockedStage {
    let cmd = match t.get("cmd") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let mut params = BTreeMap::new();
    if let Some(Value::Table(p)) = t.get("params") {
        for (file, keys) in p {
            if let Value::Table(keys) = keys {
                params.insert(
                    file.clone(),
                    keys.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                );
            }
        }
    }
    LockedStage {
        at: String::new(),
        cmd,
        deps: Vec::new(),
        outs: Vec::new(),
        params,
    }
}

/// md5 checks, each path hashed once.
#[derive(Default)]
pub struct Checker {
    seen: Mutex<HashMap<(String, String), Option<bool>>>,
}

impl Checker {
    /// Whether workspace path `ws` matches `md5` (`None`: it does not exist).
    pub fn matches(
        &self,
        root: &Path,
        ws: &str,
        md5: &str,
        legacy: bool,
    ) -> std::io::Result<Option<bool>> {
        let key = (ws.to_string(), md5.to_string());
        if let Ok(seen) = self.seen.lock()
            && let Some(r) = seen.get(&key)
        {
            return Ok(*r);
        }
        let r = md5::matches(&root.join(ws), md5, legacy)?;
        // A missing path may be brought back from DVC's cache: not remembered.
        if r.is_some()
            && let Ok(mut seen) = self.seen.lock()
        {
            seen.insert(key, r);
        }
        Ok(r)
    }
}

/// Why a stage does not match dvc.lock, or `None` when it does. `wdir` is workspace-
/// relative; `deps`/`outs` are the stage's paths (workspace-relative) as pipe builds it;
/// `cmd` its resolved command; `param` looks a key up in a (workspace-relative) file.
#[allow(clippy::too_many_arguments)]
pub fn mismatch(
    root: &Path,
    checker: &Checker,
    locked: &LockedStage,
    wdir: &str,
    cmd: &[String],
    deps: &[String],
    outs: &[String],
    param: &dyn Fn(&str, &str) -> Option<Value>,
) -> std::io::Result<Option<String>> {
    // `dvc.lock`, or the single-stage file that records the stage (`train.dvc`).
    let lockfile = locked
        .at
        .rsplit_once(':')
        .and_then(|(f, _)| f.rsplit('/').next())
        .unwrap_or("dvc.lock");
    if locked.cmd != cmd {
        return Ok(Some(format!(
            "its command differs from {lockfile}'s ({:?})",
            locked.cmd.join(" && ")
        )));
    }
    for (what, locked_list, now) in [("deps", &locked.deps, deps), ("outs", &locked.outs, outs)] {
        let mut a: Vec<String> = locked_list
            .iter()
            .filter(|h| !super::convert::is_url(&h.path))
            .map(|h| joined(wdir, &h.path))
            .collect::<std::io::Result<_>>()?;
        let mut b: Vec<String> = now.to_vec();
        a.sort();
        b.sort();
        if a != b {
            return Ok(Some(format!("its {what} differ from {lockfile}'s")));
        }
    }
    for (file, keys) in &locked.params {
        let ws = joined(wdir, file)?;
        for (k, v) in keys {
            let now = param(&ws, k);
            if now.as_ref() != Some(v) {
                return Ok(Some(format!(
                    "param {k} in {ws} is {} now, {} in {lockfile}",
                    now.map_or("missing".to_string(), |n| crate::spec::toml_text::shown(&n)),
                    crate::spec::toml_text::shown(v)
                )));
            }
        }
    }
    for (what, list) in [("dep", &locked.deps), ("out", &locked.outs)] {
        // A URL dep is not carried (the import names it): nothing to compare.
        for h in list.iter().filter(|h| !super::convert::is_url(&h.path)) {
            let ws = joined(wdir, &h.path)?;
            let Some(m) = &h.md5 else {
                return Ok(Some(format!("{lockfile} has no md5 for {what} {ws}")));
            };
            match checker.matches(root, &ws, m, h.legacy)? {
                Some(true) => {}
                Some(false) => return Ok(Some(format!("{what} {ws} changed since {lockfile}"))),
                None => return Ok(Some(format!("{what} {ws} is missing"))),
            }
        }
    }
    Ok(None)
}
