//! Observing a stage: hashing its deps and outs (through the state db, so unchanged files
//! cost a stat) into the `Observed` that freshness compares with the lock.
//!
//! A command that only looks (status, `repro --dry`, explain) observes all its stages with
//! [`observe_many`]: each distinct path is digested once, so a directory that is one
//! stage's out and two stages' dep is walked once per command, not three times. A run
//! observes each stage when it starts ([`observe`]): an upstream stage may just have
//! rewritten what it reads.

use std::collections::{BTreeMap, HashMap, HashSet};

use pipe_cache::{Hashed, Summary, digest_path, hash_path};
use rayon::prelude::*;

use crate::graph::Stage;
use crate::lock::HashInfo;
use crate::lock::entry::env_digest;
use crate::run::fresh::Observed;
use crate::workspace::Workspace;
use crate::wspath::WsPath;

/// Hashes `paths` in parallel; `None` for a path that does not exist.
pub fn hash_all(ws: &Workspace, paths: &[&WsPath]) -> pipe_cache::Result<Vec<Option<Hashed>>> {
    let clock = ws.state.clock()?;
    hash_all_at(ws, paths, clock)
}

/// As `hash_all`, with a state-db clock read by the caller before anything was hashed.
pub fn hash_all_at(
    ws: &Workspace,
    paths: &[&WsPath],
    clock: i64,
) -> pipe_cache::Result<Vec<Option<Hashed>>> {
    paths
        .par_iter()
        .map(|p| hash_path(&ws.root, p.as_str(), &ws.state, clock))
        .collect()
}

pub fn observe(ws: &Workspace, stage: &Stage) -> pipe_cache::Result<Observed> {
    observe_at(ws, stage, ws.state.clock()?)
}

/// Digests of `paths` (directories from their tree entries when unchanged).
pub fn digest_all_at(
    ws: &Workspace,
    paths: &[&WsPath],
    clock: i64,
) -> pipe_cache::Result<Vec<Option<Summary>>> {
    paths
        .par_iter()
        .map(|p| digest_path(&ws.root, p.as_str(), &ws.state, clock))
        .collect()
}

pub fn observe_at(ws: &Workspace, stage: &Stage, clock: i64) -> pipe_cache::Result<Observed> {
    let mut paths: Vec<&WsPath> = stage.deps.iter().collect();
    paths.extend(stage.outs.iter().map(|o| &o.path));
    let hashed = digest_all_at(ws, &paths, clock)?;
    let memo: HashMap<&str, Option<Summary>> =
        paths.iter().map(|p| p.as_str()).zip(hashed).collect();
    Ok(assemble(stage, &memo))
}

/// Observes `stages` with each distinct path digested once (in parallel, one task per
/// path), under one state-db clock.
pub fn observe_many(ws: &Workspace, stages: &[&Stage]) -> pipe_cache::Result<Vec<Observed>> {
    let clock = ws.state.clock()?;
    let mut seen = HashSet::new();
    let paths: Vec<&WsPath> = stages
        .iter()
        .flat_map(|s| s.deps.iter().chain(s.outs.iter().map(|o| &o.path)))
        .filter(|p| seen.insert(p.as_str()))
        .collect();
    let digests = digest_all_at(ws, &paths, clock)?;
    let memo: HashMap<&str, Option<Summary>> =
        paths.iter().map(|p| p.as_str()).zip(digests).collect();
    tracing::debug!(
        stages = stages.len(),
        paths = memo.len(),
        "observed each distinct path once"
    );
    Ok(stages.iter().map(|s| assemble(s, &memo)).collect())
}

/// The observation of `stage` from the digests of its paths (every one in `memo`).
fn assemble(stage: &Stage, memo: &HashMap<&str, Option<Summary>>) -> Observed {
    let info = |p: &WsPath| {
        memo.get(p.as_str())
            .copied()
            .flatten()
            .as_ref()
            .map(HashInfo::from_summary)
    };
    Observed {
        cmd: stage.kind.describe(),
        params: stage.params.clone(),
        env: stage
            .env
            .iter()
            .map(|n| (n.clone(), env_digest(std::env::var(n).ok().as_deref())))
            .collect(),
        deps: stage
            .deps
            .iter()
            .map(|p| (p.as_str().to_string(), info(p)))
            .collect::<BTreeMap<_, _>>(),
        outs: stage
            .outs
            .iter()
            .map(|o| (o.path.as_str().to_string(), info(&o.path)))
            .collect(),
    }
}
