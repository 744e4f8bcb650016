//! Rendering a sweep's comparison table (`compare::table::Table`) as aligned text,
//! markdown, CSV or JSON. In text and markdown the best mean of each column is marked
//! (`*`, bold); with seeds a cell each metric shows mean ± std (n) and the 95% interval
//! of the mean, and a cell within noise of its column's best is marked `≈` (it is not
//! ranked below the best as if the gap were real). A sweep with a `baseline` tests every
//! cell against that cell instead: `≈` within its noise, `†` different beyond it. Numbers
//! keep four significant digits ([`num`]).

use serde::Serialize;

use crate::compare::stats;
use crate::compare::table::{RowState, Stat, Table, Versus};
use crate::graph::sweep::{Better, ReportCol};
use crate::report::grid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Csv,
    Json,
}

/// A metric column's header: `f1 ↑` (higher is better) or `loss ↓`.
pub fn title(c: &ReportCol) -> String {
    let arrow = match c.better {
        Better::Max => "↑",
        Better::Min => "↓",
    };
    format!("{} {arrow}", c.metric)
}

/// The table in format `f`.
pub fn render(t: &Table, f: Format) -> String {
    match f {
        Format::Text => text(t),
        Format::Markdown => markdown(t),
        Format::Csv => csv(t),
        Format::Json => json(t),
    }
}

fn header(t: &Table) -> Vec<String> {
    let mut h = vec!["cell".to_string()];
    h.extend(t.short.iter().cloned());
    h.extend(t.report.iter().map(title));
    h.push("state".into());
    h
}

/// The table, plus per column the best cell and every cell's test against it.
fn json(t: &Table) -> String {
    #[derive(Serialize)]
    struct Column<'a> {
        metric: &'a str,
        best: Option<&'a str>,
        test: &'static str,
        alpha: f64,
        versus_best: Vec<Option<Versus>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        versus_baseline: Option<Vec<Option<Versus>>>,
    }
    #[derive(Serialize)]
    struct View<'a> {
        #[serde(flatten)]
        table: &'a Table,
        columns: Vec<Column<'a>>,
    }
    let columns = t
        .report
        .iter()
        .enumerate()
        .map(|(m, c)| Column {
            metric: &c.metric,
            best: t.best(m).map(|b| t.rows[b].cell.as_str()),
            test: "welch_t_two_sided",
            alpha: stats::ALPHA,
            versus_best: t.versus_best(m),
            versus_baseline: t.baseline.as_ref().map(|_| t.versus(m)),
        })
        .collect();
    serde_json::to_string_pretty(&View { table: t, columns }).unwrap_or_default()
}

/// Whether any cell of the table is marked within noise of its column's reference.
fn any_within_noise(t: &Table) -> bool {
    (0..t.report.len()).any(|m| t.versus(m).iter().flatten().any(|v| v.within_noise))
}

