//! `pipe exp`: experiments, each an ad-hoc sweep cell of param overrides (see
//! `crate::exp` for the records and `crate::graph::exp` for the instances).
//!
//! - [`run`]: `exp run -S k=v [-n NAME] [--queue] [TARGETS]`, `exp run --run-all`
//! - [`show`]: `exp show`, `exp diff A B`
//! - [`apply`]: `exp apply NAME [--force]`
//! - [`share`]: `exp push NAME`, `exp pull NAME`, `exp show --remote`
//! - here: `exp remove NAME...`, `exp gc` (what `pipe gc` keeps for experiments is in
//!   `ops::keep`, below both).

pub mod apply;
pub mod run;
pub mod share;
pub mod show;

use std::sync::Arc;

use crate::error::Result;
use crate::exp::ExpName;
use crate::exp::record::{ExpRecord, ExpState, Records};
use crate::graph::Graph;
use crate::graph::StageIdx;
use crate::graph::exp::{ExpCell, instantiate, is_exp_id};
use crate::ops::error::OpsError;
use crate::report::printer::{Printer, Tone};
use crate::workspace::Workspace;

use super::Session;
use super::keep::exps_lock;

pub fn records(s: &Session) -> Records {
    Records::writable(&s.ws.dot, s.ws.dir.clone())
}

pub fn cell_of(r: &ExpRecord) -> ExpCell {
    ExpCell {
        name: r.name.clone(),
        overrides: r.overrides.clone(),
        targets: r.targets.clone(),
    }
}

/// A session whose graph holds `cells`' stage instances too, and whose lock keeps their
/// entries in `.pipe/exps.lock`; with the indices of each cell's instances.
pub fn session_with(
    p: &Printer,
    s: &Session,
    cells: &[ExpCell],
) -> Result<(Session, Vec<Vec<StageIdx>>)> {
    let mut extra = Vec::new();
    let mut ids = Vec::with_capacity(cells.len());
    for c in cells {
        let stages = instantiate(&s.spec, &s.graph, c)?;
        ids.push(stages.iter().map(|st| st.id.clone()).collect::<Vec<_>>());
        extra.extend(stages);
    }
    let spec = crate::spec::load(&s.spec.path)?;
    let graph = Graph::build(&spec)?.with_extra(&spec, extra)?;
    let mut ws = Workspace::open(&spec.path)?;
    super::warn_workspace(p, &ws);
    ws.lock = ws.lock.clone().with_side(exps_lock(&ws), is_exp_id);
    let per: Vec<Vec<StageIdx>> = ids
        .iter()
        .map(|v| v.iter().filter_map(|id| graph.find(id.as_str())).collect())
        .collect();
    Ok((
        Session {
            spec,
            graph: Arc::new(graph),
            ws: Arc::new(ws),
        },
        per,
    ))
}

/// `pipe exp remove NAME...`: the records, the outs under `.pipe/exps/NAME/`, the lock
/// entries. Their cache objects go at the next `pipe gc`. A record that cannot be read
/// (`exp show` lists it as unreadable) is removed all the same.
pub fn remove(p: &Printer, s: &Session, names: &[ExpName]) -> Result<()> {
    if names.is_empty() {
        return Err(OpsError::NoExpNames.into());
    }
    let recs = records(s);
    let mut found: Vec<(&ExpName, bool)> = Vec::with_capacity(names.len());
    for n in names {
        let readable = match recs.get(n) {
            Ok(Some(r)) => {
                if r.shown_state() == ExpState::Running {
                    return Err(OpsError::RemoveRunning {
                        name: n.to_string(),
                        pid: r.pid.unwrap_or(0),
                    }
                    .into());
                }
                true
            }
            Ok(None) => {
                recs.find(n)?;
                true
            }
            Err(e) => {
                tracing::debug!("removing the unreadable record of {n}: {e}");
                false
            }
        };
        found.push((n, readable));
    }
    for (n, readable) in found {
        drop_one(s, &recs, n)?;
        let what = if readable {
            format!("experiment {n}")
        } else {
            format!("experiment {n} (its record was unreadable)")
        };
        p.verb("Removed", Tone::Good, &what);
    }
    exps_lock(&s.ws).fold(None)?;
    Ok(())
}

/// Forgets experiment `name`: every entry of its stages in the experiments' lock (found
/// by id, so an unreadable record loses them too), its record and its outs.
fn drop_one(s: &Session, recs: &Records, name: &ExpName) -> Result<()> {
    let lock = exps_lock(&s.ws);
    for id in lock.read()?.keys() {
        if owner(id) == Some(name.as_str()) {
            lock.record(id, None)?;
        }
    }
    recs.remove(name)
}

/// The experiment an id of the experiments' lock belongs to (`train@exp~NAME` -> NAME).
fn owner(id: &str) -> Option<&str> {
    id.split_once(crate::graph::exp::ID_MARK).map(|(_, n)| n)
}

/// `pipe exp gc [--all]`: removes failed (and interrupted) experiments, or every one with
/// `all`, and the lock entries and out directories no record owns; then collects the
/// cache objects nothing refers to any more, as `pipe gc` does.
pub fn gc(p: &Printer, s: &Session, all: bool, dry: bool) -> Result<()> {
    let recs = records(s);
    let (list, unreadable) = recs.list_all()?;
    let doomed: Vec<&ExpRecord> = list
        .iter()
        .filter(|r| {
            let st = r.shown_state();
            st != ExpState::Running && (all || st == ExpState::Failed)
        })
        .collect();
    let verb = if dry { "Would remove" } else { "Removed" };
    for r in &doomed {
        if !dry {
            drop_one(s, &recs, &r.name)?;
        }
        p.verb(
            verb,
            Tone::Good,
            &format!("experiment {} ({})", r.name, r.shown_state().label()),
        );
    }
    if !dry {
        // Entries and directories of experiments that no longer have a record (an
        // unreadable record is one: `exp remove` removes it, gc does not guess). Records
        // are listed again now: an experiment recorded since the list above is kept.
        let (now, _) = recs.list_all()?;
        let kept: std::collections::HashSet<&str> = now
            .iter()
            .filter(|r| !doomed.iter().any(|d| d.name == r.name))
            .map(|r| r.name.as_str())
            .chain(
                unreadable
                    .iter()
                    .filter_map(|u| u.name.as_ref())
                    .map(ExpName::as_str),
            )
            .collect();
        let lock = exps_lock(&s.ws);
        for id in lock.read()?.keys() {
            if owner(id).is_some_and(|n| !kept.contains(n)) {
                lock.record(id, None)?;
            }
        }
        lock.fold(None)?;
        if let Ok(rd) = std::fs::read_dir(s.ws.dot.join("exps")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // Only a directory named as an experiment (never a link: removed by name).
                let Ok(exp) = ExpName::parse(&name) else {
                    continue;
                };
                if e.file_type().is_ok_and(|t| t.is_dir()) && !kept.contains(name.as_str()) {
                    recs.remove_out_dir(&exp)?;
                }
            }
        }
    }
    super::gc::gc(p, s, dry, false).map(|_| ())
}
