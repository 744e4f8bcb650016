//! `pipe checkout`: make the outs match the lock, from the cache. Every object is checked
//! before it is handed out; a corrupt one is quarantined and its out left as it is.

use crate::error::{Error, Result};
use crate::lock::HashInfo;
use crate::report::printer::{self, Tone};
use crate::run::observe::digest_all_at;
use crate::run::restore;
use crate::wspath::WsPath;

use super::Session;

#[derive(Debug, Default)]
pub struct CheckoutReport {
    pub restored: Vec<WsPath>,
    pub missing: Vec<WsPath>,
    /// Outs whose cached content was corrupt (and is now quarantined).
    pub corrupt: Vec<WsPath>,
}

/// `targets`: stages (default: every stage with a lock entry). Outs that already match
/// are left alone; outs whose objects are not in the cache are reported.
pub fn checkout(s: &Session, targets: &[String]) -> Result<CheckoutReport> {
    let order = if targets.is_empty() {
        s.graph.topo().to_vec()
    } else {
        s.select(targets)?
    };
    s.fold_lock()?;
    let lock = s.ws.lock.read()?;
    let p = printer::get();
    let mut report = CheckoutReport::default();
    // Whether any out was written (even in part): a run in progress may have observed it
    // as it was, so the lock is marked (see `LockStore::mark`), also when a write failed.
    let mut wrote = false;
    let restored = restore_outs(s, &order, &lock, &mut report, &mut wrote);
    if wrote {
        s.ws.lock.mark()?;
    }
    restored?;
    s.ws.state.save()?;
    if !report.corrupt.is_empty() {
        return Err(Error::Env(format!(
            "{} out(s) not restored: their cached content was corrupt (quarantined)",
            report.corrupt.len()
        )));
    }
    if !report.missing.is_empty() {
        return Err(Error::User(format!(
            "{} out(s) could not be restored: their content is not in the cache",
            report.missing.len()
        )));
    }
    if report.restored.is_empty() {
        p.verb("Done", Tone::Good, "every out already matches the lock");
    }
    Ok(report)
}

/// Checks out the cached outs of the stages `order` names that differ from `lock`.
fn restore_outs(
    s: &Session,
    order: &[usize],
    lock: &crate::lock::Entries,
    report: &mut CheckoutReport,
    wrote: &mut bool,
) -> Result<()> {
    let p = printer::get();
    for &i in order {
        let st = &s.graph.stages[i];
        let Some(entry) = lock.get(st.id.as_str()) else {
            continue;
        };
        let cached: Vec<(WsPath, HashInfo, bool)> = st
            .outs
            .iter()
            .filter(|o| o.cache)
            .filter_map(|o| {
                entry
                    .outs
                    .get(o.path.as_str())
                    .map(|h| (o.path.clone(), h.clone(), !o.linkable()))
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
                hash: h.clone(),
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
                Err(_) => {
                    p.warn(&format!(
                        "{path}: not in the cache (run `pipe pull` or `pipe repro {}`)",
                        st.id
                    ));
                    report.missing.push(path.clone());
                    continue;
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
