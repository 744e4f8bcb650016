//! What the cache's objects are kept for, beyond the workspace's own lock: the
//! experiments' lock (`.pipe/exps.lock`) and every experiment record's entries. `pipe gc`
//! keeps them; `pipe exp` removes what they hold (and then collects, through `gc`), so
//! both read them from here, below both.

use std::path::Path;

use crate::error::Result;
use crate::exp::record::Records;
use crate::graph::exp::stage_id;
use crate::lock::{Entries, LockStore};
use crate::ops::error::OpsError;
use crate::workspace::Workspace;

use super::Session;

/// The lock of every experiment's stage instances.
pub fn exps_lock(ws: &Workspace) -> LockStore {
    LockStore::new(&ws.dot.join("exps.lock"), &ws.dot.join("journal"))
}

/// What experiments refer to, for `pipe gc` to keep: the experiments' lock and every
/// record's entries (a pulled record may be the only holder).
pub fn entries_to_keep(s: &Session) -> Result<Vec<Entries>> {
    entries_to_keep_in(&s.ws.dot, false)
}

/// [`entries_to_keep`] of the workspace whose `.pipe/` is `dot` (another workspace that
/// shares the cache, read without writing anything there). With `strict`, a record file
/// that cannot be read (permissions: as opposed to one read and not understood, which no
/// command can act on) is an error, naming it: what it refers to is unknown.
pub fn entries_to_keep_in(dot: &Path, strict: bool) -> Result<Vec<Entries>> {
    let lock = LockStore::new(&dot.join("exps.lock"), &dot.join("journal"));
    let mut out = vec![lock.read()?];
    let mut from_records = Entries::new();
    let (list, unreadable) = Records::read_only(dot).list_all()?;
    if strict && let Some(u) = unreadable.iter().find(|u| u.io) {
        return Err(OpsError::RecordUnreadable {
            file: u.file.clone(),
            why: u.why.clone(),
        }
        .into());
    }
    for r in list {
        for (stage, e) in r.stages {
            from_records.insert(stage_id(&stage, &r.name).to_string(), e);
        }
    }
    out.push(from_records);
    Ok(out)
}
