//! Rendering the experiments table (`compare::exps::ExpTable`, `pipe exp show`) as
//! aligned text, markdown, CSV or JSON, the best value of each metric column marked as in
//! the sweep table; and `exp diff`'s side-by-side rows.

use crate::compare::exps::ExpTable;
use crate::report::grid;
use crate::report::table::{Format, num, title};

fn header(t: &ExpTable) -> Vec<String> {
    let mut h = vec!["experiment".to_string()];
    h.extend(t.short.iter().cloned());
    h.extend(t.metrics.iter().map(title));
    h.push("state".into());
    h.push("time".into());
    h
}

fn cells(t: &ExpTable, mark: impl Fn(String) -> String) -> Vec<Vec<String>> {
    let best: Vec<Option<usize>> = (0..t.metrics.len()).map(|m| t.best(m)).collect();
    t.rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut v = vec![r.name.clone()];
            v.extend(r.params.iter().cloned());
            for (m, x) in r.metrics.iter().enumerate() {
                let text = x.map_or("-".to_string(), num);
                v.push(if best[m] == Some(i) && t.rows.len() > 1 {
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

/// The table in format `f`.
pub fn render(t: &ExpTable, f: Format) -> String {
    match f {
        Format::Text => text(t),
        Format::Markdown => markdown(t),
        Format::Csv => csv(t),
        Format::Json => serde_json::to_string_pretty(t).unwrap_or_default(),
    }
}

fn text(t: &ExpTable) -> String {
    let rows = cells(t, |t| format!("{t} *"));
    let mut out = format!(
        "experiments ({}): {}\n",
        t.source,
        t.rows.len().saturating_sub(1)
    );
    out.push_str(&grid::aligned(&header(t), &rows, true));
    if t.rows.len() > 1 && !t.metrics.is_empty() {
        out.push_str("* best in its column; an empty param is the baseline's value\n");
    }
    out
}

fn markdown(t: &ExpTable) -> String {
    let rows = cells(t, |t| format!("**{t}**"));
    grid::markdown(&header(t), &rows)
}

fn csv(t: &ExpTable) -> String {
    let mut h: Vec<String> = vec!["experiment".into()];
    h.extend(t.keys.iter().cloned());
    h.extend(t.metrics.iter().map(|c| c.metric.clone()));
    h.push("state".into());
    h.push("time".into());
    let mut out = grid::csv_record(&h);
    for r in &t.rows {
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
    use crate::compare::exps::ExpRow;
    use crate::graph::sweep::{Better, ReportCol};

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
                .to_string()
                .contains("the metrics are acc")
        );
        let md = render(&t, Format::Markdown);
        // `acc:min` made lower better: the baseline's 0.5 is the best now.
        assert!(
            md.contains("| baseline | 0.001 | **0.5000** | done |"),
            "{md}"
        );
        let csv = render(&t, Format::Csv);
        assert!(
            csv.starts_with("experiment,train.lr,acc,state,time\n"),
            "{csv}"
        );
    }
}
