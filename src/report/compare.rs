//! Rendering `metrics show`, `metrics diff` and `params diff`: aligned text, markdown,
//! CSV or JSON from the same model.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::compare::diff::{Diff, Row};
use crate::compare::flat::{Flat, Value};
use crate::report::grid::{self, csv_field};

/// Output formats of the compare commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Text,
    Markdown,
    Csv,
    Json,
}

/// Aligned columns (text) or a pipe table (markdown).
fn grid(header: &[String], rows: &[Vec<String>], style: Style) -> String {
    match style {
        Style::Markdown => grid::markdown(header, rows),
        _ => grid::aligned(header, rows, false),
    }
}

/// One metrics file for `metrics show`.
#[derive(Debug, Serialize)]
pub struct Shown {
    pub stage: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Flat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `metrics show`: in text and markdown, one table per file name (a sweep's cells share
/// one), a column per key; CSV is long (stage, path, key, value); JSON the list.
pub fn show(files: &[Shown], style: Style) -> String {
    match style {
        Style::Json => serde_json::to_string_pretty(files).unwrap_or_default(),
        Style::Csv => {
            let mut out = String::from("stage,path,key,value\n");
            for f in files {
                for (k, v) in f.metrics.iter().flatten() {
                    let _ = writeln!(
                        out,
                        "{},{},{},{}",
                        csv_field(&f.stage),
                        csv_field(&f.path),
                        csv_field(k),
                        csv_field(&raw(v))
                    );
                }
            }
            out
        }
        Style::Text | Style::Markdown => {
            let mut groups: BTreeMap<(String, String), Vec<&Shown>> = BTreeMap::new();
            let mut order = Vec::new();
            for f in files.iter().filter(|f| f.metrics.is_some()) {
                let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
                let g = (f.stage.split('@').next().unwrap_or("").to_string(), name);
                if !groups.contains_key(&g) {
                    order.push(g.clone());
                }
                groups.entry(g).or_default().push(f);
            }
            let mut out = String::new();
            for g in order {
                let members = &groups[&g];
                let mut keys: Vec<&String> = members
                    .iter()
                    .flat_map(|f| f.metrics.iter().flat_map(|m| m.keys()))
                    .collect();
                keys.sort();
                keys.dedup();
                let mut header = vec!["Path".to_string()];
                header.extend(keys.iter().map(|k| k.to_string()));
                let rows: Vec<Vec<String>> = members
                    .iter()
                    .map(|f| {
                        let mut r = vec![f.path.clone()];
                        let m = f.metrics.as_ref();
                        r.extend(
                            keys.iter()
                                .map(|k| m.and_then(|m| m.get(*k)).map_or("-".to_string(), value)),
                        );
                        r
                    })
                    .collect();
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&grid(&header, &rows, style));
            }
            if out.is_empty() {
                out.push_str("No metrics to show (no stage has written its metrics files yet).\n");
            }
            out
        }
    }
}

/// A value as written: an integer as one, a float to four significant digits.
pub fn value(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(x) => crate::report::table::num(*x),
        Value::Bool(b) => b.to_string(),
        Value::Text(s) => s.clone(),
    }
}

/// A value as CSV and JSON readers expect it (full precision).
fn raw(v: &Value) -> String {
    match v {
        Value::Float(f) => f.to_string(),
        other => value(other),
    }
}

fn signed(x: f64) -> String {
    let s = crate::report::table::num(x);
    if x > 0.0 { format!("+{s}") } else { s }
}

fn pct(r: f64) -> String {
    format!("{}{:.1}%", if r > 0.0 { "+" } else { "" }, r * 100.0)
}

fn cells(r: &Row) -> [String; 4] {
    let show = |v: &Option<Value>| v.as_ref().map_or("-".to_string(), value);
    [
        show(&r.old),
        show(&r.new),
        r.change.map(signed).unwrap_or_else(|| {
            if r.changed() {
                "changed".into()
            } else {
                String::new()
            }
        }),
        r.rel.map(pct).unwrap_or_default(),
    ]
}

