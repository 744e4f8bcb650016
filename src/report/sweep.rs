//! `pipe sweep`: what the command returns ([`SweepOutput`]: the table, a dry plan, two
//! cells side by side) and its text; and the list of the pipeline's sweeps.

use crate::compare::table::{Stat, Table};
use crate::graph::sweep::SweepPlan;
use crate::run::fresh::Freshness;
use crate::run::plan::Planned;

use super::grid;
use super::printer::Printer;
use super::table::{self, Format, fmt_stat, num};

/// What `pipe sweep NAME` shows.
pub enum SweepOutput {
    /// The comparison table (after a run, or `--show`).
    Table(Table),
    /// `--dry`: what would run.
    Dry(DryRun),
    /// `--diff A B`.
    Diff(CellDiff),
}

/// `--dry`: the shared upstream stages that would run, and each replicate (by key) with
/// its stale stages (none: up to date).
pub struct DryRun {
    pub shared: Vec<Planned>,
    pub replicates: Vec<(String, Vec<Planned>)>,
}

/// `--diff A B`: the params that differ (key, A's, B's) and every metric's stat.
pub struct CellDiff {
    pub a: String,
    pub b: String,
    pub params: Vec<(String, String, String)>,
    pub metrics: Vec<(String, Option<Stat>, Option<Stat>)>,
    /// Whether the sweep has seeds (stats show their spread).
    pub seeds: bool,
}

/// On stdout, in `format` for a table (text otherwise).
pub fn print(p: &Printer, out: &SweepOutput, format: Format) {
    match out {
        SweepOutput::Table(t) => p.data(&table::render(t, format)),
        SweepOutput::Dry(d) => p.data(dry(d).trim_end()),
        SweepOutput::Diff(d) => p.data(&diff(d)),
    }
}

/// `pipe sweep` without a name.
pub fn list(sweeps: &[SweepPlan]) -> String {
    if sweeps.is_empty() {
        return "The pipeline defines no sweeps.".into();
    }
    let mut out = String::new();
    for sw in sweeps {
        let reps = sw.cells.first().map_or(0, |c| c.replicates.len());
        out.push_str(&format!(
            "{}: {} cell(s){} over {}{}\n",
            sw.name,
            sw.cells.len(),
            if reps > 1 {
                format!(" x {reps} seeds")
            } else {
                String::new()
            },
            sw.stages.join(", "),
            sw.desc
                .as_ref()
                .map(|d| format!(" - {d}"))
                .unwrap_or_default()
        ));
    }
    out.trim_end().to_string()
}

fn dry(d: &DryRun) -> String {
    let mut out = String::new();
    for p in &d.shared {
        out.push_str(&format!("shared stage {}: would {}\n", p.stage, verdict(p)));
    }
    let (mut run, mut restore, mut fresh) = (0, 0, 0);
    for (key, dirty) in &d.replicates {
        if dirty.is_empty() {
            fresh += 1;
            out.push_str(&format!("{key}: up to date\n"));
            continue;
        }
        if dirty.iter().all(|p| p.restore) {
            restore += 1;
        } else {
            run += 1;
        }
        let what: Vec<String> = dirty
            .iter()
            .map(|p| {
                format!(
                    "{} ({})",
                    p.stage.split('@').next().unwrap_or(""),
                    verdict(p)
                )
            })
            .collect();
        out.push_str(&format!("{key}: would run {}\n", what.join(", ")));
    }
    out.push_str(&format!(
        "{run} to run, {restore} to restore from the run cache, {fresh} up to date\n"
    ));
    out
}

fn verdict(p: &Planned) -> String {
    match &p.freshness {
        Freshness::Dirty(r) => {
            let first = r.first().map(ToString::to_string).unwrap_or_default();
            if p.restore {
                format!("restore: {first}")
            } else {
                first
            }
        }
        _ => "nothing".into(),
    }
}

fn diff(d: &CellDiff) -> String {
    let mut lines: Vec<[String; 4]> = vec![["".into(), d.a.clone(), d.b.clone(), "delta".into()]];
    for (k, x, y) in &d.params {
        lines.push([k.clone(), x.clone(), y.clone(), String::new()]);
    }
    for (metric, x, y) in &d.metrics {
        let delta = match (x, y) {
            (Some(x), Some(y)) => {
                let v = y.mean - x.mean;
                format!("{}{}", if v >= 0.0 { "+" } else { "" }, num(v))
            }
            _ => String::new(),
        };
        let show = |v: &Option<Stat>| v.as_ref().map_or("-".to_string(), |s| fmt_stat(s, d.seeds));
        lines.push([metric.clone(), show(x), show(y), delta]);
    }
    grid::aligned(&lines[0], &lines[1..], false)
}
