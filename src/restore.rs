//! Checking outs out of the cache: for a run-cache hit, `pipe checkout` and `pipe pull`.
//! Restored files are recorded in the state db with the digest they were written from, so
//! the next status need not hash them again.

use std::collections::BTreeMap;

use pipe_cache::walk::Stat;
use pipe_cache::{Digest, Store};

use crate::graph::Stage;
use crate::lock::HashInfo;
use crate::workspace::Workspace;
use crate::wspath::WsPath;

/// An out to check out: where, what, and whether as an independent copy (an out with
/// `cache = false`) rather than by the configured link kinds.
#[derive(Debug, Clone)]
pub struct OutRef {
    pub path: WsPath,
    pub hash: HashInfo,
    pub copy: bool,
}

/// The stage's outs as a record or lock entry gives them; `None` when one is not listed.
pub fn outs_from(stage: &Stage, listed: &BTreeMap<String, HashInfo>) -> Option<Vec<OutRef>> {
    stage
        .outs
        .iter()
        .map(|o| {
            listed.get(o.path.as_str()).map(|h| OutRef {
                path: o.path.clone(),
                hash: h.clone(),
                copy: !o.cache,
            })
        })
        .collect()
}

/// Every object needed to check `outs` out is in the store (manifests read to know).
pub fn objects_present(store: &Store, outs: &[OutRef]) -> bool {
    outs.iter().all(|OutRef { hash: h, .. }| {
        if !store.has(&h.digest) {
            return false;
        }
        if !h.dir {
            return true;
        }
        match store.read_manifest(&h.digest) {
            Ok(m) => m.entries().iter().all(|e| store.has(&e.digest)),
            Err(_) => false,
        }
    })
}

/// Objects the outs need that the store lacks (manifests it has are read to know).
pub fn missing_objects(store: &Store, outs: &[&HashInfo]) -> Vec<Digest> {
    let mut missing = Vec::new();
    for h in outs {
        if !store.has(&h.digest) {
            missing.push(h.digest);
            continue;
        }
        if h.dir
            && let Ok(m) = store.read_manifest(&h.digest)
        {
            missing.extend(
                m.entries()
                    .iter()
                    .filter(|e| !store.has(&e.digest))
                    .map(|e| e.digest),
            );
        }
    }
    missing
}

/// Makes each out hold its recorded content.
pub fn checkout(ws: &Workspace, outs: &[OutRef]) -> pipe_cache::Result<()> {
    for OutRef {
        path,
        hash: h,
        copy,
    } in outs
    {
        let abs = path.to_abs(&ws.root);
        if h.dir {
            let manifest = ws.store.read_manifest(&h.digest)?;
            ws.store.checkout_tree_as(&manifest, &abs, *copy)?;
            let clock = ws.state.clock()?;
            let mut items = Vec::with_capacity(manifest.len());
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
            ws.store.checkout_file_as(&h.digest, &abs, h.exec, *copy)?;
            let clock = ws.state.clock()?;
            if let Ok(m) = std::fs::metadata(&abs) {
                ws.state
                    .record(path.as_str(), &Stat::from_metadata(&m), h.digest, clock);
            }
        }
    }
    Ok(())
}
