//! The experiments table (`pipe exp show`): the workspace baseline and one row per
//! experiment; a column per param some experiment overrides (values that differ from
//! the baseline), per metric, then state and time. The best value of each metric column
//! is marked, as in the sweep table. Aligned text, markdown, CSV or JSON.

use serde::Serialize;

use crate::graph::sweep::{Better, ReportCol};
use crate::report::table::{Format, num};
use crate::report::{grid, rank};

#[derive(Debug, Clone, Serialize)]
pub struct ExpRow {
    pub name: String,
    /// One rendered value per key ("" where it equals the baseline).
    pub params: Vec<String>,
    pub metrics: Vec<Option<f64>>,
    pub state: String,
    /// When it finished (or was queued), UTC.
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpTable {
    /// Where the rows come from (`workspace`, or `remote NAME`).
    pub source: String,
    pub keys: Vec<String>,
    #[serde(skip)]
    pub short: Vec<String>,
    pub metrics: Vec<ReportCol>,
    pub rows: Vec<ExpRow>,
}

impl ExpTable {
    /// The row holding the best value of metric column `m`.
    pub fn best(&self, m: usize) -> Option<usize> {
        let better = self.metrics.get(m)?.better;
        rank::best(self.rows.iter().map(|r| *r.metrics.get(m)?), better)
    }

    /// Sorts the experiments (the baseline stays first) by a metric, best first; `m:min`
    /// or `m:max` says which way is better.
    pub fn sort_by(&mut self, key: &str) -> Result<(), String> {
        let (name, dir) = match key.rsplit_once(':') {
            Some((n, "min")) => (n, Some(Better::Min)),
            Some((n, "max")) => (n, Some(Better::Max)),
            _ => (key, None),
        };
        let Some(m) = self.metrics.iter().position(|c| c.metric == name) else {
            let names: Vec<&str> = self.metrics.iter().map(|c| c.metric.as_str()).collect();
            return Err(format!(
                "cannot sort by `{name}`: the metrics are {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        };
        if let Some(d) = dir {
            self.metrics[m].better = d;
        }
        let better = self.metrics[m].better;
        let mut rest = self.rows.split_off(1.min(self.rows.len()));
        rest.sort_by(|a, b| rank::order(a.metrics[m], b.metrics[m], better));
        self.rows.extend(rest);
        Ok(())
    }

    fn header(&self) -> Vec<String> {
        let mut h = vec!["experiment".to_string()];
        h.extend(self.short.iter().cloned());
        h.extend(self.metrics.iter().map(rank::title));
        h.push("state".into());
        h.push("time".into());
        h
    }

    fn cells(&self, mark: impl Fn(String) -> String) -> Vec<Vec<String>> {
        let best: Vec<Option<usize>> = (0..self.metrics.len()).map(|m| self.best(m)).collect();
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut v = vec![r.name.clone()];
                v.extend(r.params.iter().cloned());
                for (m, x) in r.metrics.iter().enumerate() {
                    let text = x.map_or("-".to_string(), num);
                    v.push(if best[m] == Some(i) && self.rows.len() > 1 {
                        mark(text)
                    } else {
                        text
                    });
                }
                v.push(match &r.error {
                    Some(e) => format!("{} ({e})", r.state),
                    None => r.state.clone(),
                });
                v.push(r.time.clone());
                v
            })
            .collect()
    }

    pub fn render(&self, f: Format) -> String {
        match f {
            Format::Text => self.text(),
            Format::Markdown => self.markdown(),
            Format::Csv => self.csv(),
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default(),
        }
    }

    fn text(&self) -> String {
        let rows = self.cells(|t| format!("{t} *"));
        let mut out = format!(
            "experiments ({}): {}\n",
            self.source,
            self.rows.len().saturating_sub(1)
        );
        out.push_str(&grid::aligned(&self.header(), &rows, true));
        if self.rows.len() > 1 && !self.metrics.is_empty() {
            out.push_str("* best in its column; an empty param is the baseline's value\n");
        }
        out
    }

    fn markdown(&self) -> String {
        let rows = self.cells(|t| format!("**{t}**"));
        grid::markdown(&self.header(), &rows)
    }

    fn csv(&self) -> String {
        let mut h: Vec<String> = vec!["experiment".into()];
        h.extend(self.keys.iter().cloned());
        h.extend(self.metrics.iter().map(|c| c.metric.clone()));
        h.push("state".into());
        h.push("time".into());
        let mut out = grid::csv_record(&h);
        for r in &self.rows {
            let mut v = vec![r.name.clone()];
            v.extend(r.params.iter().cloned());
            v.extend(
                r.metrics
                    .iter()
                    .map(|x| x.map(|x| x.to_string()).unwrap_or_default()),
            );
            v.push(r.state.clone());
            v.push(r.time.clone());
            out.push_str(&grid::csv_record(&v));
        }
        out
    }
}

/// `exp diff`: rows of (name, a, b, delta), aligned.
pub fn diff_text(a: &str, b: &str, lines: &[(String, String, String, String)]) -> String {
    let header = [String::new(), a.into(), b.into(), "delta".into()];
    let rows: Vec<[String; 4]> = lines
        .iter()
        .map(|(k, x, y, d)| [k.clone(), x.clone(), y.clone(), d.clone()])
        .collect();
    grid::aligned(&header, &rows, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::table::Format;

    fn table() -> ExpTable {
        let row = |name: &str, lr: &str, acc: Option<f64>| ExpRow {
            name: name.into(),
            params: vec![lr.into()],
            metrics: vec![acc],
            state: "done".into(),
            time: "2026-11-30 20:00".into(),
            error: None,
        };
        ExpTable {
            source: "workspace".into(),
            keys: vec!["train.lr".into()],
            short: vec!["lr".into()],
            metrics: vec![ReportCol {
                metric: "acc".into(),
                better: Better::Max,
            }],
            rows: vec![
                row("baseline", "0.001", Some(0.5)),
                row("lr=0.1", "0.1", Some(0.7)),
                row("lr=0.01", "0.01", Some(0.9)),
                row("lr=1", "1", None),
            ],
        }
    }

    #[test]
    fn best_is_marked_and_sorting_keeps_the_baseline_first() {
        let mut t = table();
        assert_eq!(t.best(0), Some(2));
        t.sort_by("acc").unwrap();
        let order: Vec<&str> = t.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(order, ["baseline", "lr=0.01", "lr=0.1", "lr=1"]);
        t.sort_by("acc:min").unwrap();
        assert_eq!(t.rows[1].name, "lr=0.1");
        assert!(
            t.sort_by("nope")
                .unwrap_err()
                .contains("the metrics are acc")
        );
        let md = t.render(Format::Markdown);
        // `acc:min` made lower better: the baseline's 0.5 is the best now.
        assert!(
            md.contains("| baseline | 0.001 | **0.5000** | done |"),
            "{md}"
        );
        let csv = t.render(Format::Csv);
        assert!(
            csv.starts_with("experiment,train.lr,acc,state,time\n"),
            "{csv}"
        );
    }
}
