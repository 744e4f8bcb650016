//! `pipe status`: which stages are stale, and why. Never runs or locks anything; returns
//! a `report::status::StatusReport`, which that module renders as text or JSON.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::report::status::StatusReport;
use crate::run::fresh::{DirtyReason, Freshness};
use crate::run::plan::{self, PlanOptions};

use super::Session;

/// Evaluates `targets` (default: every stage, sweep cells included).
pub fn status(s: &Session, targets: &[String]) -> Result<StatusReport> {
    let order = if targets.is_empty() {
        s.graph.topo().to_vec()
    } else {
        s.graph.closure(&s.select(targets)?, false)
    };
    let lock = s.ws.lock.read()?;
    let planned = plan::evaluate(
        &s.ws,
        &s.graph,
        &lock,
        &order,
        // Tracked data is frozen for repro, but status says when the workspace differs
        // from what `pipe add` recorded (edited, missing, or never added).
        &PlanOptions {
            compare_data: true,
            ..Default::default()
        },
    )?;
    s.ws.state.save()?;
    let mut listed = Vec::new();
    let mut never_run: BTreeMap<String, usize> = BTreeMap::new();
    for (k, pl) in planned.iter().enumerate() {
        let Freshness::Dirty(r) = &pl.freshness else {
            continue;
        };
        match &s.graph.stages[pl.index].cell {
            Some(cell) if r.iter().any(|x| matches!(x, DirtyReason::NeverRun)) => {
                *never_run.entry(cell.sweep.clone()).or_default() += 1;
            }
            _ => listed.push(k),
        }
    }
    Ok(StatusReport {
        planned,
        listed,
        never_run,
    })
}
