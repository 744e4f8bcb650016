//! Old against new, key by key: the model behind `metrics diff` and `params diff`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::flat::Value;

/// One key's values on both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The metrics file's path (metrics), or the sweep cell (params; `""` for the base
    /// pipeline).
    pub scope: String,
    pub key: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
    /// `new - old`, when both are numbers.
    pub change: Option<f64>,
    /// `change / |old|`, when `old` is a non-zero number.
    pub rel: Option<f64>,
}

impl Row {
    pub fn changed(&self) -> bool {
        self.old != self.new
    }
}

/// A file that could not be read on one side.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: String,
    pub rev: String,
    pub error: String,
}

/// A whole comparison, ready to render.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// `metrics` or `params`.
    pub what: &'static str,
    pub old: String,
    pub new: String,
    pub rows: Vec<Row>,
    /// Unchanged rows left out (without `--all`).
    pub unchanged: usize,
    /// Cells' rows left out because they change exactly as the base pipeline's (params).
    pub inherited: usize,
    pub problems: Vec<Problem>,
}

pub type Keyed = BTreeMap<(String, String), Value>;

/// Rows for every key on either side, in key order; unchanged ones only with `all`.
/// Returns the rows and how many unchanged rows were left out.
pub fn compare(old: &Keyed, new: &Keyed, all: bool) -> (Vec<Row>, usize) {
    let keys: BTreeSet<&(String, String)> = old.keys().chain(new.keys()).collect();
    let mut rows = Vec::new();
    let mut unchanged = 0;
    for k in keys {
        let (o, n) = (old.get(k).cloned(), new.get(k).cloned());
        let change = match (
            o.as_ref().and_then(Value::as_f64),
            n.as_ref().and_then(Value::as_f64),
        ) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let rel = match (change, o.as_ref().and_then(Value::as_f64)) {
            (Some(c), Some(a)) if a != 0.0 => Some(c / a.abs()),
            _ => None,
        };
        let row = Row {
            scope: k.0.clone(),
            key: k.1.clone(),
            old: o,
            new: n,
            change,
            rel,
        };
        if row.changed() || all {
            rows.push(row);
        } else {
            unchanged += 1;
        }
    }
    (rows, unchanged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(items: &[(&str, &str, Value)]) -> Keyed {
        items
            .iter()
            .map(|(s, k, v)| ((s.to_string(), k.to_string()), v.clone()))
            .collect()
    }

    #[test]
    fn deltas_are_absolute_and_relative_and_unchanged_rows_wait_for_all() {
        let old = keyed(&[
            ("e.json", "f1", Value::Float(0.8)),
            ("e.json", "n", Value::Int(40)),
            ("e.json", "gone", Value::Int(1)),
            ("e.json", "device", Value::Text("cpu".into())),
            ("e.json", "zero", Value::Float(0.0)),
        ]);
        let new = keyed(&[
            ("e.json", "f1", Value::Float(0.9)),
            ("e.json", "n", Value::Int(40)),
            ("e.json", "added", Value::Float(2.0)),
            ("e.json", "device", Value::Text("cuda".into())),
            ("e.json", "zero", Value::Float(1.0)),
        ]);
        let (rows, unchanged) = compare(&old, &new, false);
        assert_eq!(unchanged, 1);
        let get = |k: &str| rows.iter().find(|r| r.key == k).unwrap();
        let f1 = get("f1");
        assert!((f1.change.unwrap() - 0.1).abs() < 1e-12);
        assert!((f1.rel.unwrap() - 0.125).abs() < 1e-12);
        assert_eq!(get("gone").new, None);
        assert_eq!(get("added").old, None);
        assert_eq!(get("added").change, None);
        assert_eq!(get("device").change, None);
        assert_eq!(get("zero").change, Some(1.0));
        assert_eq!(get("zero").rel, None, "no relative change from zero");
        assert!(rows.iter().all(|r| r.key != "n"));
        let (rows, unchanged) = compare(&old, &new, true);
        assert_eq!((rows.len(), unchanged), (6, 0));
    }
}
