//! Observing a stage: hashing its deps and outs (through the state db, so unchanged files
//! cost a stat) into the `Observed` that freshness compares with the lock.

use std::collections::BTreeMap;

use pipe_cache::{Hashed, Summary, digest_path, hash_path};
use rayon::prelude::*;

use crate::fresh::Observed;
use crate::graph::Stage;
use crate::lock::HashInfo;
use crate::lock::entry::env_digest;
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
    let (deps, outs) = hashed.split_at(stage.deps.len());
    let info = |h: &Option<Summary>| h.as_ref().map(HashInfo::from_summary);
    Ok(Observed {
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
            .zip(deps)
            .map(|(p, h)| (p.as_str().to_string(), info(h)))
            .collect::<BTreeMap<_, _>>(),
        outs: stage
            .outs
            .iter()
            .zip(outs)
            .map(|(o, h)| (o.path.as_str().to_string(), info(h)))
            .collect(),
    })
}
