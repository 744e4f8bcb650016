//! `pipe sweep NAME`: run every cell of a sweep (and the shared upstream stages once)
//! through the scheduler, then tabulate the cells' metrics.
//!
//! Cells run side by side within `--jobs` and their stages' resources; an unchanged cell is
//! a cache hit; a failed cell does not stop the others unless `--fail-fast`, and shows as
//! failed in the table with its log. Which replicates failed in the last run is kept in
//! `.pipe/sweeps/<name>.json` so that `--show` can say so later.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::compare::flat::Value;
use crate::compare::table::{Row, RowState, Stat, Table};
use crate::error::{Error, Result};
use crate::events::Outcome;
use crate::graph;
use crate::graph::StageId;
use crate::graph::StageIdx;
use crate::graph::sweep::{Better, ReportCol, SweepPlan};
use crate::report::printer::{Printer, Tone};
use crate::report::sweep::{CellDiff, DryRun, SweepOutput};
use crate::report::table::{self, Format};
use crate::run::plan::{self, PlanOptions};
use crate::sharing::RunRemote;
use crate::spec::{OutRole, params};
use crate::wspath::WsPath;

use super::Session;
use super::error::OpsError;
use super::repro::{ReproOptions, run_stages_with};

#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    pub dry: bool,
    pub show: bool,
    pub sort: Option<String>,
    pub format: Option<Format>,
    pub diff: Option<(String, String)>,
    pub fail_fast: bool,
    pub run: ReproOptions,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LastRun {
    /// Failed stage instance -> its log.
    failed: BTreeMap<String, String>,
}

fn find<'a>(s: &'a Session, name: &str) -> Result<&'a SweepPlan> {
    s.graph
        .sweeps
        .iter()
        .find(|sw| sw.name == name)
        .ok_or_else(|| {
            OpsError::NoSweep {
                name: name.to_string(),
                sweeps: s.graph.sweeps.iter().map(|w| w.name.clone()).collect(),
            }
            .into()
        })
}

fn instances(s: &Session, sw: &SweepPlan) -> Vec<StageIdx> {
    sw.cells
        .iter()
        .flat_map(|c| c.replicates.iter().flat_map(|r| r.stages.iter()))
        .filter_map(|id| s.graph.find(id.as_str()))
        .collect()
}

/// What `pipe sweep NAME` did: what to show (`report::sweep` renders it) and, after a
/// run, the failure it amounts to (said after the table).
pub struct Swept {
    pub output: SweepOutput,
    pub failed: Option<Error>,
}

/// Runs sweep `name` (restoring from `pull` what a teammate pushed, as `repro --pull`)
/// and tabulates it; or, as `o` asks, only plans it (`--dry`) or compares two cells
/// (`--diff`). A sweep's `report` file is written here, the table shown by the caller.
pub fn sweep(
    p: &Printer,
    s: &Session,
    name: &str,
    o: &SweepOptions,
    pull: Option<Arc<RunRemote>>,
) -> Result<Swept> {
    let sw = find(s, name)?;
    let done = |output| {
        Ok(Swept {
            output,
            failed: None,
        })
    };
    if let Some((a, b)) = &o.diff {
        return done(SweepOutput::Diff(diff(s, sw, a, b)?));
    }
    let cells = instances(s, sw);
    let selection = s.graph.closure(&cells, false);
    if o.dry {
        return done(SweepOutput::Dry(dry(s, sw, &selection, o)?));
    }
    if !o.show {
        check_report_file_through_links(s, sw)?;
    }
    let mut failed = None;
    if o.format.is_some_and(|f| f != Format::Text) {
        p.stage_output_to_stderr();
    }
    if !o.show {
        let mut ro = o.run.clone();
        ro.keep_going = !o.fail_fast;
        let summary = run_stages_with(p, s, &selection, &ro, pull)?;
        record_last_run(s, sw, &summary.outcomes)?;
        failed = super::repro::failure(s, summary).err();
    }
    let mut t = build_table(s, sw)?;
    if let Some(key) = &o.sort {
        t.sort_by(key)?;
    }
    if !o.show
        && let Some(f) = &sw.report_file
    {
        // The run's commands may have put a link on its way since: checked again.
        check_report_file_through_links(s, sw)?;
        let mut md = format!("# Sweep `{}`\n\n", sw.name);
        if let Some(d) = &sw.desc {
            md.push_str(&format!("{d}\n\n"));
        }
        md.push_str(&table::render(&t, Format::Markdown));
        s.ws.dir.write_atomic(f.as_str(), md.as_bytes(), false)?;
        p.verb("Wrote", Tone::Good, &format!("{f}"));
    }
    Ok(Swept {
        output: SweepOutput::Table(t),
        failed,
    })
}

