//! Params files and looking keys up in them.
//!
//! A pipeline names its params files (`[pipeline] params`, default `params.toml`, or
//! `params.yaml` when only that exists, as in DVC; TOML, YAML, JSON or Python's constants). A stage reads keys (`train.lr`) or whole tables (`train`) from them; the values it
//! read are recorded in the lock flattened to leaf keys, so a change is reported as
//! `param train.lr 0.001 -> 0.01`. Sweep cells override keys through a [`View`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

use super::diag::{SourceFile, SpecError};
use super::null::null;
use crate::wspath::WsPath;

/// A JSON params file's tree as a params table (nulls as [`NULL`]); `None` when its top
/// level is not an object.
fn json_table(v: serde_json::Value) -> Option<Table> {
    match json_value(v) {
        Value::Table(t) => Some(t),
        _ => None,
    }
}

fn json_value(v: serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => null(),
        J::Bool(b) => Value::Boolean(b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Integer(i),
            (None, Some(f)) => Value::Float(f),
            (None, None) => Value::String(n.to_string()),
        },
        J::String(s) => Value::String(s),
        J::Array(a) => Value::Array(a.into_iter().map(json_value).collect()),
        J::Object(m) => Value::Table(m.into_iter().map(|(k, v)| (k, json_value(v))).collect()),
    }
}

/// One loaded params file.
#[derive(Debug, Clone)]
pub struct ParamsFile {
    pub path: WsPath,
    pub source: SourceFile,
    pub table: Table,
}

/// A params file as the pipeline named it: loaded, or missing (an error only when a stage
/// needs a key from it).
#[derive(Debug, Clone)]
pub enum Slot {
    Loaded(ParamsFile),
    Missing(WsPath),
}

#[derive(Debug, Clone, Default)]
pub struct Params {
    /// The pipeline's params files, searched in order for a key.
    pub defaults: Vec<Slot>,
    /// Files named explicitly by stages (`{ file = ..., keys = [...] }`).
    pub others: BTreeMap<WsPath, Slot>,
}

impl Params {
    /// Loads a params file; `Ok(None)` when it does not exist.
    pub fn load_file(root: &Path, path: &WsPath) -> Result<Option<ParamsFile>, SpecError> {
        let abs = path.to_abs(root);
        let bytes = match std::fs::read(&abs) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(SpecError::new(format!(
                    "cannot read params file {}: {e}",
                    abs.display()
                )));
            }
        };
        let source = SourceFile::from_bytes(&abs, bytes)?;
        let table = if path.as_str().ends_with(".json") {
            let tree = serde_json::from_str::<serde_json::Value>(&source.text).map_err(|e| {
                let offset = offset_of(&source.text, e.line(), e.column());
                source.error(offset..offset + 1, format!("invalid JSON params: {e}"))
            })?;
            json_table(tree).ok_or_else(|| {
                source.error(
                    0..1,
                    "a params file must hold an object of keys to values at its top level",
                )
            })?
        } else if path.as_str().ends_with(".toml") {
            toml::from_str::<Table>(&source.text)
                .map_err(|e| super::diag::from_toml(&source, &e))?
        } else if is_yaml(path.as_str()) {
            super::yaml::params_table(&source)?
        } else if path.as_str().ends_with(".py") {
            super::python::params_table(&source)?
        } else {
            return Err(SpecError::new(format!(
                "params file {path} must be .toml, .yaml, .yml, .json or .py"
            )));
        };
        Ok(Some(ParamsFile {
            path: path.clone(),
            source,
            table,
        }))
    }

    fn slot(&self, file: Option<&WsPath>) -> Vec<&Slot> {
        match file {
            Some(f) => self.others.get(f).into_iter().collect(),
            None => self.defaults.iter().collect(),
        }
    }

    /// The value of `key` in `file` (or the first default file that has it).
    pub fn get(&self, file: Option<&WsPath>, key: &str) -> Option<&Value> {
        self.slot(file).into_iter().find_map(|s| match s {
            Slot::Loaded(f) => lookup(&f.table, key),
            Slot::Missing(_) => None,
        })
    }

    /// Why `key` could not be found, for the error message.
    pub fn explain_missing(&self, file: Option<&WsPath>, key: &str) -> String {
        let slots = self.slot(file);
        let missing: Vec<String> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::Missing(p) => Some(p.to_string()),
                Slot::Loaded(_) => None,
            })
            .collect();
        let loaded: Vec<String> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::Loaded(f) => Some(f.path.to_string()),
                Slot::Missing(_) => None,
            })
            .collect();
        if loaded.is_empty() && !missing.is_empty() {
            format!("params file {} does not exist", missing.join(", "))
        } else if loaded.is_empty() {
            "the pipeline names no params files".to_string()
        } else {
            let near = self.suggest(&slots, key);
            let mut msg = format!("no param `{key}` in {}", loaded.join(", "));
            if let Some(n) = near {
                msg.push_str(&format!(" (did you mean `{n}`?)"));
            }
            msg
        }
    }

    fn suggest(&self, slots: &[&Slot], key: &str) -> Option<String> {
        let mut keys = BTreeMap::new();
        for s in slots {
            if let Slot::Loaded(f) = s {
                flatten_all("", &Value::Table(f.table.clone()), &mut keys);
            }
        }
        keys.keys()
            .map(|k| (strsim(k, key), k))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, k)| k.clone())
    }

    /// The file and value of `key`, for pointing at it.
    pub fn source_of(&self, file: Option<&WsPath>, key: &str) -> Option<&ParamsFile> {
        self.slot(file).into_iter().find_map(|s| match s {
            Slot::Loaded(f) if lookup(&f.table, key).is_some() => Some(f),
            _ => None,
        })
    }
}

