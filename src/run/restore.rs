//! Checking outs out of the cache: for a run-cache hit, `pipe checkout` and `pipe pull`.
//! Restored files are recorded in the state db with the digest they were written from, so
//! the next status need not hash them again.
//!
//! Every out is written through the workspace's `RootDir`: an out whose directory is
//! reached through a link that leads out of the workspace is refused with an error naming
//! the out and the link (`pipe_cache::Error::Escapes`), and nothing is written.
//!
//! Every object is checked before it is handed out (`Store::check`): one whose stat moved
//! since it was last hashed is hashed again, and a corrupt one is quarantined. A run-cache
//! hit with a corrupt object is no hit (the stage runs again); `checkout` says which out
//! is affected and what to do.

use std::collections::BTreeMap;

use pipe_cache::walk::Stat;
use pipe_cache::{Store, Summary};
use rayon::prelude::*;

use crate::graph::Stage;
use crate::workspace::Workspace;
use crate::wspath::WsPath;

/// An out to check out: where, what, and whether as an independent copy (an out with
/// `cache = false` or `persist = true`) rather than by the configured link kinds.
#[derive(Debug, Clone)]
pub struct OutRef {
    pub path: WsPath,
    pub hash: Summary,
    pub copy: bool,
}

/// The stage's outs as a record or lock entry gives them; `None` when one is not listed.
pub fn outs_from(stage: &Stage, listed: &BTreeMap<WsPath, Summary>) -> Option<Vec<OutRef>> {
    stage
        .outs
        .iter()
        .map(|o| {
            listed.get(o.path.as_str()).map(|h| OutRef {
                path: o.path.clone(),
                hash: *h,
                copy: !o.linkable(),
            })
        })
        .collect()
}

/// Checks every object needed to check `out` out (see `Store::check`): the first that is
/// missing or corrupt (and now quarantined), its error naming the out's file.
pub fn check_objects(store: &Store, out: &OutRef) -> pipe_cache::Result<()> {
    let h = &out.hash;
    let path = out.path.as_str();
    if !h.is_dir() {
        return store.check(&h.digest).map_err(|e| e.within(path));
    }
    let m = store.read_manifest(&h.digest).map_err(|e| e.within(path))?;
    // In parallel: the first check of a big tree hashes every file.
    m.entries().par_iter().try_for_each(|e| {
        store
            .check(&e.digest)
            .map_err(|err| err.within(&format!("{path}/{}", e.path)))
    })
}

/// Why a run-cache hit's objects cannot be checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// One is not in the store (or cannot be read).
    Missing,
    /// One was corrupt and is now quarantined: the store's message, naming the out's file.
    Quarantined(String),
}

/// Every object needed to check `outs` out is in the store and whole; else the first that
/// is not. A corrupt one is quarantined: the caller runs the stage again instead, and
/// tells the user (it is the store's damage, not the stage's).
pub fn objects_usable(store: &Store, outs: &[OutRef]) -> Result<(), Unusable> {
    for o in outs {
        match check_objects(store, o) {
            Ok(()) => {}
            Err(e @ pipe_cache::Error::Quarantined { .. }) => {
                return Err(Unusable::Quarantined(e.to_string()));
            }
            Err(_) => return Err(Unusable::Missing),
        }
    }
    Ok(())
}

/// Makes each out hold its recorded content.
pub fn checkout(ws: &Workspace, outs: &[OutRef]) -> pipe_cache::Result<()> {
    for OutRef {
        path,
        hash: h,
        copy,
    } in outs
    {
        let rel = path.as_str();
        if h.is_dir() {
            let manifest = ws
                .store
                .read_manifest(&h.digest)
                .map_err(|e| e.within(rel))?;
            ws.store
                .checkout_tree_as(&manifest, &ws.dir, rel, *copy)
                .map_err(|e| e.within(rel))?;
            let clock = ws.state.clock()?;
            let mut items = Vec::with_capacity(manifest.len());
            // Stats as hashing takes them (a symlink checkout: its target's).
            let abs = path.to_abs(&ws.root);
            for e in manifest.entries() {
                if let Ok(m) = std::fs::metadata(abs.join(&e.path)) {
                    items.push((
                        format!("{path}/{}", e.path),
                        Stat::from_metadata(&m),
                        e.digest,
                    ));
                }
            }
            ws.state.record_many(items.into_iter(), clock);
        } else {
            ws.store
                .checkout_file_as(&h.digest, &ws.dir, rel, h.exec(), *copy)
                .map_err(|e| e.within(rel))?;
            let clock = ws.state.clock()?;
            if let Ok(m) = std::fs::metadata(path.to_abs(&ws.root)) {
                ws.state
                    .record(rel, &Stat::from_metadata(&m), h.digest, clock);
            }
        }
    }
    Ok(())
}
