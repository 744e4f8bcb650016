//! `pipe report [SWEEP...] [-o report.html]` and `pipe sweep NAME --html FILE`: one
//! self-contained HTML page of a study.
//!
//! The page holds the pipeline graph, the params, each stage's last run time, and per
//! sweep: the comparison table with the statistics of `report::table` (plus, when the
//! cells' metrics have them, loss, seconds per epoch, throughput and peak memory next to
//! the sweep's own columns), the learning curves of every cell (mean over seeds, shaded
//! ±1 std), the PR and ROC curves of the cells overlaid, and each cell's run time.
//!
//! Which plots are which is read from their columns: a plot whose x is `epoch` or `step`
//! is a learning curve; one with `precision` and `recall` gives a PR curve, and with
//! `fpr` also a ROC curve. Other plots of the sweep's stages are overlaid as they are.
//!
//! This module builds the page's model (`compare::study::ReportModel`: tables and chart
//! models); `report::html` renders it and draws the charts; [`write`] puts the page where
//! the user asked.

use std::collections::BTreeMap;
use std::path::Path;

use crate::compare::chart::{Chart, DagLayout, Data, Series};
use crate::compare::collect::{self, FileRef};
use crate::compare::durations::{self, Durations};
use crate::compare::git::Rev;
use crate::compare::plot::{self, Source};
use crate::compare::records::{self, Records};
use crate::compare::study::{ReportModel, StageRow, SweepSection};
use crate::error::Result;
use crate::graph::StageIdx;
use crate::graph::sweep::{Better, ReportCol, SweepPlan};
use crate::report::html;
use crate::report::printer::{self, Printer, Tone};
use crate::spec::{ChartDef, OutRole, Template};

use super::Session;
use super::error::OpsError;

/// Columns the study's write-ups tabulate by hand, added when the cells' metrics have them.
const EXTRA: [(&str, Better); 8] = [
    ("best_val_loss", Better::Min),
    ("val_loss", Better::Min),
    ("params_m", Better::Min),
    ("seconds_per_epoch", Better::Min),
    ("samples_per_s", Better::Max),
    ("peak_cpu_mem_mb", Better::Min),
    ("peak_gpu_mem_mb", Better::Min),
    ("throughput_seq_per_s", Better::Max),
];

/// Writes the page of `sweeps` (default: all) to `out`.
pub fn write(p: &Printer, s: &Session, sweeps: &[String], out: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    super::output::check(s, out)?;
    let m = build(s, sweeps)?;
    let page = html::report(&m)?;
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(name) = out.file_name().and_then(|n| n.to_str()) else {
        return Err(OpsError::ReportFile {
            path: out.to_path_buf(),
        }
        .into());
    };
    s.ws.output_dir(dir)?.write(name, page.as_bytes())?;
    p.verb(
        "Wrote",
        Tone::Good,
        &format!(
            "{} ({} KiB, {} sweep(s), in {})",
            out.display(),
            page.len() / 1024,
            m.sweeps.len(),
            printer::elapsed(started.elapsed())
        ),
    );
    Ok(())
}

/// The page's model: the base pipeline's graph, params and stages, then each sweep.
pub fn build(s: &Session, sweep_names: &[String]) -> Result<ReportModel> {
    let sweeps = chosen(s, sweep_names)?;
    let times = durations::load(&s.ws);
    let base: Vec<StageIdx> = s.graph.in_order(s.graph.base_stages());
    let stages = stage_rows(s, &base, &times)?;
    let durations = durations_chart(&stages);
    let mut sections = Vec::new();
    for sw in sweeps {
        sections.push(section(s, sw, &times)?);
    }
    Ok(ReportModel {
        title: format!(
            "Study report: {}",
            s.spec.name.clone().unwrap_or_else(|| "pipeline".into())
        ),
        subtitle: subtitle(s, base.len(), sections.len()),
        dag: DagLayout::of(&s.graph, &base),
        params: params(s, &base),
        stages,
        durations,
        sweeps: sections,
    })
}

