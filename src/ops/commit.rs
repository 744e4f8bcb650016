//! `pipe commit STAGE... | --all`: record a stage's outs as they are now as its last run,
//! without running it, as DVC's `dvc commit` does: after its command was run by hand, or
//! to accept an out edited on purpose. Its deps, params and command are recorded as they
//! are now, its outs stored in the cache, so `status` says up to date, `repro` runs
//! nothing, and `push`/`pull`/`checkout` move the outs.
//!
//! What it does not do: write a run-cache record. The run cache holds what a run made from
//! its inputs, and a commit is the user's word for it, not a run: a teammate's `repro`
//! never restores it in place of running (they get it through the lock, with `pull`).
//!
//! Every named stage is checked before anything is recorded: a dep or out that does not
//! exist is an error naming it (exit 2), and nothing changes. The outs and deps are held
//! (the locks a running stage takes) while they are hashed, so a commit never records an
//! out a running stage is writing: it is refused, naming the holder (exit 3).

use std::collections::BTreeMap;

use crate::error::Result;
use crate::graph::StageIdx;
use crate::pathlock::{self, Busy, Mode, PathLocks};
use crate::report::printer::{Printer, Tone};
use crate::run::commit as store;
use crate::run::decide::Inputs;
use crate::run::fresh::{self, Freshness};
use crate::run::observe::observe;

use super::Session;
use super::error::OpsError;

#[derive(Debug, Default)]
pub struct CommitReport {
    /// Stages recorded, each with why it was stale.
    pub committed: Vec<(String, Vec<String>)>,
    /// Stages whose lock entry already matched: nothing to record.
    pub fresh: Vec<String>,
}

/// Commits the stages `targets` names (every stage but tracked data with `all`).
pub fn commit(p: &Printer, s: &Session, targets: &[String], all: bool) -> Result<CommitReport> {
    let chosen: Vec<StageIdx> = if all {
        s.graph.topo().to_vec()
    } else if targets.is_empty() {
        return Err(OpsError::CommitWhat.into());
    } else {
        let named = s.select(targets)?;
        s.graph
            .topo()
            .iter()
            .copied()
            .filter(|i| named.contains(i))
            .collect()
    };
    let mut stages = Vec::with_capacity(chosen.len());
    for i in chosen {
        let st = &s.graph[i];
        if st.is_data() {
            if !all {
                return Err(OpsError::CommitData {
                    stage: st.id.to_string(),
                }
                .into());
            }
            continue;
        }
        stages.push(st);
    }
    // Held from before the first look until the last record.
    let mut want = BTreeMap::new();
    for st in &stages {
        for o in &st.outs {
            pathlock::want(&mut want, &o.path, Mode::Exclusive);
        }
        for d in &st.deps {
            pathlock::want(&mut want, d, Mode::Shared);
        }
    }
    let locks = PathLocks::new(&s.ws.locks());
    let _held = locks
        .try_acquire(&want, "pipe commit")
        .map_err(|e| match e {
            Busy::Held { path, holder } => OpsError::OutsBusyBy {
                path: path.to_string(),
                holder: holder.unwrap_or_else(|| "another pipe process".into()),
            },
            Busy::Io(path, err) => OpsError::Lock { path, err },
        })?;
    s.fold_lock()?;
    let lock = s.ws.lock.read()?;
    let mut report = CommitReport::default();
    let mut todo = Vec::new();
    for st in stages {
        let observed = observe(&s.ws, st)?;
        // As if it were neither frozen nor always changed: what differs from the lock.
        let freshness = fresh::check(&fresh::Check {
            frozen: false,
            forced: false,
            always_changed: false,
            lock: lock.get(st.id.as_str()),
            observed: &observed,
            upstream: &[],
        });
        let Freshness::Dirty(reasons) = freshness else {
            report.fresh.push(st.id.to_string());
            continue;
        };
        for (role, paths) in [("dep", &observed.deps), ("out", &observed.outs)] {
            if let Some((path, _)) = paths.iter().find(|(_, h)| h.is_none()) {
                return Err(OpsError::CommitMissing {
                    stage: st.id.to_string(),
                    role,
                    path: path.to_string(),
                }
                .into());
            }
        }
        let Some(inputs) = Inputs::of(st, &observed) else {
            continue;
        };
        todo.push((st, inputs, reasons));
    }
    for (st, inputs, reasons) in todo {
        store::commit_by_hand(&s.ws, st, &inputs)?;
        let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        p.verb(
            "Committed",
            Tone::Good,
            &format!("{} ({})", st.id, why.join("; ")),
        );
        report.committed.push((st.id.to_string(), why));
    }
    s.ws.state.save()?;
    s.fold_lock()?;
    if report.committed.is_empty() {
        p.verb(
            "Nothing",
            Tone::Good,
            "to commit: the lock matches the workspace",
        );
    }
    Ok(report)
}
