//! Metrics files as flat `key -> value` maps.
//!
//! A metrics file is JSON, TOML or YAML (by extension; anything else is tried as JSON).
//! Nested tables become dotted keys (`{"val": {"f1": 0.9}}` -> `val.f1`); a list stays one
//! value, shown as JSON (a confusion matrix is read, not diffed cell by cell). `null`s are
//! dropped. Numbers keep whether they were integers, so `tp = 12` prints as `12` (see
//! `report::compare::value`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::spec::diag::{SourceFile, SpecError};
use crate::spec::yaml;

/// One leaf of a metrics or params file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl Value {
    /// The value as a number, for deltas (booleans are not numbers here).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn from_toml(v: &toml::Value) -> Value {
        match v {
            toml::Value::Integer(i) => Value::Int(*i),
            toml::Value::Float(f) => Value::Float(*f),
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::String(s) => Value::Text(s.clone()),
            other => Value::Text(crate::spec::params::render(other)),
        }
    }
}

pub type Flat = BTreeMap<String, Value>;

/// Which parser a file gets, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Json,
    Toml,
    Yaml,
}

impl Kind {
    pub fn of(path: &str) -> Kind {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".toml") {
            Kind::Toml
        } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Kind::Yaml
        } else {
            Kind::Json
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Json => "JSON",
            Kind::Toml => "TOML",
            Kind::Yaml => "YAML",
        }
    }
}

/// Why a metrics file's text is not metrics: which format was expected and where the text
/// broke; the caller adds the path.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Boxed: it is large.
    #[error("{}", .0.message())]
    Toml(Box<toml::de::Error>),
    /// YAML's message, with `at line L column C` when the reader knew where.
    #[error("{message}{}", at.as_ref().map_or(String::new(), |(l, c)| format!(" at line {l} column {c}")))]
    Yaml {
        message: String,
        at: Option<(String, String)>,
    },
    #[error("not a {kind} table of metrics (the top level must map names to values)")]
    NotATable { kind: &'static str },
}

/// Parses a metrics file's text (named `path`, for its format) into a flat map.
pub fn parse(path: &str, text: &str) -> Result<Flat, MetricsError> {
    let kind = Kind::of(path);
    let tree: serde_json::Value = match kind {
        Kind::Json => super::pyjson::from_str(text)?,
        Kind::Toml => {
            let t: toml::Table =
                toml::from_str(text).map_err(|e| MetricsError::Toml(Box::new(e)))?;
            from_toml_with_nulls(toml::Value::Table(t))
        }
        Kind::Yaml => yaml_tree(path, text)?,
    };
    let serde_json::Value::Object(map) = tree else {
        return Err(MetricsError::NotATable { kind: kind.name() });
    };
    let mut out = Flat::new();
    for (k, v) in &map {
        flatten(k, v, &mut out);
    }
    Ok(out)
}

/// A YAML metrics file through the params reader (`spec::yaml`, saphyr: one YAML parser for
/// pipe), as JSON; a parse error keeps its line and column.
fn yaml_tree(path: &str, text: &str) -> Result<serde_json::Value, MetricsError> {
    let file = SourceFile::new(Path::new(path), text.to_string());
    let at = |e: SpecError| {
        let where_ = e
            .location()
            .and_then(|l| l.strip_prefix(&file.name)?.strip_prefix(':'));
        MetricsError::Yaml {
            message: e.message().to_string(),
            at: where_
                .and_then(|lc| lc.split_once(':'))
                .map(|(l, c)| (l.to_string(), c.to_string())),
        }
    };
    let Some(doc) = yaml::parse(&file).map_err(at)? else {
        return Ok(serde_json::Value::Object(Default::default()));
    };
    let v = yaml::to_value_or(&file, &doc, &crate::spec::null::null()).map_err(at)?;
    Ok(from_toml_with_nulls(v))
}

fn from_toml_with_nulls(v: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) if s == crate::spec::null::NULL => J::Null,
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => super::pyjson::value_of(f),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.into_iter().map(from_toml_with_nulls).collect()),
        toml::Value::Table(t) => J::Object(
            t.into_iter()
                .map(|(k, v)| (k, from_toml_with_nulls(v)))
                .collect(),
        ),
    }
}

fn flatten(key: &str, v: &serde_json::Value, out: &mut Flat) {
    use serde_json::Value as J;
    match v {
        J::Null => {}
        J::Bool(b) => {
            out.insert(key.to_string(), Value::Bool(*b));
        }
        J::Number(n) => {
            let v = match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            };
            out.insert(key.to_string(), v);
        }
        J::String(s) => {
            let v =
                super::pyjson::non_finite(s).map_or_else(|| Value::Text(s.clone()), Value::Float);
            out.insert(key.to_string(), v);
        }
        J::Array(_) => {
            out.insert(key.to_string(), Value::Text(v.to_string()));
        }
        J::Object(m) if m.is_empty() => {}
        J::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{key}.{k}"), v, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_flatten_with_dots_in_every_format() {
        let json = r#"{"f1": 0.9, "val": {"loss": 0.25, "n": 40, "ok": true}, "cm": [[1, 2], [3, 4]], "x": null}"#;
        let toml = "f1 = 0.9\ncm = [[1, 2], [3, 4]]\n[val]\nloss = 0.25\nn = 40\nok = true\n";
        let yaml =
            "f1: 0.9\nval:\n  loss: 0.25\n  n: 40\n  ok: true\ncm: [[1, 2], [3, 4]]\nx: null\n";
        for (path, text) in [("m.json", json), ("m.toml", toml), ("m.yaml", yaml)] {
            let m = parse(path, text).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(m.get("f1"), Some(&Value::Float(0.9)), "{path}");
            assert_eq!(m.get("val.loss"), Some(&Value::Float(0.25)), "{path}");
            assert_eq!(m.get("val.n"), Some(&Value::Int(40)), "{path}");
            assert_eq!(m.get("val.ok"), Some(&Value::Bool(true)), "{path}");
            assert_eq!(
                m.get("cm"),
                Some(&Value::Text("[[1,2],[3,4]]".into())),
                "{path}"
            );
            assert!(!m.contains_key("x") && !m.contains_key("val"), "{path}");
        }
        // YAML nulls inside a list stay nulls (no error), as in JSON.
        let m = parse("m.yaml", "xs: [1, ~, 2]\n").unwrap();
        assert_eq!(m.get("xs"), Some(&Value::Text("[1,null,2]".into())));
        assert!(parse("m.yaml", "").unwrap().is_empty(), "an empty file");
    }

    #[test]
    fn malformed_and_non_table_files_say_what_was_expected() {
        let e = parse("eval.json", "{\"f1\": 0.9,").unwrap_err().to_string();
        assert!(e.contains("EOF"), "{e}");
        let e = parse("eval.json", "[1, 2]").unwrap_err().to_string();
        assert_eq!(
            e,
            "not a JSON table of metrics (the top level must map names to values)"
        );
        assert!(parse("m.toml", "f1 = ").is_err());
        let e = parse("m.yml", "a: 1\nb: [1,\n").unwrap_err().to_string();
        assert!(e.starts_with("invalid YAML: "), "{e}");
        assert!(
            e.ends_with("at line 3 column 1"),
            "the error says where: {e}"
        );
        let e = parse("m.yaml", "- 1\n- 2\n").unwrap_err().to_string();
        assert!(e.starts_with("not a YAML table"), "{e}");
    }

    #[test]
    fn values_are_numbers_only_when_numeric() {
        assert_eq!(Value::Int(3).as_f64(), Some(3.0));
        assert_eq!(Value::Bool(true).as_f64(), None);
    }
}
