//! Self-contained HTML: the `pipe report` page and the `pipe plots` index.
//!
//! The report page renders the study's model (`compare::study::ReportModel`), drawing its
//! charts here. Everything is inline (SVG charts drawn by `report::chart`, one `<style>` block): no
//! script, no font, no image is fetched, so a page opens offline and as an email
//! attachment. The page's structure is stable for tests: each chart is an `<svg>` inside a
//! `<figure>`, each sweep table is `<table class="sweep">` with one `<tbody>` row per cell.

use std::fmt::Write as _;

use crate::compare::study::{ReportModel, SweepSection};
use crate::compare::table::{Table, Versus};
use crate::report::chart::{self, DrawError};
use crate::report::table;

/// Chart sizes on the report page: a sweep's charts, the stage durations.
const CHART: (u32, u32) = (560, 340);
const DURATIONS: (u32, u32) = (720, 300);

const CSS: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:1560px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 6px}.sub{color:#666;margin:0 0 16px}
table{border-collapse:collapse;background:#fff;margin:8px 0;font-size:13px}
th,td{border:1px solid #e2e2e2;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
td small{color:#666}table.sweep td.num{white-space:nowrap}
.params{display:flex;flex-wrap:wrap;gap:0 16px;align-items:flex-start}td.best{background:#e6f4ea;font-weight:600}td.noise{background:#f3f8ee}
td.worse{color:#555}td.differs{font-weight:600}.state-failed{color:#b00020}.state-stale{color:#9a6700}
figure{display:inline-block;margin:8px 12px 8px 0;background:#fff;border:1px solid #e2e2e2;padding:6px;max-width:100%}
figure svg{max-width:100%;height:auto;display:block}figcaption{font-size:12px;color:#555;padding-top:4px;max-width:720px}
.legend{font-size:12px;color:#555;max-width:900px}.problems{color:#b00020}
";

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head>\n<body><main>\n{body}</main></body></html>\n",
        esc(title)
    )
}

/// The SVG as it sits inside HTML: without the XML prolog plotters may write, and without
/// the `xmlns` attribute (HTML puts `<svg>` in the SVG namespace itself), so the page holds
/// no URL at all.
fn inline_svg(svg: &str) -> String {
    let svg = svg.find("<svg").map_or(svg, |i| &svg[i..]);
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

fn figure(caption: &str, svg: &str) -> String {
    format!(
        "<figure>{}<figcaption>{}</figcaption></figure>\n",
        inline_svg(svg),
        esc(caption)
    )
}

/// The index page of `pipe plots`: every chart inline.
pub fn plots_page(title: &str, charts: &[(String, String)], problems: &[String]) -> String {
    let mut body = format!("<h1>{}</h1>\n", esc(title));
    for (caption, svg) in charts {
        body.push_str(&figure(caption, svg));
    }
    if !problems.is_empty() {
        body.push_str("<h2>Not drawn</h2><ul class=\"problems\">");
        for p in problems {
            let _ = write!(body, "<li>{}</li>", esc(p));
        }
        body.push_str("</ul>\n");
    }
    page(title, &body)
}

fn secs(s: Option<f64>) -> String {
    s.map_or("-".into(), |s| {
        if s >= 100.0 {
            format!("{s:.0}")
        } else {
            format!("{s:.2}")
        }
    })
}

fn metric_cell(
    t: &Table,
    m: usize,
    i: usize,
    best: Option<usize>,
    vs: &[Option<Versus>],
) -> String {
    let Some(Some(s)) = t.rows[i].metrics.get(m) else {
        return "<td class=\"num\">-</td>".into();
    };
    let mean = table::num(s.mean);
    let mut main = match s.std {
        Some(sd) => format!("{mean} ± {}", table::num(sd)),
        None => mean,
    };
    if t.seeds {
        let _ = write!(main, " <small>(n={})</small>", s.n);
    }
    let mut notes = Vec::new();
    if let Some([lo, hi]) = s.ci95 {
        notes.push(format!("95% CI [{}, {}]", table::num(lo), table::num(hi)));
    }
    let against = t.baseline.as_deref().unwrap_or("best");
    let is_best = best == Some(i) && t.rows.len() > 1;
    if is_best {
        notes.push("best".into());
    }
    if t.baseline.is_some() && t.baseline_row() == Some(i) {
        notes.push("baseline".into());
    }
    // The reference itself (the best, or the baseline) has no test against itself.
    let class = match vs[i] {
        Some(v) => {
            notes.push(format!(
                "Δ {}{} vs {against}, p = {:.3}",
                if v.diff > 0.0 { "+" } else { "" },
                table::num(v.diff),
                v.p
            ));
            if is_best {
                "best"
            } else if v.within_noise {
                notes.push(format!("≈ {against} (within noise)"));
                "noise"
            } else if t.baseline.is_some() {
                "differs"
            } else {
                "worse"
            }
        }
        None if is_best => "best",
        None => "",
    };
    let small = if notes.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = notes.iter().map(|n| esc(n)).collect();
        format!("<br><small>{}</small>", lines.join("<br>"))
    };
    format!("<td class=\"num {class}\">{main}{small}</td>")
}

fn sweep_table(sec: &SweepSection) -> String {
    let t = &sec.table;
    let mut h = String::from("<table class=\"sweep\"><thead><tr><th>cell</th>");
    for k in &t.short {
        let _ = write!(h, "<th>{}</th>", esc(k));
    }
    for c in &t.report {
        let arrow = match c.better {
            crate::graph::sweep::Better::Max => "↑",
            crate::graph::sweep::Better::Min => "↓",
        };
        let _ = write!(h, "<th>{} {arrow}</th>", esc(&c.metric));
    }
    h.push_str("<th>run time (s)</th><th>state</th></tr></thead><tbody>\n");
    let best: Vec<Option<usize>> = (0..t.report.len()).map(|m| t.best(m)).collect();
    let vs: Vec<Vec<Option<Versus>>> = (0..t.report.len()).map(|m| t.versus(m)).collect();
    for (i, r) in t.rows.iter().enumerate() {
        let _ = write!(h, "<tr><td>{}</td>", esc(&r.cell));
        for p in &r.params {
            let _ = write!(h, "<td>{}</td>", esc(p));
        }
        for m in 0..t.report.len() {
            h.push_str(&metric_cell(t, m, i, best[m], &vs[m]));
        }
        let state = r.state.label();
        let _ = writeln!(
            h,
            "<td class=\"num\">{}</td><td class=\"state-{}\">{}</td></tr>",
            secs(sec.seconds.get(i).copied().flatten()),
            state.replace(' ', "-"),
            esc(state)
        );
    }
    h.push_str("</tbody></table>\n");
    if t.seeds
        && let Some(b) = &t.baseline
    {
        let _ = writeln!(
            h,
            "<p class=\"legend\">Each value is the mean ± sample standard deviation over the seeds \
             (n replicates) with the 95% confidence interval of the mean (Student's t, n − 1 degrees \
             of freedom). Every cell is compared with the baseline cell <code>{}</code> by Welch's \
             unequal-variance t-test (two-sided): Δ is the difference to the baseline, p its \
             p-value. Cells with p ≥ 0.05 are shaded as within noise of the baseline; bold cells \
             differ from it beyond noise.</p>",
            esc(b)
        );
    } else if t.seeds {
        h.push_str(
            "<p class=\"legend\">Each value is the mean ± sample standard deviation over the seeds \
             (n replicates) with the 95% confidence interval of the mean (Student's t, n − 1 degrees \
             of freedom). Every cell is compared with its column's best cell by Welch's \
             unequal-variance t-test (two-sided): Δ is the difference to the best, p its p-value. \
             Cells with p ≥ 0.05 are shaded as within noise of the best: their gap is not evidence \
             of a real difference, so they are not ranked below it.</p>\n",
        );
    }
    h
}

/// The `pipe report` page, its charts drawn.
pub fn report(m: &ReportModel) -> Result<String, DrawError> {
    let mut b = format!(
        "<h1>{}</h1>\n<p class=\"sub\">{}</p>\n",
        esc(&m.title),
        esc(&m.subtitle)
    );
    b.push_str("<h2>Pipeline</h2>\n");
    b.push_str(&figure(
        "stages and the data they pass on",
        &chart::dag(&m.dag)?,
    ));
    // One table per params table (`model`, `train`, ...), side by side: a long list of keys
    // would push the sweeps far down the page.
    b.push_str("<h2>Params</h2>\n<div class=\"params\">\n");
    let mut group: Option<&str> = None;
    for (k, v) in &m.params {
        let g = k.split_once('.').map_or("", |(g, _)| g);
        if group != Some(g) {
            if group.is_some() {
                b.push_str("</tbody></table>\n");
            }
            b.push_str("<table class=\"params\"><thead><tr><th>key</th><th>value</th></tr></thead><tbody>\n");
            group = Some(g);
        }
        let _ = writeln!(b, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(v));
    }
    if group.is_some() {
        b.push_str("</tbody></table>\n");
    }
    b.push_str("</div>\n<h2>Stages</h2>\n<table class=\"stages\"><thead><tr><th>stage</th><th>last run (s)</th><th>state</th><th>what it does</th></tr></thead><tbody>\n");
    for s in &m.stages {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.id),
            secs(s.seconds),
            esc(&s.state),
            esc(&s.desc)
        );
    }
    b.push_str("</tbody></table>\n");
    if let Some(c) = &m.durations {
        b.push_str(&figure(
            "duration of each stage's last run",
            &chart::svg(c, DURATIONS)?,
        ));
    }
    for sec in &m.sweeps {
        let _ = writeln!(b, "<h2>Sweep <code>{}</code></h2>", esc(&sec.name));
        if let Some(d) = &sec.desc {
            let _ = writeln!(b, "<p>{}</p>", esc(d));
        }
        b.push_str(&sweep_table(sec));
        for (caption, c) in &sec.charts {
            b.push_str(&figure(caption, &chart::svg(c, CHART)?));
        }
    }
    Ok(page(&m.title, &b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_shaded_against_the_baseline_when_there_is_one() {
        let mut t = Table::seeded_f1(
            &[
                ("full", &[0.90, 0.91, 0.92]),
                ("twin", &[0.91, 0.90, 0.92]),
                ("worse", &[0.70, 0.71, 0.72]),
                ("top", &[0.99, 0.98, 0.99]),
            ],
            Some("full"),
        );
        let cell = |t: &Table, i: usize| metric_cell(t, 0, i, t.best(0), &t.versus(0));
        assert!(cell(&t, 0).contains("baseline") && !cell(&t, 0).contains("Δ"));
        assert!(cell(&t, 1).contains("class=\"num noise\"") && cell(&t, 1).contains("≈ full"));
        assert!(cell(&t, 2).contains("class=\"num differs\"") && cell(&t, 2).contains("vs full"));
        assert!(cell(&t, 3).contains("class=\"num best\"") && cell(&t, 3).contains("vs full"));
        // Without a baseline the same rows are compared with the best.
        t.baseline = None;
        assert!(cell(&t, 2).contains("class=\"num worse\"") && cell(&t, 2).contains("vs best"));
        assert!(cell(&t, 3).contains("class=\"num best\"") && !cell(&t, 3).contains("Δ"));
    }

    #[test]
    fn text_is_escaped_and_the_page_fetches_nothing() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let p = plots_page(
            "t<1>",
            &[(
                "c".into(),
                "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".into(),
            )],
            &["bad".into()],
        );
        assert!(p.contains("<title>t&lt;1&gt;</title>"));
        assert!(
            p.contains("<figure><svg></svg>"),
            "prolog and namespace stripped: {p}"
        );
        for banned in ["<script", "<link", "@import", "url(", "src=", "http"] {
            assert!(!p.contains(banned), "{banned}");
        }
    }
}