/// The sweeps `names` names (none: every sweep of the pipeline).
fn chosen<'a>(s: &'a Session, names: &[String]) -> Result<Vec<&'a SweepPlan>> {
    if names.is_empty() {
        return Ok(s.graph.sweeps.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            s.graph.sweeps.iter().find(|w| &w.name == n).ok_or_else(|| {
                OpsError::NoSweep {
                    name: n.clone(),
                    sweeps: s.graph.sweeps.iter().map(|w| w.name.clone()).collect(),
                }
                .into()
            })
        })
        .collect()
}

/// Every param the base stages read, once, rendered.
fn params(s: &Session, base: &[StageIdx]) -> Vec<(String, String)> {
    let mut params = BTreeMap::new();
    for &i in base {
        for (k, v) in &s.graph[i].params {
            params
                .entry(k.clone())
                .or_insert_with(|| crate::spec::params::render(v));
        }
    }
    params.into_iter().collect()
}

/// The base stages: whether each ran (the lock has it) and its last run time.
fn stage_rows(s: &Session, base: &[StageIdx], times: &Durations) -> Result<Vec<StageRow>> {
    let lock = s.ws.lock.read()?;
    Ok(base
        .iter()
        .map(|&i| {
            let st = &s.graph[i];
            StageRow {
                id: st.id.to_string(),
                desc: st.desc.clone().unwrap_or_default(),
                state: if lock.contains_key(st.id.as_str()) {
                    "ran".into()
                } else {
                    "never run".into()
                },
                seconds: times.get(st.id.as_str()).map(|t| t.seconds),
            }
        })
        .collect())
}

/// The timed stages' durations as bars; none when no stage has one.
fn durations_chart(stages: &[StageRow]) -> Option<Chart> {
    let timed: Vec<&StageRow> = stages.iter().filter(|r| r.seconds.is_some()).collect();
    if timed.is_empty() {
        return None;
    }
    Some(Chart {
        title: "stage durations".into(),
        x_label: "stage".into(),
        y_label: "seconds".into(),
        template: Template::Bar,
        data: Data::Bars {
            categories: timed.iter().map(|r| r.id.clone()).collect(),
            series: vec![(
                String::new(),
                timed.iter().map(|r| r.seconds.unwrap_or(0.0)).collect(),
            )],
        },
    })
}

/// `git abc1234567 (+ workspace) · 3 stage(s), 1 sweep(s) · written by pipe 0.1.0`.
fn subtitle(s: &Session, stages: usize, sweeps: usize) -> String {
    let commit = crate::compare::git::Repo::open(&s.ws.root)
        .ok()
        .and_then(|r| r.rev("HEAD").ok())
        .and_then(|r| match r {
            Rev::Git { commit, .. } => Some(commit.chars().take(10).collect::<String>()),
            Rev::Workspace => None,
        });
    format!(
        "{}{stages} stage(s), {sweeps} sweep(s) · written by pipe {}",
        commit
            .map(|c| format!("git {c} (+ workspace) · "))
            .unwrap_or_default(),
        env!("CARGO_PKG_VERSION")
    )
}

fn section(s: &Session, sw: &SweepPlan, times: &Durations) -> Result<SweepSection> {
    let mut plan = sw.clone();
    let base_cols = plan.report.len();
    for (m, better) in EXTRA {
        if !plan.report.iter().any(|c| c.metric == m) {
            plan.report.push(ReportCol {
                metric: m.to_string(),
                better,
            });
        }
    }
    let mut table = super::sweep::build_table(s, &plan)?;
    // Drop the extra columns no cell has.
    let keep: Vec<bool> = (0..table.report.len())
        .map(|m| m < base_cols || table.rows.iter().any(|r| r.metrics[m].is_some()))
        .collect();
    let mut k = keep.iter();
    table.report.retain(|_| *k.next().unwrap_or(&true));
    for r in &mut table.rows {
        let mut k = keep.iter();
        r.metrics.retain(|_| *k.next().unwrap_or(&true));
    }
    let seconds = sw
        .cells
        .iter()
        .map(|c| {
            let per: Vec<f64> = c
                .replicates
                .iter()
                .filter_map(|r| {
                    let t: Vec<f64> = r
                        .stages
                        .iter()
                        .filter_map(|id| times.get(id.as_str()).map(|t| t.seconds))
                        .collect();
                    (!t.is_empty()).then(|| t.iter().sum())
                })
                .collect();
            (!per.is_empty()).then(|| per.iter().sum::<f64>() / per.len() as f64)
        })
        .collect();
    Ok(SweepSection {
        name: sw.name.clone(),
        desc: sw.desc.clone(),
        table,
        seconds,
        charts: charts(s, sw)?,
    })
}

