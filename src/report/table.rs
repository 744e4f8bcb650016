//! Sweep comparison tables: one row per cell, a column per overridden param and per
//! reported metric; with seeds, mean ± std (n) per metric; the best value of each column
//! marked. Rendered as aligned text, markdown, CSV or JSON from the same model.

use std::fmt::Write as _;

use serde::Serialize;

use crate::graph::sweep::{Better, ReportCol};

/// Mean and spread of one metric over a cell's replicates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    /// Sample standard deviation (n - 1); `None` for one replicate.
    pub std: Option<f64>,
    pub n: usize,
    pub values: Vec<f64>,
}

impl Stat {
    pub fn of(values: Vec<f64>) -> Option<Stat> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = (n > 1).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            var.sqrt()
        });
        Some(Stat {
            mean,
            std,
            n,
            values,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// Every replicate ran and is up to date.
    Ok,
    /// Results exist but the cell's inputs changed since.
    Stale,
    /// A replicate failed in the last run.
    Failed,
    /// Never run.
    NotRun,
}

impl RowState {
    pub fn label(self) -> &'static str {
        match self {
            RowState::Ok => "ok",
            RowState::Stale => "stale",
            RowState::Failed => "failed",
            RowState::NotRun => "not run",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub cell: String,
    /// One rendered value per overridden key ("" where this cell does not override it).
    pub params: Vec<String>,
    pub metrics: Vec<Option<Stat>>,
    pub state: RowState,
    /// Log of a failed replicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub sweep: String,
    pub keys: Vec<String>,
    #[serde(skip)]
    pub short: Vec<String>,
    pub report: Vec<ReportCol>,
    pub seeds: bool,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Csv,
    Json,
}

impl Table {
    /// The row index holding the best mean of metric column `m`.
    pub fn best(&self, m: usize) -> Option<usize> {
        let better = self.report.get(m)?.better;
        let mut best: Option<(usize, f64)> = None;
        for (i, r) in self.rows.iter().enumerate() {
            let Some(Some(s)) = r.metrics.get(m) else {
                continue;
            };
            if s.mean.is_nan() {
                continue;
            }
            let wins = match (best, better) {
                (None, _) => true,
                (Some((_, b)), Better::Max) => s.mean > b,
                (Some((_, b)), Better::Min) => s.mean < b,
            };
            if wins {
                best = Some((i, s.mean));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Sorts rows by a metric (best first) or a param (ascending).
    pub fn sort_by(&mut self, key: &str) -> Result<(), String> {
        if let Some(m) = self.report.iter().position(|c| c.metric == key) {
            let better = self.report[m].better;
            let val = |r: &Row| r.metrics[m].as_ref().map(|s| s.mean);
            self.rows.sort_by(|a, b| {
                let (x, y) = (val(a), val(b));
                match (x, y) {
                    (Some(x), Some(y)) => {
                        let o = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
                        if better == Better::Max {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            });
            return Ok(());
        }
        let p = self
            .keys
            .iter()
            .zip(&self.short)
            .position(|(k, s)| k == key || s == key)
            .ok_or_else(|| {
                let mut names: Vec<&str> = self.report.iter().map(|c| c.metric.as_str()).collect();
                names.extend(self.short.iter().map(String::as_str));
                format!(
                    "cannot sort by `{key}`: the table's columns are {}",
                    names.join(", ")
                )
            })?;
        self.rows
            .sort_by(|a, b| natural(&a.params[p], &b.params[p]));
        Ok(())
    }

    pub fn render(&self, f: Format) -> String {
        match f {
            Format::Text => self.text(),
            Format::Markdown => self.markdown(),
            Format::Csv => self.csv(),
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default(),
        }
    }

    fn header(&self) -> Vec<String> {
        let mut h = vec!["cell".to_string()];
        h.extend(self.short.iter().cloned());
        for c in &self.report {
            let arrow = match c.better {
                Better::Max => "↑",
                Better::Min => "↓",
            };
            h.push(format!("{} {arrow}", c.metric));
        }
        h.push("state".into());
        h
    }

    fn cells(&self, mark: impl Fn(String) -> String) -> Vec<Vec<String>> {
        let best: Vec<Option<usize>> = (0..self.report.len()).map(|m| self.best(m)).collect();
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut v = vec![r.cell.clone()];
                v.extend(r.params.iter().cloned());
                for (m, s) in r.metrics.iter().enumerate() {
                    let text = match s {
                        Some(s) => fmt_stat(s, self.seeds),
                        None => "-".into(),
                    };
                    v.push(if best[m] == Some(i) && self.rows.len() > 1 {
                        mark(text)
                    } else {
                        text
                    });
                }
                v.push(match (&r.state, &r.log) {
                    (RowState::Failed, Some(l)) => format!("failed (log: {l})"),
                    (s, _) => s.label().into(),
                });
                v
            })
            .collect()
    }

    fn text(&self) -> String {
        let header = self.header();
        let rows = self.cells(|t| format!("{t} *"));
        let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c}{}", " ".repeat(width[i] - c.chars().count())))
                .collect();
            parts.join("  ").trim_end().to_string()
        };
        let mut out = format!("sweep {}: {} cell(s)\n", self.sweep, self.rows.len());
        out.push_str(&line(&header));
        out.push('\n');
        let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&rule.join("  "));
        out.push('\n');
        for r in &rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        if self.rows.len() > 1 && !self.report.is_empty() {
            out.push_str("* best in its column\n");
        }
        out
    }

    fn markdown(&self) -> String {
        let header = self.header();
        let rows = self.cells(|t| format!("**{t}**"));
        let esc = |s: &str| s.replace('|', "\\|");
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| {} |",
            header
                .iter()
                .map(|h| esc(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(
            out,
            "|{}|",
            header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
        );
        for r in rows {
            let _ = writeln!(
                out,
                "| {} |",
                r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
            );
        }
        if self.seeds {
            out.push_str("\nValues are mean ± sample standard deviation over seeds (n replicates); bold is the best in its column.\n");
        }
        out
    }

    fn csv(&self) -> String {
        let mut h: Vec<String> = vec!["cell".into()];
        h.extend(self.keys.iter().cloned());
        for c in &self.report {
            h.push(format!("{}_mean", c.metric));
            h.push(format!("{}_std", c.metric));
            h.push(format!("{}_n", c.metric));
        }
        h.push("state".into());
        let q = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut out = h.iter().map(|x| q(x)).collect::<Vec<_>>().join(",");
        out.push('\n');
        for r in &self.rows {
            let mut v = vec![q(&r.cell)];
            v.extend(r.params.iter().map(|p| q(p)));
            for s in &r.metrics {
                match s {
                    Some(s) => {
                        v.push(s.mean.to_string());
                        v.push(s.std.map(|x| x.to_string()).unwrap_or_default());
                        v.push(s.n.to_string());
                    }
                    None => v.extend([String::new(), String::new(), "0".into()]),
                }
            }
            v.push(r.state.label().into());
            out.push_str(&v.join(","));
            out.push('\n');
        }
        out
    }
}

/// `0.9312`, or `0.9312 ± 0.0120 (n=3)` with seeds (the spread with the mean's decimals).
pub fn fmt_stat(s: &Stat, seeds: bool) -> String {
    match (s.std, seeds) {
        (Some(sd), _) => {
            let mean = num(s.mean);
            let decimals = mean.split_once('.').map_or(0, |(_, d)| d.len());
            if mean.contains('e') {
                format!("{mean} ± {sd:.3e} (n={})", s.n)
            } else {
                format!("{mean} ± {sd:.decimals$} (n={})", s.n)
            }
        }
        (None, true) => format!("{} (n=1)", num(s.mean)),
        (None, false) => num(s.mean),
    }
}

/// Four significant digits, no exponent for everyday magnitudes.
pub fn num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let mag = x.abs().log10().floor() as i32;
    if !(-4..6).contains(&mag) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

/// Numbers compare as numbers, the rest as text.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let s = Stat::of(vec![0.9, 0.92, 0.94]).unwrap();
        assert!((s.mean - 0.92).abs() < 1e-12);
        assert!((s.std.unwrap() - 0.02).abs() < 1e-12);
        assert_eq!(Stat::of(vec![0.5]).unwrap().std, None);
        assert_eq!(Stat::of(vec![]), None);
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(num(0.93125), "0.9313");
        assert_eq!(num(12.5), "12.50");
        assert_eq!(num(1234.0), "1234");
        assert_eq!(num(0.0), "0");
    }

    fn table() -> Table {
        let row = |cell: &str, grid: &str, f1: f64, loss: f64| Row {
            cell: cell.into(),
            params: vec![grid.into()],
            metrics: vec![Stat::of(vec![f1]), Stat::of(vec![loss])],
            state: RowState::Ok,
            log: None,
        };
        Table {
            sweep: "s".into(),
            keys: vec!["model.grid".into()],
            short: vec!["grid".into()],
            report: vec![
                ReportCol {
                    metric: "f1".into(),
                    better: Better::Max,
                },
                ReportCol {
                    metric: "loss".into(),
                    better: Better::Min,
                },
            ],
            seeds: false,
            rows: vec![
                row("grid=2", "2", 0.8, 0.3),
                row("grid=8", "8", 0.9, 0.5),
                row("grid=4", "4", 0.7, 0.2),
            ],
        }
    }

    #[test]
    fn best_follows_direction_and_sorting() {
        let mut t = table();
        assert_eq!(t.best(0), Some(1));
        assert_eq!(t.best(1), Some(2));
        t.sort_by("f1").unwrap();
        let order: Vec<&str> = t.rows.iter().map(|r| r.cell.as_str()).collect();
        assert_eq!(order, ["grid=8", "grid=2", "grid=4"]);
        t.sort_by("grid").unwrap();
        let order: Vec<&str> = t.rows.iter().map(|r| r.cell.as_str()).collect();
        assert_eq!(order, ["grid=2", "grid=4", "grid=8"]);
        assert!(t.sort_by("nope").is_err());
        let md = t.render(Format::Markdown);
        assert!(
            md.contains("| grid=8 | 8 | **0.9000** | 0.5000 | ok |"),
            "{md}"
        );
        let csv = t.render(Format::Csv);
        assert!(
            csv.starts_with(
                "cell,model.grid,f1_mean,f1_std,f1_n,loss_mean,loss_std,loss_n,state\n"
            ),
            "{csv}"
        );
    }
}
