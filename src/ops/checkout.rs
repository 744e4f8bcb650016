//! `pipe checkout`: make the outs match the lock, from the cache. Every object is checked
//! before it is handed out; a corrupt one is quarantined and its out left as it is.
//!
//! A running stage (of another pipe process) owns its outs: each out is written under its
//! path lock, taken without waiting, and one a stage holds is left as it is (checked out
//! under the stage, a hard-linked object would be what its command writes into). When
//! anything was written the lock is marked, so runs in progress look again.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::graph::StageIdx;
use crate::lock::{Entries, Stamp};
use crate::ops::error::OpsError;
use crate::pathlock::{self, Busy, Held, Mode, PathLocks};
use crate::report::printer::{Printer, Tone};
use crate::run::observe::digest_all_at;
use crate::run::restore;
use crate::wspath::WsPath;

use super::Session;

#[derive(Debug, Default)]
pub struct CheckoutReport {
    pub restored: Vec<WsPath>,
    pub missing: Vec<WsPath>,
    /// Outs whose cached content was corrupt (now quarantined) or unusable (a manifest that fails validation).
    pub corrupt: Vec<WsPath>,
    /// Outs a running stage holds (left as they are).
    pub busy: Vec<WsPath>,
}

/// `targets`: stages (default: every stage with a lock entry). Outs that already match
/// are left alone; outs whose objects are not in the cache are reported.
pub fn checkout(p: &Printer, s: &Session, targets: &[String]) -> Result<CheckoutReport> {
    // A path inside a directory out: that part of it alone (see `ops::part`).
    let (whole, parts) = super::part::split(s, targets)?;
    if !parts.is_empty() {
        let done = super::part::checkout(p, s, &parts)?;
        if !done.missing.is_empty() {
            return Err(OpsError::NotInCache {
                n: done.missing.len(),
            }
            .into());
        }
        if whole.is_empty() {
            return Ok(CheckoutReport::default());
        }
    }
    let targets = &whole;
    let order = if targets.is_empty() {
        s.graph.topo().to_vec()
    } else {
        s.select(targets)?
    };
    s.fold_lock()?;
    // Taken before the read: a record that lands after it moves the stamp.
    let stamp = s.ws.lock.stamp()?;
    let lock = s.ws.lock.read()?;
    let mut report = CheckoutReport::default();
    // Whether any out was written (even in part): a run in progress may have observed it
    // as it was, so the lock is marked (see `LockStore::mark`), also when a write failed.
    let mut wrote = false;
    // Held until the lock is marked: a stage that starts meanwhile waits, then looks again.
    let mut held = Vec::new();
    let restored = restore_outs(
        p,
        s,
        &order,
        (stamp, &lock),
        &mut report,
        &mut wrote,
        &mut held,
    );
    let marked = if wrote {
        s.ws.lock.mark().map(drop)
    } else {
        Ok(())
    };
    drop(held);
    // What was restored is worth keeping in the state db whatever failed; a failed restore
    // is the error to tell first.
    let saved = s.ws.state.save();
    restored?;
    marked?;
    saved?;
    if !report.busy.is_empty() {
        return Err(OpsError::OutsBusy {
            n: report.busy.len(),
        }
        .into());
    }
    if !report.corrupt.is_empty() {
        return Err(OpsError::OutsCorrupt {
            n: report.corrupt.len(),
        }
        .into());
    }
    if !report.missing.is_empty() {
        return Err(OpsError::NotInCache {
            n: report.missing.len(),
        }
        .into());
    }
    if report.restored.is_empty() {
        p.verb("Done", Tone::Good, "every out already matches the lock");
    }
    Ok(report)
}

/// Checks out the cached outs of the stages `order` names that differ from `lock`.
fn restore_outs(
    p: &Printer,
    s: &Session,
    order: &[StageIdx],
    (stamp, lock): (Stamp, &Entries),
    report: &mut CheckoutReport,
    wrote: &mut bool,
    held: &mut Vec<Held>,
) -> Result<()> {
    let locks = PathLocks::new(&s.ws.locks());
    // The lock as last read: read again only when its stamp moved (another process
    // recorded), not once per out.
    let mut latest: (Stamp, Option<Entries>) = (stamp, None);
    for &i in order {
        let st = &s.graph[i];
        let Some(entry) = lock.get(st.id.as_str()) else {
            continue;
        };
        let cached: Vec<(WsPath, pipe_cache::Summary, bool)> = st
            .outs
            .iter()
            .filter(|o| o.cache)
            .filter_map(|o| {
                entry
                    .outs
                    .get(o.path.as_str())
                    .map(|h| (o.path.clone(), *h, !o.linkable()))
            })
            .collect();
        let paths: Vec<&WsPath> = cached.iter().map(|(p, _, _)| p).collect();
        let now = digest_all_at(&s.ws, &paths, s.ws.state.clock()?)?;
        for ((path, h, copy), cur) in cached.iter().zip(now) {
            if cur.is_some_and(|c| c.digest == h.digest) {
                continue;
            }
            let one = [restore::OutRef {
                path: path.clone(),
                hash: *h,
                copy: *copy,
            }];
            match restore::check_objects(&s.ws.store, &one[0]) {
                Ok(()) => {}
                Err(e @ pipe_cache::Error::Quarantined { .. }) => {
                    p.warn(&format!(
                        "{e}; `{path}` is left as it is: run `pipe repro {}` to make it again (or `pipe pull` to fetch it)",
                        st.id
                    ));
                    report.corrupt.push(path.clone());
                    continue;
                }
                Err(pipe_cache::Error::Missing(_)) => {
                    p.warn(&format!(
                        "{path}: not in the cache (run `pipe pull` or `pipe repro {}`)",
                        st.id
                    ));
                    report.missing.push(path.clone());
                    continue;
                }
                // An unreadable object or a manifest that fails validation: said as it is.
                Err(e) => {
                    p.warn(&format!(
                        "{e}; `{path}` is left as it is (run `pipe repro {}` to make it again)",
                        st.id
                    ));
                    report.corrupt.push(path.clone());
                    continue;
                }
            }
            let mut want = BTreeMap::new();
            pathlock::want(&mut want, path, Mode::Exclusive);
            match locks.try_acquire(&want, "pipe checkout") {
                Ok(taken) => {
                    // A stage of another process may have run and recorded between the read
                    // of the lock above and this lock: what it wrote is what the lock says
                    // now, and is left as it is.
                    let stamp = s.ws.lock.stamp()?;
                    if stamp != latest.0 {
                        latest = (stamp, Some(s.ws.lock.read()?));
                    }
                    let now = latest
                        .1
                        .as_ref()
                        .unwrap_or(lock)
                        .get(st.id.as_str())
                        .and_then(|e| e.outs.get(path.as_str()));
                    if now.map(|n| n.digest) != Some(h.digest) {
                        tracing::debug!(%path, "recorded anew by another process meanwhile: left as it is");
                        continue;
                    }
                    held.push(taken);
                }
                Err(Busy::Held { holder, .. }) => {
                    p.warn(&format!(
                        "{path}: left as it is, a running stage reads or writes it ({})",
                        holder.as_deref().unwrap_or("another pipe process")
                    ));
                    report.busy.push(path.clone());
                    continue;
                }
                Err(Busy::Io(path, err)) => {
                    return Err(OpsError::Lock { path, err }.into());
                }
            }
            *wrote = true;
            restore::checkout(&s.ws, &one)?;
            p.verb("Restored", Tone::Good, &path.to_string());
            report.restored.push(path.clone());
        }
    }
    Ok(())
}
