//! `.dvc` files (from `dvc add`): each out becomes tracked data (`[data]` in pipe.toml).
//!
//! ```yaml
//! outs:
//! - md5: 22c4c6b03910c42cdcb506a0c358e69e.dir
//!   size: 6
//!   nfiles: 3
//!   hash: md5
//!   path: raw            # relative to the .dvc file's directory, and its `wdir`
//! ```
//! A `wdir` (`wdir: ..`, as `dvc add` writes for a file of another directory) moves the
//! base every path resolves against, as DVC does.
//! A `.dvc` file with `deps` (`dvc import`, `dvc import-url`) records where the data came
//! from; pipe keeps the data, and a note says the origin is not carried.
//! A `.dvc` file with a `cmd` is a stage, not data: [`stagefile`](super::stagefile).

use std::path::Path;

use toml::Value;

use super::convert::{StageDecl, entries, join};
use super::lock::LockedStage;
use super::{Note, Notes, stagefile};
use crate::spec::yaml;
use crate::spec::{SourceFile, SpecError};

/// One tracked path and the md5 DVC recorded for it.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// Workspace-relative.
    pub path: String,
    pub md5: Option<String>,
    /// Written by DVC 2 (no `hash: md5`): text files were hashed with CRLF as LF.
    pub legacy: bool,
    /// `file.dvc:LINE`
    pub at: String,
}

/// What one `.dvc` file holds: tracked data, or (a single-stage file) a stage.
#[derive(Debug)]
pub enum DotDvc {
    Data(Vec<Tracked>),
    /// A single-stage file: the stage, and the lock entry it records.
    Stage(Box<StageDecl>, Box<LockedStage>),
}

impl DotDvc {
    /// Every out the file records with its md5, as tracked data or as a stage's outs
    /// (workspace-relative paths).
    pub fn recorded_outs(self) -> Result<Vec<Tracked>, SpecError> {
        match self {
            DotDvc::Data(d) => Ok(d),
            DotDvc::Stage(st, lock) => lock
                .outs
                .into_iter()
                .map(|h| {
                    Ok(Tracked {
                        path: join(&st.wdir, &h.path)
                            .map_err(|m| SpecError::new(format!("{}: {m}", h.at)))?,
                        md5: h.md5,
                        legacy: h.legacy,
                        at: h.at,
                    })
                })
                .collect(),
        }
    }
}

/// Reads one `.dvc` file (workspace-relative path `rel`); a `Dvcfile` or a `.dvc` file
/// with a `cmd` is a single-stage file ([`stagefile`](super::stagefile)).
pub fn read(root: &Path, rel: &str, notes: &mut Notes) -> Result<DotDvc, SpecError> {
    let abs = root.join(rel);
    let text = std::fs::read_to_string(&abs)
        .map_err(|e| SpecError::new(format!("cannot read {}: {e}", abs.display())))?;
    let file = SourceFile {
        name: rel.to_string(),
        text: text.into(),
    };
    let Some(doc) = yaml::parse(&file)? else {
        return Ok(DotDvc::Data(Vec::new()));
    };
    let here = rel.rsplit_once('/').map_or("", |(d, _)| d);
    let fields = entries(&file, &doc)?;
    if stagefile::is_stage(&fields) || stagefile::is_dvcfile(rel) {
        let (st, lock) = stagefile::read(&file, &fields, notes)?;
        return Ok(DotDvc::Stage(Box::new(st), Box::new(lock)));
    }
    let dir = match fields.iter().find(|(k, _, _)| k == "wdir") {
        None => here.to_string(),
        Some((_, _, v)) => {
            let Some(Value::String(w)) = yaml::to_value(&file, v)? else {
                return Err(file.error(yaml::span(&file, v), "`wdir` must be a path"));
            };
            join(here, &w).map_err(|m| file.error(yaml::span(&file, v), format!("`wdir` {m}")))?
        }
    };
    let mut out = Vec::new();
    for (key, knode, value) in fields {
        match key.as_str() {
            "outs" => {
                let saphyr::YamlDataOwned::Sequence(items) = &value.data else {
                    return Err(file.error(yaml::span(&file, value), "`outs` must be a list"));
                };
                for it in items {
                    let Some(Value::Table(t)) = yaml::to_value(&file, it)? else {
                        return Err(file.error(yaml::span(&file, it), "an out is a mapping"));
                    };
                    let Some(path) = t.get("path").and_then(Value::as_str) else {
                        return Err(file.error(yaml::span(&file, it), "an out needs a `path`"));
                    };
                    for (k, x) in &t {
                        // DVC before 1.0 wrote `metric: false` and `persist: false` on
                        // every out: nothing to carry.
                        let default = matches!(
                            (k.as_str(), x),
                            ("metric" | "persist", Value::Boolean(false))
                        );
                        if !default
                            && !matches!(
                                k.as_str(),
                                "path" | "md5" | "size" | "nfiles" | "hash" | "etag" | "desc" | "cache" | "push" | "isexec"
                            )
                        {
                            notes.push(Note {
                                at: format!("{rel}:{}", it.span.start.line()),
                                what: format!("`{path}`: `{k}` is not carried"),
                            });
                        }
                    }
                    if t.get("cache").and_then(Value::as_bool) == Some(false) {
                        notes.push(Note {
                            at: format!("{rel}:{}", it.span.start.line()),
                            what: format!("`{path}` has `cache: false`; pipe caches tracked data"),
                        });
                    }
                    let path = join(&dir, path).map_err(|m| {
                        file.error(yaml::span(&file, it), format!("an out's path {m}"))
                    })?;
                    out.push(Tracked {
                        path,
                        md5: t.get("md5").and_then(Value::as_str).map(String::from),
                        legacy: t.get("hash").and_then(Value::as_str) != Some("md5"),
                        at: format!("{rel}:{}", it.span.start.line()),
                    });
                }
            }
            "deps" => notes.push(Note {
                at: format!("{rel}:{}", knode.span.start.line()),
                what: "the data's origin (`dvc import` / `import-url`) is not carried: pipe tracks the data as it is".into(),
            }),
            "meta" => notes.push(Note {
                at: format!("{rel}:{}", knode.span.start.line()),
                what: "`meta` is not carried (pipe's tracked data has no free-form metadata)".into(),
            }),
            // `cmd: null`: a `dvc add` file of DVC before 1.0 (a `cmd` makes it a stage).
            "frozen" | "md5" | "wdir" | "desc" | "cmd" => {}
            other => notes.push(Note {
                at: format!("{rel}:{}", knode.span.start.line()),
                what: format!("`{other}` is not carried"),
            }),
        }
    }
    Ok(DotDvc::Data(out))
}
