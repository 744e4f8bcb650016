//! `pipe exp run`: record an experiment, and run it (or, `--queue`, leave it for
//! `--run-all`). Every experiment run at once goes through one scheduler run, the path
//! sweeps take, so queued experiments run side by side within `--jobs` and their
//! resources, a shared upstream stage runs once, and the configured executor runs them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::error::Result;
use crate::events::Outcome;
use crate::exp::record::{ExpRecord, ExpState, Records, now};
use crate::exp::{ExpName, overrides};
use crate::graph::StageIdx;
use crate::graph::exp::ExpCell;
use crate::ops::error::OpsError;
use crate::ops::repro::{ReproOptions, failure, run_stages_with};
use crate::ops::sweep::replicate_metrics;
use crate::report::printer::{Printer, Tone};
use crate::report::table::num;
use crate::sharing::RunRemote;

use super::{Session, cell_of, records, session_with};

#[derive(Debug, Clone, Default)]
pub struct ExpRunOptions {
    /// `-S KEY=VALUE`, as given.
    pub set: Vec<String>,
    pub name: Option<ExpName>,
    pub queue: bool,
    pub run_all: bool,
    pub run: ReproOptions,
}

pub fn run(
    p: &Printer,
    s: &Session,
    o: &ExpRunOptions,
    pull: Option<Arc<RunRemote>>,
) -> Result<()> {
    let recs = records(s);
    if o.run_all {
        if !o.set.is_empty() || o.name.is_some() || !o.run.targets.is_empty() {
            return Err(OpsError::RunAllArgs.into());
        }
        let queued: Vec<ExpRecord> = recs
            .list()?
            .into_iter()
            .filter(|r| r.state == ExpState::Queued)
            .collect();
        if queued.is_empty() {
            p.verb("Done", Tone::Good, "no queued experiments");
            return Ok(());
        }
        return run_records(p, s, &recs, queued, &o.run, pull);
    }
    if o.set.is_empty() {
        return Err(OpsError::NoOverrides.into());
    }
    let ov = overrides::parse(&s.spec.params, &o.set)?;
    let name = match &o.name {
        Some(n) => n.clone(),
        None => ExpName::parse(&overrides::default_name(&ov)).map_err(|why| {
            OpsError::ExpNameFromOverrides {
                why: why.to_string(),
            }
        })?,
    };
    let cell = ExpCell {
        name: name.clone(),
        overrides: overrides::to_map(&ov),
        targets: o.run.targets.clone(),
    };
    // Everything that can be wrong with it is found now, before anything is written.
    crate::graph::exp::instantiate(&s.spec, &s.graph, &cell)?;
    if let Some(old) = recs.get(&name)? {
        if old.overrides != cell.overrides || old.targets != cell.targets {
            return Err(OpsError::ExpExists {
                name: name.to_string(),
                overrides: describe(&old.overrides),
            }
            .into());
        }
        if old.shown_state() == ExpState::Running {
            return Err(OpsError::ExpRunning {
                name: name.to_string(),
                pid: old.pid.unwrap_or(0),
            }
            .into());
        }
    }
    let rec = ExpRecord {
        name: name.clone(),
        baseline: cell
            .overrides
            .keys()
            .filter_map(|k| s.spec.params.get(None, k).map(|v| (k.clone(), v.clone())))
            .collect(),
        overrides: cell.overrides,
        targets: cell.targets,
        state: ExpState::Queued,
        queued_at: now(),
        started_at: None,
        finished_at: None,
        pid: None,
        params: BTreeMap::new(),
        metrics: BTreeMap::new(),
        stages: BTreeMap::new(),
        error: None,
    };
    recs.save(&rec)?;
    if o.queue {
        p.verb(
            "Queued",
            Tone::Good,
            &format!("experiment {name} (run the queue with `pipe exp run --run-all`)"),
        );
        return Ok(());
    }
    run_records(p, s, &recs, vec![rec], &o.run, pull)
}

/// `k=v, k=v` for messages.
fn describe(o: &BTreeMap<String, toml::Value>) -> String {
    o.iter()
        .map(|(k, v)| format!("{k}={}", crate::spec::params::render(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `list` in one scheduler run, then fills each record in.
fn run_records(
    p: &Printer,
    s: &Session,
    recs: &Records,
    mut list: Vec<ExpRecord>,
    ro: &ReproOptions,
    pull: Option<Arc<RunRemote>>,
) -> Result<()> {
    let cells: Vec<ExpCell> = list.iter().map(cell_of).collect();
    let (xs, per) = session_with(p, s, &cells)?;
    let all: Vec<StageIdx> = per.iter().flatten().copied().collect();
    let selection = xs.graph.closure(&all, false);
    let started = now();
    for r in &mut list {
        r.state = ExpState::Running;
        r.started_at = Some(started);
        r.finished_at = None;
        r.pid = Some(std::process::id());
        r.error = None;
        recs.save(r)?;
    }
    let mut ro = ro.clone();
    // One experiment failing does not stop the others.
    ro.keep_going = true;
    ro.targets.clear();
    let summary = match run_stages_with(p, &xs, &selection, &ro, pull) {
        Ok(sm) => sm,
        Err(e) => {
            for r in &mut list {
                r.state = ExpState::Failed;
                r.pid = None;
                r.finished_at = Some(now());
                r.error = Some(e.to_string());
                recs.save(r)?;
            }
            return Err(e);
        }
    };
    let outcome: HashMap<StageIdx, &Outcome> =
        summary.outcomes.iter().map(|(i, o)| (*i, o)).collect();
    let lock = xs.ws.lock.read()?;
    for (r, idx) in list.iter_mut().zip(&per) {
        let closure = xs.graph.closure(idx, false);
        let failed = closure.iter().find_map(|i| match outcome.get(i) {
            Some(Outcome::Failed(f)) => Some(f.to_string()),
            Some(Outcome::Skipped(why)) => Some(why.clone()),
            Some(Outcome::Cancelled) => Some("cancelled".to_string()),
            _ => None,
        });
        r.stages = BTreeMap::new();
        r.params = BTreeMap::new();
        for &i in idx {
            let st = &xs.graph[i];
            if let Some(e) = lock.get(st.id.as_str()) {
                r.stages.insert(st.id.name().to_string(), e.clone());
            }
            r.params
                .extend(st.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let ids: Vec<_> = closure.iter().map(|&i| xs.graph[i].id.clone()).collect();
        r.metrics = replicate_metrics(&xs, &ids);
        r.pid = None;
        r.finished_at = Some(now());
        let complete = idx.len() == r.stages.len();
        match (failed, summary.interrupted, complete) {
            (Some(m), _, _) => {
                r.state = ExpState::Failed;
                r.error = Some(m);
            }
            (None, true, _) | (None, false, false) => {
                r.state = ExpState::Failed;
                r.error = Some("interrupted".into());
            }
            (None, false, true) => r.state = ExpState::Done,
        }
        recs.save(r)?;
        let metrics: Vec<String> = r
            .metrics
            .iter()
            .take(6)
            .map(|(k, v)| format!("{k}={}", num(*v)))
            .collect();
        if r.state == ExpState::Done {
            p.verb(
                "Finished",
                Tone::Good,
                &format!(
                    "experiment {}{}",
                    r.name,
                    if metrics.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", metrics.join(", "))
                    }
                ),
            );
        } else {
            p.verb(
                "Failed",
                Tone::Bad,
                &format!(
                    "experiment {}: {}",
                    r.name,
                    r.error.as_deref().unwrap_or("")
                ),
            );
        }
    }
    failure(&xs, summary).map(drop)
}
