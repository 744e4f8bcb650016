//! Single-stage files: a `.dvc` file with a `cmd` (or a file named `Dvcfile`), the way DVC
//! before 1.0 recorded every stage (`dvc run` wrote `model.pkl.dvc`, or `Dvcfile`), and
//! DVC 1 and 2 still read. DVC 3 refuses them; pipe carries each as a stage.
//!
//! ```yaml
//! md5: 9ad4a6f8...          # DVC's checksum of the stage itself: not needed
//! cmd: python train.py
//! wdir: .                   # relative to the file's directory
//! deps:
//! - path: data/raw.csv      # relative to the wdir
//!   md5: 764efa88...
//! - path: params.yaml       # a params dependency (DVC 0.9x, 1.x)
//!   params:
//!     train.lr: 0.01
//! outs:
//! - path: model.pkl
//!   md5: 22c4c6b0...
//!   cache: true
//!   metric: false           # true (or `{type: json, xpath: ..}`): a metric
//!   persist: false
//! locked: false             # DVC 0.x's `frozen`
//! ```
//! The file is its own lock too: the md5s it records are matched against the workspace as
//! a dvc.lock's are ([`LockedStage`]), so a stage DVC had run imports up to date. The
//! stage is named after the file (`model.pkl.dvc` -> `model.pkl`, `sub/Dvcfile` ->
//! `sub.Dvcfile`).

use toml::Value;

use super::convert::{OutDecl, ParamDecl, StageDecl, is_url, join, pipe_name};
use super::lock::{Hashed, LockedStage};
use super::{Note, Notes};
use crate::spec::yaml::{self, Node};
use crate::spec::{SourceFile, SpecError};

/// Whether the file at `rel` is a single-stage file by its name alone (`Dvcfile`): a
/// `.dvc` file is one when it has a `cmd` ([`is_stage`]).
pub fn is_dvcfile(rel: &str) -> bool {
    rel.rsplit('/').next() == Some("Dvcfile")
}

/// Whether a `.dvc` file's top-level keys make it a stage rather than tracked data: a
/// `cmd` that is not empty (`cmd: null` or `""` is data, as DVC read it).
pub fn is_stage(fields: &[(String, &Node, &Node)]) -> bool {
    use saphyr::{ScalarOwned, YamlDataOwned};
    fields.iter().any(|(k, _, v)| {
        k == "cmd"
            && match &v.data {
                YamlDataOwned::Value(ScalarOwned::Null) => false,
                YamlDataOwned::Value(ScalarOwned::String(s)) => !s.trim().is_empty(),
                YamlDataOwned::Sequence(items) => !items.is_empty(),
                _ => true,
            }
    })
}

/// Reads the single-stage file `file` (its top-level `fields`): the stage, and the lock
/// entry it records.
pub fn read(
    file: &SourceFile,
    fields: &[(String, &Node, &Node)],
    notes: &mut Notes,
) -> Result<(StageDecl, LockedStage), SpecError> {
    let rel = file.name.as_str();
    let here = rel.rsplit_once('/').map_or("", |(d, _)| d);
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let stem = name.strip_suffix(".dvc").unwrap_or(name);
    let at = |node: &Node| format!("{rel}:{}", node.span.start.line());
    let err = |node: &Node, msg: String| file.error(yaml::span(file, node), msg);
    // The `cmd` makes it a stage: messages point there.
    let line = fields
        .iter()
        .find(|(k, _, _)| k == "cmd")
        .or(fields.first())
        .map_or_else(|| format!("{rel}:1"), |(_, k, _)| at(k));
    let mut decl = StageDecl {
        single_stage_file: true,
        ..StageDecl::new(here, name, pipe_name(here, stem), line.clone())
    };
    let mut lock = LockedStage {
        at: line.clone(),
        ..Default::default()
    };
    notes.push(Note {
        at: line,
        what: format!(
            "the single-stage file format (DVC before 1.0; DVC 3 refuses it) is not kept: its stage is carried, as `{}`",
            decl.name
        ),
    });
    // The wdir first: every path is relative to it.
    if let Some((_, _, v)) = fields.iter().find(|(k, _, _)| k == "wdir") {
        let Some(Value::String(w)) = yaml::to_value(file, v)? else {
            return Err(err(v, "`wdir` must be a path".into()));
        };
        decl.wdir = join(here, &w).map_err(|m| err(v, format!("`wdir` {m}")))?;
    }
    for (key, knode, value) in fields {
        let v = yaml::to_value(file, value)?;
        match (key.as_str(), v) {
            ("cmd", Some(Value::String(c))) => decl.cmd = vec![c],
            ("cmd", Some(Value::Array(a))) => {
                decl.cmd_list = true;
                for c in a {
                    let Value::String(c) = c else {
                        return Err(err(
                            value,
                            "`cmd` must be a string or a list of strings".into(),
                        ));
                    };
                    decl.cmd.push(c);
                }
            }
            ("cmd", _) => return Err(err(value, "`cmd` must be a string".into())),
            ("deps", v) => {
                for (i, d) in list(file, value, v, "deps")?.into_iter().enumerate() {
                    let node = item(value, i);
                    dep(file, &mut decl, &mut lock, d, node, notes)?;
                }
            }
            ("outs", v) => {
                for (i, o) in list(file, value, v, "outs")?.into_iter().enumerate() {
                    let node = item(value, i);
                    out(file, &mut decl, &mut lock, o, node, notes)?;
                }
            }
            ("locked" | "frozen", Some(Value::Boolean(b))) => decl.frozen = b,
            ("always_changed", Some(Value::Boolean(b))) => decl.always_changed = b,
            ("locked" | "frozen" | "always_changed", _) => {
                return Err(err(value, format!("`{key}` must be true or false")));
            }
            ("desc", Some(Value::String(d))) => decl.desc = Some(d),
            ("md5" | "wdir" | "desc", _) => {}
            ("meta", _) => notes.push(Note {
                at: at(knode),
                what: "`meta` is not carried (pipe stages have no free-form metadata)".into(),
            }),
            (other, _) => notes.push(Note {
                at: at(knode),
                what: format!("`{other}` is not carried"),
            }),
        }
    }
    if decl.cmd.iter().all(|c| c.trim().is_empty())
        && let Some((_, _, node)) = fields.iter().find(|(k, _, _)| k == "cmd")
    {
        return Err(err(node, "a single-stage file's `cmd` is empty".into()));
    }
    lock.cmd = decl.cmd.clone();
    Ok((decl, lock))
}

