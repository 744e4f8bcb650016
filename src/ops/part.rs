//! A part of a directory out named as a target (`pipe pull data/raw/cam07`, one file of it):
//! `fetch`, `pull` and `checkout` move only the files under it. The directory's manifest
//! comes first (it says which files the part holds), then those files alone; checking the
//! part out writes those files and leaves the rest of the directory as it is. `status` then
//! says the out is partially present (see `ops::status`), not modified.

use std::collections::BTreeMap;

use pipe_cache::Summary;
use pipe_cache::manifest::Entry;

use crate::error::Result;
use crate::ops::error::OpsError;
use crate::pathlock::{self, Busy, Mode, PathLocks};
use crate::report::printer::{Printer, Tone};
use crate::wspath::WsPath;

use super::Session;

/// A path strictly inside a cached directory out that the lock records.
#[derive(Debug, Clone)]
pub struct Part {
    /// The stage that writes the out (or the tracked data holding it).
    pub stage: String,
    pub out: WsPath,
    pub hash: Summary,
    /// The part, relative to the out (`cam07`, `cam07/f001.jpg`).
    pub within: String,
}

impl Part {
    /// The manifest entries under the part.
    pub fn entries<'m>(&self, all: &'m [Entry]) -> Vec<&'m Entry> {
        all.iter()
            .filter(|e| pipe_cache::manifest::is_under(&e.path, &self.within))
            .collect()
    }
}

/// The targets that name a part of a directory out, and the rest (stages, whole outs) as
/// they were given. A target that is neither is left with the rest, for `select` to name.
pub fn split(s: &Session, targets: &[String]) -> Result<(Vec<String>, Vec<Part>)> {
    let mut whole = Vec::new();
    let mut parts = Vec::new();
    let mut lock = None;
    for t in targets {
        let path = WsPath::parse(t.trim_end_matches('/')).ok();
        let inside = path
            .as_ref()
            .filter(|_| s.graph.find(t).is_none())
            .and_then(|p| {
                s.graph.stages().iter().find_map(|st| {
                    st.outs
                        .iter()
                        .find(|o| o.cache && p != &o.path && p.is_within(&o.path))
                        .map(|o| (st, o.path.clone(), p.clone()))
                })
            });
        let Some((st, out, p)) = inside else {
            whole.push(t.clone());
            continue;
        };
        if lock.is_none() {
            s.fold_lock()?;
            lock = Some(s.ws.lock.read()?);
        }
        let hash = lock
            .as_ref()
            .and_then(|l| l.get(st.id.as_str()))
            .and_then(|e| e.outs.get(out.as_str()))
            .copied();
        match hash {
            Some(hash) if hash.is_dir() => {
                let within = p
                    .as_str()
                    .strip_prefix(out.as_str())
                    .map(|r| r.trim_start_matches('/').to_string())
                    .unwrap_or_default();
                parts.push(Part {
                    stage: st.id.to_string(),
                    out,
                    hash,
                    within,
                });
            }
            // Not recorded yet, or a file: the whole out, as before.
            _ => whole.push(t.clone()),
        }
    }
    Ok((whole, parts))
}

/// What checking parts out did.
#[derive(Debug, Default)]
pub struct PartsCheckedOut {
    /// Files written.
    pub files: usize,
    /// Parts whose manifest or files the cache lacks (`pipe fetch` brings them).
    pub missing: Vec<String>,
}

/// Writes the files of each part that differ from the cache's, under the out's path lock
/// (a running stage that holds it: refused, as `pipe checkout` refuses).
pub fn checkout(p: &Printer, s: &Session, parts: &[Part]) -> Result<PartsCheckedOut> {
    let mut done = PartsCheckedOut::default();
    let locks = PathLocks::new(&s.ws.locks());
    let clock = s.ws.state.clock()?;
    for part in parts {
        let name = format!("{}/{}", part.out, part.within);
        let Ok(manifest) = s.ws.store.read_manifest(&part.hash.digest) else {
            p.warn(&format!(
                "{name}: not in the cache (run `pipe fetch {name}`)"
            ));
            done.missing.push(name);
            continue;
        };
        let entries = part.entries(manifest.entries());
        if entries.is_empty() {
            return Err(OpsError::NoSuchPart {
                part: name,
                out: part.out.to_string(),
            }
            .into());
        }
        if let Some(e) = entries.iter().find(|e| !s.ws.store.intact(&e.digest)) {
            p.warn(&format!(
                "{}/{}: not in the cache (run `pipe fetch {name}`)",
                part.out, e.path
            ));
            done.missing.push(name);
            continue;
        }
        let mut want = BTreeMap::new();
        pathlock::want(&mut want, &part.out, Mode::Exclusive);
        let held = match locks.try_acquire(&want, "pipe checkout") {
            Ok(h) => h,
            Err(Busy::Held { holder, .. }) => {
                return Err(OpsError::OutsBusyBy {
                    path: part.out.to_string(),
                    holder: holder.unwrap_or_else(|| "another pipe process".into()),
                }
                .into());
            }
            Err(Busy::Io(path, err)) => return Err(OpsError::Lock { path, err }.into()),
        };
        let mut wrote = 0;
        for e in entries {
            let rel = format!("{}/{}", part.out, e.path);
            let now = pipe_cache::tree::digest_path(&s.ws.root, &rel, &s.ws.state, clock)?;
            if now.is_some_and(|n| n.digest == e.digest) {
                continue;
            }
            s.ws.store
                .checkout_file_as(&e.digest, &s.ws.dir, &rel, e.exec, false)?;
            wrote += 1;
        }
        if wrote > 0 {
            s.ws.lock.mark()?;
        }
        drop(held);
        p.verb(
            "Restored",
            Tone::Good,
            &format!("{name} ({wrote} file(s) of {})", part.out),
        );
        done.files += wrote;
    }
    s.ws.state.save()?;
    Ok(done)
}
