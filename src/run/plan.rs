//! Planning without running: what `pipe status`, `repro --dry` and `sweep --dry` show.
//! Every selected stage is observed (in parallel, each distinct path once; nothing runs,
//! nothing is locked), then [`decide()`](crate::run::decide::decide) is asked in
//! dependency order, a stage whose upstream will run being stale for that reason.

use std::collections::HashSet;

use serde::Serialize;

use crate::error::Result;
use crate::graph::StageIdx;
use crate::graph::{Graph, Stage};
use crate::lock::Entries;
use crate::run::decide::{self, decide};
use crate::run::fresh::Freshness;
use crate::run::observe::observe_many;
use crate::workspace::Workspace;

#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    #[serde(skip)]
    pub index: StageIdx,
    pub stage: String,
    #[serde(flatten)]
    pub freshness: Freshness,
    /// Stale, and the run cache holds its outs: it would be restored, not run.
    pub restore: bool,
    /// The run cache's object for it that was found corrupt and quarantined (it runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantined: Option<String>,
}

pub type PlanOptions = decide::Options;

pub fn evaluate(
    ws: &Workspace,
    graph: &Graph,
    lock: &Entries,
    order: &[StageIdx],
    opts: &PlanOptions,
) -> Result<Vec<Planned>> {
    let stages: Vec<&Stage> = order.iter().map(|&i| &graph[i]).collect();
    let observed = observe_many(ws, &stages)?;
    let mut will_run: HashSet<StageIdx> = HashSet::new();
    let mut out = Vec::with_capacity(order.len());
    for ((&i, stage), obs) in order.iter().zip(stages).zip(&observed) {
        let upstream: Vec<String> = graph
            .upstream(i)
            .into_iter()
            .filter(|u| will_run.contains(u))
            .map(|u| graph[u].id.to_string())
            .collect();
        let d = decide(
            ws,
            stage,
            lock.get(stage.id.as_str()),
            obs,
            &upstream,
            *opts,
        );
        // Tracked data never runs: a stale data path does not make its readers run.
        if d.is_stale() && !stage.is_data() {
            will_run.insert(i);
        }
        out.push(Planned {
            index: i,
            stage: stage.id.to_string(),
            freshness: d.freshness(),
            restore: d.is_restore(),
            quarantined: d.quarantined().map(str::to_string),
        });
    }
    Ok(out)
}