/// `report_file` was checked as written when the pipeline was read; a directory on its way
/// may be a link that stays inside the workspace (confined writes follow those, and refuse
/// links that lead out), so its real place is checked the same way before anything runs,
/// and again before the table is written.
fn check_report_file_through_links(s: &Session, sw: &SweepPlan) -> Result<()> {
    let Some(def) = s.spec.sweeps.iter().find(|d| d.name == sw.name) else {
        return Ok(());
    };
    let Some((file, _)) = &def.report_file else {
        return Ok(());
    };
    let root = s.ws.dir.path();
    let dir = file.ancestors().next().unwrap_or("");
    let (Ok(real_root), Ok(real_dir)) = (
        std::fs::canonicalize(root),
        std::fs::canonicalize(root.join(dir)),
    ) else {
        // A directory not there yet is made by the write: no link on the way.
        return Ok(());
    };
    let (Ok(rel), Some(name)) = (real_dir.strip_prefix(&real_root), file.components().last())
    else {
        return Ok(());
    };
    let Ok(real) = WsPath::parse(&rel.join(name).to_string_lossy()) else {
        return Ok(());
    };
    if &real == file {
        return Ok(());
    }
    let shown = format!("`{file}` (`{real}` through a link)");
    match graph::sweep::report_file_owner(&s.spec, s.graph.stages(), def, &real, &shown) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn last_run_path(s: &Session, sw: &SweepPlan) -> std::path::PathBuf {
    s.ws.dot.join("sweeps").join(format!("{}.json", sw.name))
}

fn record_last_run(s: &Session, sw: &SweepPlan, outcomes: &[(StageIdx, Outcome)]) -> Result<()> {
    let path = last_run_path(s, sw);
    let mut last: LastRun = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for (i, o) in outcomes {
        let id = s.graph[*i].id.to_string();
        match o {
            Outcome::Failed(f) => {
                let shown = f
                    .log()
                    .map(crate::spec::diag::display_path)
                    .unwrap_or_else(|| f.to_string());
                last.failed.insert(id, shown);
            }
            Outcome::Skipped(_) | Outcome::Cancelled | Outcome::Detached(_) => {}
            _ => {
                last.failed.remove(&id);
            }
        }
    }
    let bytes = serde_json::to_vec_pretty(&last).map_err(OpsError::Encode)?;
    let rel = format!("{}/sweeps/{}.json", crate::workspace::DOT, sw.name);
    s.ws.dir.write_atomic(&rel, &bytes, false)?;
    Ok(())
}

/// `--dry`: the shared upstream stages that would run, and per replicate its stale
/// stages (none: up to date).
fn dry(s: &Session, sw: &SweepPlan, selection: &[StageIdx], o: &SweepOptions) -> Result<DryRun> {
    let lock = s.ws.lock.read()?;
    let planned = plan::evaluate(
        &s.ws,
        &s.graph,
        &lock,
        selection,
        &PlanOptions {
            force: o.run.force,
            no_run_cache: o.run.no_run_cache,
            compare_data: false,
        },
    )?;
    s.ws.state.save()?;
    let by_id: HashMap<&str, &plan::Planned> =
        planned.iter().map(|p| (p.stage.as_str(), p)).collect();
    let in_cells: HashSet<StageIdx> = instances(s, sw).into_iter().collect();
    let shared = planned
        .iter()
        .filter(|p| !in_cells.contains(&p.index) && p.freshness.is_dirty())
        .cloned()
        .collect();
    let replicates = sw
        .cells
        .iter()
        .flat_map(|c| c.replicates.iter())
        .map(|r| {
            let dirty = r
                .stages
                .iter()
                .filter_map(|id| by_id.get(id.as_str()))
                .filter(|p| p.freshness.is_dirty())
                .map(|p| (*p).clone())
                .collect();
            (r.key.clone(), dirty)
        })
        .collect();
    Ok(DryRun { shared, replicates })
}

/// Reads every metrics file of a replicate's stages (`compare::flat`: JSON as Python writes
/// it, TOML, YAML), flattened to `a.b` keys; booleans count as 0 and 1, text is left out. A
/// file that cannot be read leaves its metrics out (the table shows the replicates it has).
pub(crate) fn replicate_metrics(s: &Session, stages: &[StageId]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for id in stages {
        let Some(i) = s.graph.find(id.as_str()) else {
            continue;
        };
        for o in s.graph[i].outs_of(OutRole::Metric) {
            let Ok(text) = std::fs::read_to_string(o.path.to_abs(&s.ws.root)) else {
                continue;
            };
            let Ok(flat) = crate::compare::flat::parse(o.path.as_str(), &text) else {
                continue;
            };
            for (k, v) in flat {
                let n = match v {
                    Value::Float(f) => f,
                    Value::Int(i) => i as f64,
                    Value::Bool(b) => f64::from(u8::from(b)),
                    Value::Text(_) => continue,
                };
                out.insert(k, n);
            }
        }
    }
    out
}

/// A metric by name: the exact key, else the one key ending in `.name`.
fn metric(m: &BTreeMap<String, f64>, name: &str) -> Option<f64> {
    if let Some(v) = m.get(name) {
        return Some(*v);
    }
    let suffix = format!(".{name}");
    let mut found = m.iter().filter(|(k, _)| k.ends_with(&suffix));
    match (found.next(), found.next()) {
        (Some((_, v)), None) => Some(*v),
        _ => None,
    }
}

pub fn build_table(s: &Session, sw: &SweepPlan) -> Result<Table> {
    let lock = s.ws.lock.read()?;
    let last: LastRun = std::fs::read(last_run_path(s, sw))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let cells = instances(s, sw);
    let with_lock: Vec<StageIdx> = cells
        .iter()
        .copied()
        .filter(|&i| lock.contains_key(s.graph[i].id.as_str()))
        .collect();
    let order = s.graph.in_order(with_lock);
    let planned = plan::evaluate(
        &s.ws,
        &s.graph,
        &lock,
        &order,
        &PlanOptions {
            force: false,
            no_run_cache: true,
            compare_data: false,
        },
    )?;
    s.ws.state.save()?;
    let stale: HashSet<&str> = planned
        .iter()
        .filter(|p| p.freshness.is_dirty())
        .map(|p| p.stage.as_str())
        .collect();

    let metrics: Vec<Vec<BTreeMap<String, f64>>> = sw
        .cells
        .iter()
        .map(|c| {
            c.replicates
                .iter()
                .map(|r| replicate_metrics(s, &r.stages))
                .collect()
        })
        .collect();
    let report: Vec<ReportCol> = if sw.report.is_empty() {
        let mut keys: Vec<String> = metrics
            .iter()
            .flatten()
            .flat_map(|m| m.keys().cloned())
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .map(|metric| ReportCol {
                metric,
                better: Better::Max,
            })
            .collect()
    } else {
        sw.report.clone()
    };
    let short_map = crate::spec::naming::short_names(&sw.keys);
    let mut rows = Vec::with_capacity(sw.cells.len());
    for (c, ms) in sw.cells.iter().zip(&metrics) {
        let params: Vec<String> = sw
            .keys
            .iter()
            .map(|k| {
                c.overrides
                    .iter()
                    .find(|(ok, _)| ok == k)
                    .map(|(_, v)| match v {
                        toml::Value::String(s) => s.clone(),
                        other => params::render(other),
                    })
                    .unwrap_or_default()
            })
            .collect();
        let mut state = RowState::Ok;
        let mut log = None;
        // Replicates with every stage recorded: none is "not run", some "partly run".
        let mut ran = 0;
        for r in &c.replicates {
            let mut whole = true;
            for id in &r.stages {
                if let Some(l) = last.failed.get(id.as_str()) {
                    state = RowState::Failed;
                    log.get_or_insert_with(|| l.clone());
                } else if !lock.contains_key(id.as_str()) {
                    whole = false;
                } else if stale.contains(id.as_str()) && state == RowState::Ok {
                    state = RowState::Stale;
                }
            }
            ran += usize::from(whole);
        }
        if state != RowState::Failed && ran < c.replicates.len() {
            state = if ran == 0 {
                RowState::NotRun
            } else {
                RowState::Partial
            };
        }
        let stats: Vec<Option<Stat>> = report
            .iter()
            .map(|col| Stat::of(ms.iter().filter_map(|m| metric(m, &col.metric)).collect()))
            .collect();
        rows.push(Row {
            cell: c.name.clone(),
            params,
            metrics: stats,
            state,
            log,
        });
    }
    Ok(Table {
        sweep: sw.name.clone(),
        short: sw.keys.iter().map(|k| short_map[k].clone()).collect(),
        keys: sw.keys.clone(),
        report,
        seeds: sw.seed_key.is_some(),
        rows,
        baseline: sw.baseline.clone(),
    })
}

/// `pipe sweep NAME --diff A B`: params that differ and every metric, side by side.
fn diff(s: &Session, sw: &SweepPlan, a: &str, b: &str) -> Result<CellDiff> {
    let cell = |name: &str| {
        sw.cells.iter().find(|c| c.name == name).ok_or_else(|| {
            Error::from(OpsError::NoCell {
                sweep: sw.name.clone(),
                cell: name.to_string(),
                cells: sw.cells.iter().map(|c| c.name.clone()).take(8).collect(),
            })
        })
    };
    let (ca, cb) = (cell(a)?, cell(b)?);
    let params_of = |c: &crate::graph::sweep::CellPlan| -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if let Some(r) = c.replicates.first() {
            for id in &r.stages {
                if let Some(i) = s.graph.find(id.as_str()) {
                    for (k, v) in &s.graph[i].params {
                        m.insert(k.clone(), params::render(v));
                    }
                }
            }
        }
        m
    };
    let (pa, pb) = (params_of(ca), params_of(cb));
    let keys: std::collections::BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
    let params = keys
        .into_iter()
        .filter_map(|k| {
            let (x, y) = (
                pa.get(k).cloned().unwrap_or_default(),
                pb.get(k).cloned().unwrap_or_default(),
            );
            (x != y).then(|| (k.clone(), x, y))
        })
        .collect();
    let t = build_table(s, sw)?;
    let row = |name: &str| t.rows.iter().find(|r| r.cell == name);
    let metrics = t
        .report
        .iter()
        .enumerate()
        .map(|(m, col)| {
            let get = |name: &str| row(name).and_then(|r| r.metrics[m].clone());
            (col.metric.clone(), get(a), get(b))
        })
        .collect();
    Ok(CellDiff {
        a: a.to_string(),
        b: b.to_string(),
        params,
        metrics,
        seeds: t.seeds,
    })
}
