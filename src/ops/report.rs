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

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::compare::collect::{self, FileRef};
use crate::compare::durations::{self, Durations};
use crate::compare::git::Rev;
use crate::compare::plot::{self, Source};
use crate::compare::records::{self, Records};
use crate::error::{Error, Result};
use crate::graph::sweep::{Better, ReportCol, SweepPlan};
use crate::report::chart::{self, Chart, DagNode, Data, Series};
use crate::report::html::{self, ReportModel, StageRow, SweepSection};
use crate::report::printer::{self, Tone};
use crate::spec::{ChartDef, OutRole, Template};

use super::Session;

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

/// Chart size in the report.
const SIZE: (u32, u32) = (560, 340);

pub fn write(s: &Session, sweeps: &[String], out: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    let m = build(s, sweeps)?;
    let page = html::report(&m);
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(name) = out.file_name().and_then(|n| n.to_str()) else {
        return Err(Error::User(format!(
            "{}: name a file to write the report to",
            out.display()
        )));
    };
    s.ws.output_dir(dir)?.write(name, page.as_bytes())?;
    printer::get().verb(
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

pub fn build(s: &Session, sweep_names: &[String]) -> Result<ReportModel> {
    let sweeps: Vec<&SweepPlan> = if sweep_names.is_empty() {
        s.graph.sweeps.iter().collect()
    } else {
        sweep_names
            .iter()
            .map(|n| {
                s.graph.sweeps.iter().find(|w| &w.name == n).ok_or_else(|| {
                    let all: Vec<&str> = s.graph.sweeps.iter().map(|w| w.name.as_str()).collect();
                    Error::User(format!("no sweep `{n}` (sweeps: {})", all.join(", ")))
                })
            })
            .collect::<Result<_>>()?
    };
    let times = durations::load(&s.ws);
    let lock = s.ws.lock.read()?;
    let base: Vec<usize> = s.graph.in_order(s.graph.base_stages());

    let mut layer = vec![0usize; s.graph.stages.len()];
    let mut nodes = Vec::new();
    let mut node_of = HashMap::new();
    let mut per_layer: BTreeMap<usize, usize> = BTreeMap::new();
    for &i in &base {
        let l = s
            .graph
            .upstream(i)
            .into_iter()
            .map(|u| layer[u] + 1)
            .max()
            .unwrap_or(0);
        layer[i] = l;
        let row = per_layer.entry(l).or_insert(0);
        node_of.insert(i, nodes.len());
        nodes.push(DagNode {
            label: s.graph.stages[i].id.to_string(),
            layer: l,
            row: *row,
        });
        *row += 1;
    }
    let edges: Vec<(usize, usize)> = base
        .iter()
        .flat_map(|&i| {
            let node_of = &node_of;
            s.graph
                .upstream(i)
                .into_iter()
                .filter_map(move |u| Some((*node_of.get(&u)?, *node_of.get(&i)?)))
        })
        .collect();
    let dag_svg = chart::dag(&nodes, &edges).map_err(Error::Env)?;

    let mut params = BTreeMap::new();
    for &i in &base {
        for (k, v) in &s.graph.stages[i].params {
            params
                .entry(k.clone())
                .or_insert_with(|| crate::spec::params::render(v));
        }
    }
    let stages: Vec<StageRow> = base
        .iter()
        .map(|&i| {
            let st = &s.graph.stages[i];
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
        .collect();
    let timed: Vec<&StageRow> = stages.iter().filter(|r| r.seconds.is_some()).collect();
    let durations_svg = if timed.is_empty() {
        None
    } else {
        Some(
            chart::svg(
                &Chart {
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
                },
                (720, 300),
            )
            .map_err(Error::Env)?,
        )
    };

    let mut sections = Vec::new();
    for sw in sweeps {
        sections.push(section(s, sw, &times)?);
    }
    let title = format!(
        "Study report: {}",
        s.spec.name.clone().unwrap_or_else(|| "pipeline".into())
    );
    let commit = crate::compare::git::Repo::open(&s.ws.root)
        .ok()
        .and_then(|r| r.rev("HEAD").ok())
        .and_then(|r| match r {
            Rev::Git { commit, .. } => Some(commit.chars().take(10).collect::<String>()),
            Rev::Workspace => None,
        });
    let subtitle = format!(
        "{}{} stage(s), {} sweep(s) · written by pipe {}",
        commit
            .map(|c| format!("git {c} (+ workspace) · "))
            .unwrap_or_default(),
        base.len(),
        sections.len(),
        env!("CARGO_PKG_VERSION")
    );
    Ok(ReportModel {
        title,
        subtitle,
        dag_svg,
        params: params.into_iter().collect(),
        stages,
        durations_svg,
        sweeps: sections,
    })
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
                let st = &s.graph.stages[i];
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

fn charts(s: &Session, sw: &SweepPlan) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let draw = |c: &Chart| chart::svg(c, SIZE).map_err(Error::Env);
    for g in plot_groups(s, sw)? {
        let Some(first) = g.cells.first().and_then(|(_, r)| r.first()) else {
            continue;
        };
        let x = g
            .def
            .x
            .clone()
            .unwrap_or_else(|| first.columns.first().cloned().unwrap_or_default());
        let has = |c: &str| first.column(c).is_some();
        if x == "epoch" || x == "step" {
            let ys = if g.def.y.is_empty() {
                numeric_columns(first, &x).into_iter().take(4).collect()
            } else {
                g.def.y.clone()
            };
            for y in ys {
                let series: Vec<Series> = g
                    .cells
                    .iter()
                    .map(|(name, reps)| Series {
                        label: name.clone(),
                        ..mean_band(reps, &x, &y)
                    })
                    .collect();
                let c = Chart {
                    title: format!("{y} by {x}"),
                    x_label: x.clone(),
                    y_label: y.clone(),
                    template: Template::Line,
                    data: Data::Xy(series),
                };
                out.push((
                    format!(
                        "learning curve: {y} of every cell of `{}` (mean over seeds, shaded ±1 std) from {}",
                        sw.name, g.path
                    ),
                    draw(&c)?,
                ));
            }
            continue;
        }
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
        if curves.is_empty() {
            // Any other plot: the first replicate of every cell, overlaid as declared.
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
            if let Ok(cs) = plot::charts(&g.path, &g.def, &sources) {
                for c in cs {
                    out.push((format!("{} (first seed of each cell)", g.path), draw(&c)?));
                }
            }
            continue;
        }
        for (title, cx, cy) in curves {
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
            let c = Chart {
                title: title.into(),
                x_label: cx.into(),
                y_label: cy.into(),
                template: Template::Line,
                data: Data::Xy(series),
            };
            out.push((
                format!(
                    "{title}s of the cells of `{}` overlaid (first seed of each cell), from {}",
                    sw.name, g.path
                ),
                draw(&c)?,
            ));
        }
    }
    Ok(out)
}