/// Whether a params file is YAML, by its name.
pub fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// The default params file of a pipeline rooted at `root`: `params.toml`, or `params.yaml`
/// when only that exists (DVC's default, so a DVC project's scripts keep reading theirs).
pub fn default_file(root: &Path) -> &'static str {
    if !root.join("params.toml").exists() && root.join("params.yaml").exists() {
        "params.yaml"
    } else {
        "params.toml"
    }
}

/// Params with a sweep cell's overrides applied on top.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub params: &'a Params,
    pub overrides: &'a BTreeMap<String, Value>,
}

impl<'a> View<'a> {
    pub fn get(&self, file: Option<&WsPath>, key: &str) -> Option<Cow<'a, Value>> {
        if let Some(v) = self.overrides.get(key) {
            return Some(Cow::Borrowed(v));
        }
        let base = self.params.get(file, key)?;
        let prefix = format!("{key}.");
        let inner: Vec<(&String, &Value)> = self
            .overrides
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .collect();
        match base {
            Value::Table(t) if !inner.is_empty() => {
                let mut t = t.clone();
                for (k, v) in inner {
                    set(&mut t, &k[prefix.len()..], v.clone());
                }
                Some(Cow::Owned(Value::Table(t)))
            }
            v => Some(Cow::Borrowed(v)),
        }
    }
}

/// `a.b.c` in nested tables.
pub fn lookup<'v>(table: &'v Table, key: &str) -> Option<&'v Value> {
    let mut parts = key.split('.');
    let mut cur = table.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur)
}

/// Sets `a.b.c` in nested tables, creating the tables on the way.
pub fn set(table: &mut Table, key: &str, v: Value) {
    match key.split_once('.') {
        None => {
            table.insert(key.to_string(), v);
        }
        Some((head, rest)) => {
            let entry = table
                .entry(head.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            if let Value::Table(t) = entry {
                set(t, rest, v);
            }
        }
    }
}

/// The leaves under `key` (the key itself when its value is not a table).
pub fn flatten_into(key: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Table(t) if !t.is_empty() => {
            for (k, v) in t {
                flatten_into(&format!("{key}.{k}"), v, out);
            }
        }
        v => {
            out.insert(key.to_string(), v.clone());
        }
    }
}

fn flatten_all(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    if let Value::Table(t) = v {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.insert(key.clone(), v.clone());
            flatten_all(&key, v, out);
        }
    }
}

/// A param value as pipe spells it in commands, sweep cell names and tables: TOML on one
/// line with floats in decimal digits (see `spec::toml_text`, the one renderer).
pub fn render(v: &Value) -> String {
    super::toml_text::decimal(v)
}

/// The name of a value's type, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::Boolean(_) => "boolean",
        Value::Datetime(_) => "datetime",
        Value::Array(_) => "array",
        Value::Table(_) => "table",
    }
}

fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + col.saturating_sub(1)).min(text.len().saturating_sub(1))
}

/// Levenshtein distance, for "did you mean" hints.
fn strsim(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> Params {
        let table: Table = toml::from_str(text).unwrap();
        Params {
            defaults: vec![Slot::Loaded(ParamsFile {
                path: WsPath::parse("params.toml").unwrap(),
                source: SourceFile {
                    name: "params.toml".into(),
                    text: text.into(),
                },
                table,
            })],
            others: BTreeMap::new(),
        }
    }

    #[test]
    fn lookups_overrides_and_flattening() {
        let p = params("[train]\nlr = 0.001\nepochs = 3\n[model]\ngrid = 2\n");
        assert_eq!(p.get(None, "train.lr"), Some(&Value::Float(0.001)));
        assert!(p.get(None, "train.nope").is_none());
        let mut o = BTreeMap::new();
        o.insert("train.lr".to_string(), Value::Float(0.01));
        let v = View {
            params: &p,
            overrides: &o,
        };
        assert_eq!(
            v.get(None, "train.lr").unwrap().as_ref(),
            &Value::Float(0.01)
        );
        let table = v.get(None, "train").unwrap();
        let mut flat = BTreeMap::new();
        flatten_into("train", &table, &mut flat);
        assert_eq!(flat.get("train.lr"), Some(&Value::Float(0.01)));
        assert_eq!(flat.get("train.epochs"), Some(&Value::Integer(3)));
        assert_eq!(flat.len(), 2);
    }

    #[test]
    fn messages_suggest_near_keys() {
        let p = params("[train]\nlr = 0.001\n");
        let msg = p.explain_missing(None, "train.lrr");
        assert!(msg.contains("did you mean `train.lr`"), "{msg}");
        let none = Params {
            defaults: vec![Slot::Missing(WsPath::parse("params.toml").unwrap())],
            others: BTreeMap::new(),
        };
        assert_eq!(
            none.explain_missing(None, "x"),
            "params file params.toml does not exist"
        );
    }

    #[test]
    fn render_is_toml_like() {
        assert_eq!(render(&Value::Float(1.0)), "1.0");
        assert_eq!(render(&Value::String("a".into())), "\"a\"");
        assert_eq!(
            render(&Value::Array(vec![Value::Integer(1), Value::Integer(2)])),
            "[1, 2]"
        );
    }
}