/// One parsed plot file per (cell, replicate), grouped by declared plot.
struct PlotGroup {
    path: String,
    def: ChartDef,
    /// Per cell: its name and each replicate's records.
    cells: Vec<(String, Vec<Records>)>,
}

fn plot_groups(s: &Session, sw: &SweepPlan) -> Result<Vec<PlotGroup>> {
    let mut groups: BTreeMap<(usize, usize), PlotGroup> = BTreeMap::new();
    for c in &sw.cells {
        for r in &c.replicates {
            let mut refs = Vec::new();
            for id in &r.stages {
                let Some(i) = s.graph.find(id.as_str()) else {
                    continue;
                };
                let st = &s.graph[i];
                for (k, o) in st.outs_of(OutRole::Plot).enumerate() {
                    refs.push((
                        (st.def, k),
                        FileRef {
                            stage: id.to_string(),
                            path: o.path.to_string(),
                        },
                    ));
                }
            }
            let files: Vec<FileRef> = refs.iter().map(|(_, f)| f.clone()).collect();
            let bytes = collect::bytes_at(s, None, &Rev::Workspace, &files)?;
            for ((key, f), b) in refs.into_iter().zip(bytes) {
                let Ok(Some(b)) = b else { continue };
                let Ok(rec) = records::parse(&f.path, &String::from_utf8_lossy(&b)) else {
                    continue;
                };
                let g = groups.entry(key).or_insert_with(|| PlotGroup {
                    path: f.path.clone(),
                    def: super::plots::chart_def(s, &f),
                    cells: Vec::new(),
                });
                match g.cells.last_mut() {
                    Some((name, reps)) if *name == c.name => reps.push(rec),
                    _ => g.cells.push((c.name.clone(), vec![rec])),
                }
            }
        }
    }
    Ok(groups.into_values().collect())
}

