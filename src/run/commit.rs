//! Committing a successful run: only after the stage exited 0 and every declared out
//! exists are its outs stored, its run-cache record written and its lock entry recorded,
//! in that order (a crash in between leaves at worst unreferenced objects).
//!
//! A stage that exited 0 but broke its contract (a declared out missing, an out that is or
//! holds a symbolic link: `outlinks.rs`) fails with a [`ContractError`], and nothing of it
//! is stored.

use std::collections::BTreeMap;

use pipe_cache::{Hashed, LinkKind};

use crate::error::Result;
use crate::graph::Stage;
use crate::lock::LockEntry;
use crate::run::contract::ContractError;
use crate::run::decide::Inputs;
use crate::run::observe::Seen;
use crate::run::observe::hash_all;
use crate::run::restore::OutRef;
use crate::run::runcache::RunRecord;
use crate::workspace::Workspace;
use crate::wspath::WsPath;

/// `inputs`: the dep hashes and env digests taken before the run, and the run-cache key
/// the decision computed from them (the record goes under that key, not a recomputed one,
/// and the lock entry carries it for push, gc and `exp push`).
/// `changed_during_run`: deps whose content differed after the run: the outs are stored
/// (so they can be checked out and inspected) but no run-cache record is written, and the
/// lock entry names those deps, which keeps the stage stale until it runs on stable inputs.
/// `seen`: the run's observations, when a scheduler's run commits (its own append must not
/// look like another process's).
pub fn commit(
    ws: &Workspace,
    stage: &Stage,
    inputs: &Inputs,
    changed_during_run: Vec<WsPath>,
    seen: Option<&Seen>,
) -> Result<LockEntry> {
    store(ws, stage, inputs, changed_during_run, seen, true)
}

/// `pipe commit`: the outs as they are stored and recorded as the stage's last run from
/// `inputs`, with no run-cache record (no run made them: the user says they are right).
pub fn commit_by_hand(ws: &Workspace, stage: &Stage, inputs: &Inputs) -> Result<LockEntry> {
    store(ws, stage, inputs, Vec::new(), None, false)
}

fn store(
    ws: &Workspace,
    stage: &Stage,
    inputs: &Inputs,
    changed_during_run: Vec<WsPath>,
    seen: Option<&Seen>,
    record: bool,
) -> Result<LockEntry> {
    super::outlinks::refuse_links(ws, stage)?;
    let paths: Vec<&WsPath> = stage.outs.iter().map(|o| &o.path).collect();
    let hashed = hash_all(ws, &paths)?;
    let mut outs = BTreeMap::new();
    let mut batch = ws.store.batch();
    for (o, h) in stage.outs.iter().zip(&hashed) {
        let Some(h) = h else {
            return Err(ContractError::Missing {
                stage: stage.id.clone(),
                role: o.role,
                path: o.path.clone(),
            }
            .into());
        };
        // Uncached outs stay plain files where they are; a copy of their content goes to the
        // store for the run cache, unless the stage cannot be restored anyway.
        if o.cache || stage.restorable() {
            let abs = o.path.to_abs(&ws.root);
            let mut add = |p: &std::path::Path, d| {
                if o.linkable() {
                    batch.add_file(p, d)
                } else {
                    batch.add_file_copy(p, d)
                }
            };
            match h {
                Hashed::File { digest, .. } => add(&abs, *digest),
                Hashed::Dir { digest, manifest } => {
                    for e in manifest.entries() {
                        add(&abs.join(&e.path), e.digest);
                    }
                    batch.add_bytes(manifest.encode(), *digest);
                }
            }
        }
        outs.insert(o.path.clone(), h.summary());
    }
    batch.commit()?;
    if ws.store.options().links.first() == Some(&LinkKind::Symlink) {
        let cached: Vec<OutRef> = stage
            .outs
            .iter()
            .filter(|o| o.linkable())
            .map(|o| OutRef {
                path: o.path.clone(),
                hash: outs[o.path.as_str()],
                copy: false,
            })
            .collect();
        crate::run::restore::checkout(ws, &cached)?;
    }
    let mut entry = inputs.entry(stage, outs.clone());
    entry.changed_during_run = changed_during_run;
    if !entry.changed_during_run.is_empty() || !record {
        // No record is written for it (below): the entry names none.
        entry.key = None;
    }
    if entry.key.is_some() {
        let record = RunRecord {
            stage: stage.id.to_string(),
            outs,
        };
        ws.store.put_record(&inputs.key, &record.encode())?;
        tracing::debug!(stage = %stage.id, key = %inputs.key, "run-cache record written");
    }
    match seen {
        Some(seen) => seen.record(ws, stage.id.as_str(), &entry)?,
        None => {
            ws.lock.record(stage.id.as_str(), Some(&entry))?;
        }
    }
    Ok(entry)
}