/// The entries of a `deps` or `outs` list, each a mapping with a `path`.
fn list(
    file: &SourceFile,
    node: &Node,
    v: Option<Value>,
    key: &str,
) -> Result<Vec<toml::Table>, SpecError> {
    let items = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(file.error(yaml::span(file, node), format!("`{key}` must be a list")));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.into_iter().enumerate() {
        let at = item(node, i);
        let Value::Table(t) = x else {
            return Err(file.error(
                yaml::span(file, at),
                format!("a `{key}` entry is a mapping with a `path`"),
            ));
        };
        if !t.get("path").is_some_and(Value::is_str) {
            return Err(file.error(
                yaml::span(file, at),
                format!("a `{key}` entry needs a `path`"),
            ));
        }
        out.push(t);
    }
    Ok(out)
}

/// The `i`th item of the sequence `node` (itself when it is not one), for its line.
fn item(node: &Node, i: usize) -> &Node {
    match &node.data {
        saphyr::YamlDataOwned::Sequence(items) => items.get(i).unwrap_or(node),
        _ => node,
    }
}

fn dep(
    file: &SourceFile,
    decl: &mut StageDecl,
    lock: &mut LockedStage,
    t: toml::Table,
    node: &Node,
    notes: &mut Notes,
) -> Result<(), SpecError> {
    let at = format!("{}:{}", file.name, node.span.start.line());
    let path = t.get("path").and_then(Value::as_str).unwrap_or_default();
    let ws = join(&decl.wdir, path)
        .map_err(|m| file.error(yaml::span(file, node), format!("a dep's path {m}")))?;
    if let Some(p) = t.get("params") {
        let Value::Table(values) = p else {
            return Err(file.error(
                yaml::span(file, node),
                "a dep's `params` is a mapping of keys to values".to_string(),
            ));
        };
        let keys: Vec<String> = values.keys().cloned().collect();
        let entry = decl.params.iter_mut().find_map(|d| match d {
            ParamDecl::File { file: f, keys } if *f == ws => Some(keys),
            _ => None,
        });
        match entry {
            Some(k) => k.extend(
                keys.into_iter()
                    .filter(|x| !k.contains(x))
                    .collect::<Vec<_>>(),
            ),
            None => decl.params.push(ParamDecl::File { file: ws, keys }),
        }
        lock.params
            .entry(path.to_string())
            .or_default()
            .extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
        return Ok(());
    }
    if is_url(path) {
        notes.push(Note {
            at,
            what: format!("stage `{}`: dep `{path}` is not carried (pipe tracks paths in the project, not URLs: a change there does not make the stage stale)", decl.name),
        });
        return Ok(());
    }
    if t.contains_key("repo") {
        notes.push(Note {
            at: at.clone(),
            what: format!("stage `{}`: dep `{path}`'s origin (`repo`) is not carried: pipe reads it as it is in the workspace", decl.name),
        });
    }
    decl.deps.push(path.to_string());
    lock.deps.push(Hashed::of_entry(&t, path, at));
    Ok(())
}

fn out(
    file: &SourceFile,
    decl: &mut StageDecl,
    lock: &mut LockedStage,
    t: toml::Table,
    node: &Node,
    notes: &mut Notes,
) -> Result<(), SpecError> {
    let at = format!("{}:{}", file.name, node.span.start.line());
    let path = t.get("path").and_then(Value::as_str).unwrap_or_default();
    join(&decl.wdir, path)
        .map_err(|m| file.error(yaml::span(file, node), format!("an out's path {m}")))?;
    let mut d = OutDecl {
        path: path.to_string(),
        cache: true,
        persist: false,
        desc: None,
    };
    let mut role = Role::Out;
    for (k, x) in &t {
        match (k.as_str(), x) {
            ("cache", Value::Boolean(b)) => d.cache = *b,
            ("persist", Value::Boolean(b)) => d.persist = *b,
            ("desc", Value::String(s)) => d.desc = Some(s.clone()),
            ("metric", Value::Boolean(false)) | ("plot", Value::Boolean(false)) => {}
            ("metric", Value::Boolean(true) | Value::Table(_)) => role = Role::Metric,
            ("plot", Value::Boolean(true) | Value::Table(_)) => role = Role::Plot,
            ("path" | "md5" | "hash" | "size" | "nfiles" | "isexec" | "etag" | "push", _) => {}
            (other, _) => notes.push(Note {
                at: at.clone(),
                what: format!("stage `{}`: `{path}`: `{other}` is not carried", decl.name),
            }),
        }
    }
    lock.outs.push(Hashed::of_entry(&t, path, at));
    match role {
        Role::Out => decl.outs.push(d),
        Role::Metric => decl.metrics.push(d),
        Role::Plot => decl.plots.push(d),
    }
    Ok(())
}

enum Role {
    Out,
    Metric,
    Plot,
}