/// Mean and ±1 std over replicates at each x (replicates may stop at different epochs).
fn mean_band(reps: &[Records], x: &str, y: &str) -> Series {
    let mut at: BTreeMap<i64, (f64, Vec<f64>)> = BTreeMap::new();
    for r in reps {
        let (Some(xi), Some(yi)) = (r.column(x), r.column(y)) else {
            continue;
        };
        for (xv, yv) in r.numbers(xi).into_iter().zip(r.numbers(yi)) {
            if let (Some(xv), Some(yv)) = (xv, yv) {
                at.entry((xv * 1e6).round() as i64)
                    .or_insert((xv, Vec::new()))
                    .1
                    .push(yv);
            }
        }
    }
    let mut s = Series::default();
    for (xv, ys) in at.into_values() {
        let n = ys.len() as f64;
        let mean = ys.iter().sum::<f64>() / n;
        s.points.push((xv, mean));
        if ys.len() > 1 {
            let sd = (ys.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
            s.band.push((xv, mean - sd, mean + sd));
        }
    }
    s
}

fn numeric_columns(r: &Records, except: &str) -> Vec<String> {
    (0..r.columns.len())
        .filter(|&i| r.columns[i] != except && r.numbers(i).iter().any(Option::is_some))
        .map(|i| r.columns[i].clone())
        .collect()
}

/// The charts of a sweep's plots, each with its caption: learning curves (mean ± std over
/// seeds per cell), PR and ROC curves of the cells overlaid, other plots overlaid as
/// declared.
fn charts(s: &Session, sw: &SweepPlan) -> Result<Vec<(String, Chart)>> {
    let mut out = Vec::new();
    for g in plot_groups(s, sw)? {
        let Some(first) = g.cells.first().and_then(|(_, r)| r.first()) else {
            continue;
        };
        let x = g
            .def
            .x
            .clone()
            .unwrap_or_else(|| first.columns.first().cloned().unwrap_or_default());
        if x == "epoch" || x == "step" {
            out.extend(learning_curves(sw, &g, first, &x));
            continue;
        }
        let curves = classifier_curves(first);
        if curves.is_empty() {
            out.extend(overlaid(&g));
            continue;
        }
        for (title, cx, cy) in curves {
            out.push((
                format!(
                    "{title}s of the cells of `{}` overlaid (first seed of each cell), from {}",
                    sw.name, g.path
                ),
                cells_curve(&g, title, cx, cy),
            ));
        }
    }
    Ok(out)
}

/// One chart per y column (the declared ones, else the first four numeric): every cell's
/// mean over seeds, shaded ±1 std.
fn learning_curves(
    sw: &SweepPlan,
    g: &PlotGroup,
    first: &Records,
    x: &str,
) -> Vec<(String, Chart)> {
    let ys = if g.def.y.is_empty() {
        numeric_columns(first, x).into_iter().take(4).collect()
    } else {
        g.def.y.clone()
    };
    ys.into_iter()
        .map(|y| {
            let series: Vec<Series> = g
                .cells
                .iter()
                .map(|(name, reps)| Series {
                    label: name.clone(),
                    ..mean_band(reps, x, &y)
                })
                .collect();
            let c = Chart {
                title: format!("{y} by {x}"),
                x_label: x.to_string(),
                y_label: y.clone(),
                template: Template::Line,
                data: Data::Xy(series),
            };
            (
                format!(
                    "learning curve: {y} of every cell of `{}` (mean over seeds, shaded ±1 std) from {}",
                    sw.name, g.path
                ),
                c,
            )
        })
        .collect()
}

/// The classifier curves a plot's columns make: (title, x column, y column).
fn classifier_curves(first: &Records) -> Vec<(&'static str, &'static str, &'static str)> {
    let has = |c: &str| first.column(c).is_some();
    let mut curves = Vec::new();
    if has("precision") && has("recall") {
        curves.push(("PR curve", "recall", "precision"));
    }
    if has("fpr") && (has("recall") || has("tpr")) {
        curves.push((
            "ROC curve",
            "fpr",
            if has("tpr") { "tpr" } else { "recall" },
        ));
    }
    curves
}

/// Any other plot: the first replicate of every cell, overlaid as declared.
fn overlaid(g: &PlotGroup) -> Vec<(String, Chart)> {
    let sources: Vec<Source> = g
        .cells
        .iter()
        .filter_map(|(name, reps)| {
            Some(Source {
                label: name.clone(),
                records: reps.first()?,
            })
        })
        .collect();
    match plot::charts(&g.path, &g.def, &sources) {
        Ok(cs) => cs
            .into_iter()
            .map(|c| (format!("{} (first seed of each cell)", g.path), c))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// One curve (`cy` against `cx`, sorted by x) per cell, from its first replicate.
fn cells_curve(g: &PlotGroup, title: &str, cx: &str, cy: &str) -> Chart {
    let series = g
        .cells
        .iter()
        .filter_map(|(name, reps)| {
            let r = reps.first()?;
            let (xi, yi) = (r.column(cx)?, r.column(cy)?);
            let mut points: Vec<(f64, f64)> = r
                .numbers(xi)
                .into_iter()
                .zip(r.numbers(yi))
                .filter_map(|(a, b)| Some((a?, b?)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Some(Series {
                label: name.clone(),
                points,
                band: Vec::new(),
            })
        })
        .collect();
    Chart {
        title: title.into(),
        x_label: cx.into(),
        y_label: cy.into(),
        template: Template::Line,
        data: Data::Xy(series),
    }
}
