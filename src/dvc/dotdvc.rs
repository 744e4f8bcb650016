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

use std::path::Path;

use toml::Value;

use super::convert::{entries, join};
use super::{Note, Notes};
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

/// Reads one `.dvc` file (workspace-relative path `rel`).
pub fn read(root: &Path, rel: &str, notes: &mut Notes) -> Result<Vec<Tracked>, SpecError> {
    let abs = root.join(rel);
    let text = std::fs::read_to_string(&abs)
        .map_err(|e| SpecError::new(format!("cannot read {}: {e}", abs.display())))?;
    let file = SourceFile {
        name: rel.to_string(),
        text: text.into(),
    };
    let Some(doc) = yaml::parse(&file)? else {
        return Ok(Vec::new());
    };
    let here = rel.rsplit_once('/').map_or("", |(d, _)| d);
    let fields = entries(&file, &doc)?;
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
                    for k in t.keys() {
                        if !matches!(
                            k.as_str(),
                            "path" | "md5" | "size" | "nfiles" | "hash" | "etag" | "desc" | "cache" | "push" | "isexec"
                        ) {
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
            "frozen" | "md5" | "wdir" | "desc" => {}
            other => notes.push(Note {
                at: format!("{rel}:{}", knode.span.start.line()),
                what: format!("`{other}` is not carried"),
            }),
        }
    }
    Ok(out)
}