/// `metrics diff` / `params diff`.
pub fn diff(d: &Diff, style: Style) -> String {
    let scope = if d.what == "params" { "Cell" } else { "Path" };
    match style {
        Style::Json => serde_json::to_string_pretty(d).unwrap_or_default(),
        Style::Csv => {
            let mut out = format!("{},key,old,new,change,rel\n", scope.to_lowercase());
            for r in &d.rows {
                let opt = |v: &Option<Value>| v.as_ref().map(raw).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    csv_field(&r.scope),
                    csv_field(&r.key),
                    csv_field(&opt(&r.old)),
                    csv_field(&opt(&r.new)),
                    r.change.map(|c| c.to_string()).unwrap_or_default(),
                    r.rel.map(|c| c.to_string()).unwrap_or_default()
                );
            }
            out
        }
        Style::Text | Style::Markdown => {
            let header: Vec<String> = vec![
                scope.into(),
                "Key".into(),
                d.old.clone(),
                d.new.clone(),
                "Change".into(),
                "Change %".into(),
            ];
            let rows: Vec<Vec<String>> = d
                .rows
                .iter()
                .map(|r| {
                    let [o, n, c, p] = cells(r);
                    let scope = if r.scope.is_empty() && d.what == "params" {
                        "(pipeline)".to_string()
                    } else {
                        r.scope.clone()
                    };
                    vec![scope, r.key.clone(), o, n, c, p]
                })
                .collect();
            let mut out = if rows.is_empty() {
                format!("No {} changed between {} and {}.\n", d.what, d.old, d.new)
            } else {
                grid(&header, &rows, style)
            };
            let mut notes = Vec::new();
            if d.unchanged > 0 {
                notes.push(format!("{} unchanged (--all shows them)", d.unchanged));
            }
            if d.inherited > 0 {
                notes.push(format!(
                    "{} sweep-cell value(s) change exactly as the pipeline's and are not repeated",
                    d.inherited
                ));
            }
            if !notes.is_empty() && !rows.is_empty() {
                let _ = writeln!(out, "\n{}.", notes.join("; "));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::diff::compare;

    #[test]
    fn values_print_as_written() {
        assert_eq!(value(&Value::Int(12)), "12");
        assert_eq!(value(&Value::Float(0.93125)), "0.9313");
        assert_eq!(value(&Value::Text("cpu".into())), "cpu");
    }

    #[test]
    fn diff_text_shows_old_new_and_both_changes() {
        let mut old = BTreeMap::new();
        let mut new = BTreeMap::new();
        old.insert(
            ("eval.json".to_string(), "f1".to_string()),
            Value::Float(0.8),
        );
        new.insert(
            ("eval.json".to_string(), "f1".to_string()),
            Value::Float(0.9),
        );
        old.insert(("eval.json".to_string(), "n".to_string()), Value::Int(4));
        new.insert(("eval.json".to_string(), "n".to_string()), Value::Int(4));
        let (rows, unchanged) = compare(&old, &new, false);
        let d = Diff {
            what: "metrics",
            old: "HEAD".into(),
            new: "workspace".into(),
            rows,
            unchanged,
            inherited: 0,
            problems: vec![],
        };
        let text = diff(&d, Style::Text);
        assert_eq!(
            text,
            "Path       Key  HEAD    workspace  Change   Change %\n\
             eval.json  f1   0.8000  0.9000     +0.1000  +12.5%\n\
             \n1 unchanged (--all shows them).\n"
        );
        let md = diff(&d, Style::Markdown);
        assert!(
            md.contains("| eval.json | f1 | 0.8000 | 0.9000 | +0.1000 | +12.5% |"),
            "{md}"
        );
        let json: serde_json::Value = serde_json::from_str(&diff(&d, Style::Json)).unwrap();
        assert_eq!(json["rows"][0]["old"], 0.8);
        let rel = json["rows"][0]["rel"].as_f64().expect("rel is a number");
        assert!((rel - 0.125).abs() < 1e-12, "{rel}");
    }
}
