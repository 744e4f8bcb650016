//! `pipe status`: which stages are stale, and why. Never runs or locks anything.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::report::printer::Printer;
use crate::run::fresh::Freshness;
use crate::run::plan::{self, PlanOptions, Planned};

use super::Session;

#[derive(Serialize)]
struct StatusJson<'a> {
    stale: Vec<&'a Planned>,
    fresh: usize,
    frozen: usize,
}

/// Evaluates `targets` (default: every stage, sweep cells included) and prints the stale ones.
pub fn status(p: &Printer, s: &Session, targets: &[String], json: bool) -> Result<Vec<Planned>> {
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
    for q in planned.iter().filter_map(|x| x.quarantined.as_deref()) {
        p.warn(q);
    }
    let fresh = planned
        .iter()
        .filter(|x| x.freshness == Freshness::Fresh)
        .count();
    let frozen = planned
        .iter()
        .filter(|x| x.freshness == Freshness::Frozen)
        .count();
    let stale: Vec<&Planned> = planned.iter().filter(|x| x.freshness.is_dirty()).collect();
    if json {
        let out = serde_json::to_string_pretty(&StatusJson {
            stale: stale.clone(),
            fresh,
            frozen,
        })
        .unwrap_or_default();
        p.data(&out);
        return Ok(planned);
    }
    if stale.is_empty() {
        p.data(&format!(
            "Everything is up to date ({} stages).",
            planned.len()
        ));
        return Ok(planned);
    }
    // Sweep cells that never ran are summarised per sweep, not listed one by one.
    let mut never: BTreeMap<String, usize> = BTreeMap::new();
    let mut text = String::new();
    for pl in &stale {
        let st = &s.graph.stages[pl.index];
        if let (Some(cell), Freshness::Dirty(r)) = (&st.cell, &pl.freshness)
            && r.iter()
                .any(|x| matches!(x, crate::run::fresh::DirtyReason::NeverRun))
        {
            *never.entry(cell.sweep.clone()).or_default() += 1;
            continue;
        }
        if let Freshness::Dirty(reasons) = &pl.freshness {
            let tag = if pl.restore {
                " (restorable from the run cache)"
            } else {
                ""
            };
            text.push_str(&format!("{}: stale{tag}\n", pl.stage));
            for r in reasons {
                text.push_str(&format!("    {r}\n"));
            }
        }
    }
    for (sweep, n) in never {
        text.push_str(&format!("sweep {sweep}: {n} stage instance(s) never run\n"));
    }
    p.data(text.trim_end());
    Ok(planned)
}
