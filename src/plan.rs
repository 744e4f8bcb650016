//! Planning without running: what `pipe status` and `repro --dry` show. Every selected
//! stage is observed (in parallel; nothing runs, nothing is locked), then freshness is
//! decided in dependency order, a stage whose upstream will run being stale for that reason.

use std::collections::{BTreeMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::fresh::{self, Freshness, Observed};
use crate::graph::Graph;
use crate::lock::{Entries, HashInfo};
use crate::observe::observe_at;
use crate::runcache::{KeyParts, RunRecord};
use crate::workspace::Workspace;

#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    #[serde(skip)]
    pub index: usize,
    pub stage: String,
    #[serde(flatten)]
    pub freshness: Freshness,
    /// Stale, and the run cache holds its outs: it would be restored, not run.
    pub restore: bool,
}

pub struct PlanOptions {
    pub force: bool,
    pub no_run_cache: bool,
}

pub fn evaluate(
    ws: &Workspace,
    graph: &Graph,
    lock: &Entries,
    order: &[usize],
    opts: &PlanOptions,
) -> Result<Vec<Planned>> {
    let clock = ws.state.clock()?;
    let observed: Vec<Observed> = order
        .par_iter()
        .map(|&i| observe_at(ws, &graph.stages[i], clock))
        .collect::<pipe_cache::Result<_>>()?;
    let mut will_run: HashSet<usize> = HashSet::new();
    let mut out = Vec::with_capacity(order.len());
    for (&i, obs) in order.iter().zip(&observed) {
        let stage = &graph.stages[i];
        let upstream: Vec<String> = graph
            .upstream(i)
            .into_iter()
            .filter(|u| will_run.contains(u))
            .map(|u| graph.stages[u].id.to_string())
            .collect();
        let freshness = fresh::check(&fresh::Check {
            frozen: stage.frozen,
            forced: opts.force,
            always_changed: stage.always_changed,
            lock: lock.get(stage.id.as_str()),
            observed: obs,
            upstream: &upstream,
        });
        let mut restore = false;
        if freshness.is_dirty() {
            will_run.insert(i);
            if upstream.is_empty() && !opts.force && !opts.no_run_cache && stage.restorable() {
                restore = restorable(ws, stage, obs);
            }
        }
        out.push(Planned {
            index: i,
            stage: stage.id.to_string(),
            freshness,
            restore,
        });
    }
    Ok(out)
}

fn restorable(ws: &Workspace, stage: &crate::graph::Stage, obs: &Observed) -> bool {
    let deps: Option<BTreeMap<String, HashInfo>> = obs
        .deps
        .iter()
        .map(|(k, v)| v.clone().map(|h| (k.clone(), h)))
        .collect();
    let Some(deps) = deps else {
        return false;
    };
    let key = KeyParts::of(stage, &deps).key();
    let Ok(Some(bytes)) = ws.store.get_record(&key) else {
        return false;
    };
    let Some(rec) = RunRecord::decode(&bytes) else {
        return false;
    };
    crate::restore::outs_from(stage, &rec.outs)
        .is_some_and(|outs| crate::restore::objects_present(&ws.store, &outs))
}