fn cells(t: &Table, mark: impl Fn(String) -> String) -> Vec<Vec<String>> {
    let best: Vec<Option<usize>> = (0..t.report.len()).map(|m| t.best(m)).collect();
    let vs: Vec<Vec<Option<Versus>>> = (0..t.report.len()).map(|m| t.versus(m)).collect();
    let against_baseline = t.baseline.is_some();
    t.rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut v = vec![r.cell.clone()];
            v.extend(r.params.iter().cloned());
            for (m, s) in r.metrics.iter().enumerate() {
                let text = match s {
                    Some(s) => fmt_stat(s, t.seeds),
                    None => "-".into(),
                };
                let text = match vs[m][i] {
                    Some(v) if v.within_noise => format!("{text} ≈"),
                    Some(_) if against_baseline => format!("{text} †"),
                    _ => text,
                };
                v.push(if best[m] == Some(i) && t.rows.len() > 1 {
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

fn text(t: &Table) -> String {
    let rows = cells(t, |t| format!("{t} *"));
    let mut out = format!("sweep {}: {} cell(s)\n", t.sweep, t.rows.len());
    out.push_str(&grid::aligned(&header(t), &rows, true));
    if t.rows.len() > 1 && !t.report.is_empty() {
        out.push_str("* best in its column\n");
    }
    out.push_str(&legend(t));
    out
}

/// What the marks mean, when the table has replicates to test.
fn legend(t: &Table) -> String {
    if !t.seeds || t.rows.len() < 2 || t.report.is_empty() {
        return String::new();
    }
    let mut s = String::from("[lo, hi]: 95% interval of the mean (Student's t over seeds). ");
    if let Some(b) = &t.baseline {
        s.push_str(&format!(
            "Each cell is tested against the baseline cell `{b}` with Welch's t-test \
             (two-sided, α = 0.05): † differs from it beyond noise (p < 0.05), ≈ is within \
             its noise.\n"
        ));
        return s;
    }
    s.push_str(
        "Each cell is tested against its column's best with Welch's t-test (two-sided, α = 0.05)",
    );
    if any_within_noise(t) {
        s.push_str("; ≈ marks a difference to the best within noise, not a real ranking");
    }
    s.push_str(".\n");
    s
}

fn markdown(t: &Table) -> String {
    let rows = cells(t, |t| format!("**{t}**"));
    let mut out = grid::markdown(&header(t), &rows);
    if t.seeds {
        out.push_str("\nValues are mean ± sample standard deviation over seeds (n replicates) and the 95% interval of the mean; bold is the best in its column.\n");
    }
    out.push_str(&legend(t));
    out
}

fn csv(t: &Table) -> String {
    let reference = if t.baseline.is_some() {
        "baseline"
    } else {
        "best"
    };
    let mut h: Vec<String> = vec!["cell".into()];
    h.extend(t.keys.iter().cloned());
    for c in &t.report {
        h.push(format!("{}_mean", c.metric));
        h.push(format!("{}_std", c.metric));
        h.push(format!("{}_n", c.metric));
        h.push(format!("{}_ci95_low", c.metric));
        h.push(format!("{}_ci95_high", c.metric));
        h.push(format!("{}_diff_to_{reference}", c.metric));
        h.push(format!("{}_welch_p", c.metric));
    }
    h.push("state".into());
    let mut out = grid::csv_record(&h);
    let vs: Vec<Vec<Option<Versus>>> = (0..t.report.len()).map(|m| t.versus(m)).collect();
    for (i, r) in t.rows.iter().enumerate() {
        let mut v = vec![r.cell.clone()];
        v.extend(r.params.iter().cloned());
        for (m, s) in r.metrics.iter().enumerate() {
            match s {
                Some(s) => {
                    v.push(s.mean.to_string());
                    v.push(s.std.map(|x| x.to_string()).unwrap_or_default());
                    v.push(s.n.to_string());
                    let [lo, hi] = s.ci95.map_or([String::new(), String::new()], |c| {
                        [c[0].to_string(), c[1].to_string()]
                    });
                    v.extend([lo, hi]);
                }
                None => v.extend([
                    String::new(),
                    String::new(),
                    "0".into(),
                    String::new(),
                    String::new(),
                ]),
            }
            match vs[m][i] {
                Some(x) => v.extend([x.diff.to_string(), x.p.to_string()]),
                None => v.extend([String::new(), String::new()]),
            }
        }
        v.push(r.state.label().into());
        out.push_str(&grid::csv_record(&v));
    }
    out
}

/// `0.9312`, or `0.9312 ± 0.0120 (n=3) [0.9014, 0.9610]` with seeds: the spread and the
/// 95% interval of the mean with the mean's decimals.
pub fn fmt_stat(s: &Stat, seeds: bool) -> String {
    match (s.std, seeds) {
        (Some(sd), _) => {
            let mean = num(s.mean);
            let decimals = mean.split_once('.').map_or(0, |(_, d)| d.len());
            let ci = |c: Option<[f64; 2]>, sci: bool| match c {
                Some([lo, hi]) if sci => format!(" [{lo:.3e}, {hi:.3e}]"),
                Some([lo, hi]) => format!(" [{lo:.decimals$}, {hi:.decimals$}]"),
                None => String::new(),
            };
            if mean.contains('e') {
                format!("{mean} ± {sd:.3e} (n={}){}", s.n, ci(s.ci95, true))
            } else {
                format!("{mean} ± {sd:.decimals$} (n={}){}", s.n, ci(s.ci95, false))
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
    // Rounded first, so 0.09999999999999998 counts as 0.1 (one digit before, not two).
    let x: f64 = format!("{x:.3e}").parse().unwrap_or(x);
    let mag = x.abs().log10().floor() as i32;
    if !(-4..6).contains(&mag) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::table::Row;

    /// The text table's line of `cell`.
    fn line_of(text: &str, cell: &str) -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("{cell} ")))
            .unwrap_or_default()
            .to_string()
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
            baseline: None,
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
        let md = render(&t, Format::Markdown);
        assert!(
            md.contains("| grid=8 | 8 | **0.9000** | 0.5000 | ok |"),
            "{md}"
        );
        let csv = render(&t, Format::Csv);
        assert!(
            csv.starts_with(
                "cell,model.grid,f1_mean,f1_std,f1_n,f1_ci95_low,f1_ci95_high,f1_diff_to_best,f1_welch_p,\
                 loss_mean,loss_std,loss_n,loss_ci95_low,loss_ci95_high,loss_diff_to_best,loss_welch_p,state\n"
            ),
            "{csv}"
        );
    }

    #[test]
    fn cells_within_noise_of_the_best_are_marked_not_ranked() {
        let t = Table::seeded_f1(
            &[
                ("a", &[0.90, 0.91, 0.92]),
                ("b", &[0.89, 0.92, 0.90]),
                ("c", &[0.70, 0.71, 0.72]),
            ],
            None,
        );
        assert_eq!(t.best(0), Some(0));
        let vs = t.versus_best(0);
        assert_eq!(vs[0], None, "the best is not tested against itself");
        let (b, c) = (vs[1].unwrap(), vs[2].unwrap());
        assert!(b.within_noise && b.p > 0.3, "{b:?}");
        assert!(!c.within_noise && c.p < 0.001, "{c:?}");
        assert!((c.diff + 0.2).abs() < 1e-9);
        let text = render(&t, Format::Text);
        let line = |cell: &str| line_of(&text, cell);
        assert!(
            line("a").contains("0.9100 ± 0.0100 (n=3) [0.8852, 0.9348] *"),
            "{text}"
        );
        assert!(line("b").ends_with("≈  ok"), "{text}");
        assert!(!line("c").contains('≈'), "{text}");
        assert!(text.contains("Welch's t-test"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render(&t, Format::Json)).unwrap();
        assert_eq!(json["columns"][0]["best"], "a");
        assert_eq!(json["columns"][0]["versus_best"][1]["within_noise"], true);
        assert_eq!(json["columns"][0]["versus_best"][2]["within_noise"], false);
        assert!(json["rows"][0]["metrics"][0]["ci95"][0].as_f64().unwrap() < 0.91);
    }

    #[test]
    fn a_baseline_is_what_every_cell_is_tested_against() {
        let mut t = Table::seeded_f1(
            &[
                ("full", &[0.90, 0.91, 0.92]),
                ("no_temporal", &[0.80, 0.81, 0.82]),
                ("weighted_mean", &[0.91, 0.92, 0.90]),
                ("better", &[0.99, 0.98, 0.99]),
            ],
            Some("full"),
        );
        // Against the best (`better`), `full` itself differs; against the baseline it is the
        // reference, and `weighted_mean` is within its noise.
        assert_eq!(t.best(0), Some(3));
        assert_eq!(t.reference(0), Some(0));
        let vs = t.versus(0);
        assert_eq!(vs[0], None, "the baseline is not tested against itself");
        assert!(!vs[1].unwrap().within_noise && vs[1].unwrap().diff < 0.0);
        assert!(vs[2].unwrap().within_noise);
        assert!(!vs[3].unwrap().within_noise && vs[3].unwrap().diff > 0.0);
        assert!(t.versus_best(0)[0].is_some_and(|v| !v.within_noise));
        let text = render(&t, Format::Text);
        let line = |cell: &str| line_of(&text, cell);
        assert!(line("no_temporal").contains("] †"), "{text}");
        assert!(line("weighted_mean").contains("] ≈"), "{text}");
        assert!(line("better").contains("] † *"), "{text}");
        assert!(
            !line("full").contains('†') && !line("full").contains('≈'),
            "{text}"
        );
        assert!(
            text.contains("tested against the baseline cell `full`"),
            "{text}"
        );
        let csv = render(&t, Format::Csv);
        assert!(csv.contains("f1_diff_to_baseline,f1_welch_p"), "{csv}");
        let json: serde_json::Value = serde_json::from_str(&render(&t, Format::Json)).unwrap();
        assert_eq!(json["baseline"], "full");
        assert_eq!(
            json["columns"][0]["versus_baseline"][2]["within_noise"],
            true
        );
        assert_eq!(json["columns"][0]["versus_best"][2]["within_noise"], false);
        // A baseline that is not a row (filtered out) tests nothing.
        t.rows.remove(0);
        assert!(t.versus(0).iter().all(Option::is_none));
    }

    #[test]
    fn numbers_round_before_choosing_decimals() {
        assert_eq!(num(0.9 - 0.8), "0.1000");
        assert_eq!(num(-0.09999999999999998), "-0.1000");
        assert_eq!(num(0.099996), "0.1000");
    }

    #[test]
    fn title_names_the_direction() {
        let c = |better| ReportCol {
            metric: "f1".into(),
            better,
        };
        assert_eq!(title(&c(Better::Max)), "f1 ↑");
        assert_eq!(title(&c(Better::Min)), "f1 ↓");
    }
}
