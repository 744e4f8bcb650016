//! `pipe gc`: delete cache objects nothing refers to.
//!
//! Kept: everything a lock file in the workspace refers to (every `*.lock` beside the
//! pipeline that is a pipe lock, so two pipelines sharing a cache keep each other's
//! objects) and, unless `--workspace`, everything a run-cache record refers to (so reverting
//! a param still restores instead of rerunning). With `--workspace`, run-cache records
//! whose outs are not all kept go too.
//!
//! Freed as well, and counted: quarantined (corrupt) objects, and what killed processes
//! left (swept when the workspace was opened, see `Workspace::open`). A live process's
//! temp files are never touched. Experiments' objects (`.pipe/exps.lock` and every
//! experiment record) are kept until `pipe exp remove` / `pipe exp gc` drops them.

use std::collections::HashSet;

use pipe_cache::Digest;

use crate::error::Result;
use crate::lock::{HashInfo, format};
use crate::report::printer::{self, Tone, bytes};
use crate::run::runcache::RunRecord;

use super::Session;

#[derive(Debug, Default)]
pub struct GcReport {
    pub objects: usize,
    pub bytes: u64,
    pub records: usize,
    /// Leftovers of dead processes and quarantined objects.
    pub leftovers: u64,
}

pub fn gc(s: &Session, dry: bool, workspace_only: bool) -> Result<GcReport> {
    s.fold_lock()?;
    let store = &s.ws.store;
    let mut keep: HashSet<Digest> = HashSet::new();
    let add = |h: &HashInfo, keep: &mut HashSet<Digest>| {
        keep.insert(h.digest);
        if h.dir
            && let Ok(m) = store.read_manifest(&h.digest)
        {
            keep.extend(m.entries().iter().map(|e| e.digest));
        }
    };
    let mut locks = workspace_locks(s)?;
    // Experiments' objects stay until the experiment is removed.
    locks.extend(super::exp::entries_to_keep(s)?);
    for lock in locks {
        for e in lock.values() {
            for h in e.outs.values().chain(e.deps.values()) {
                add(h, &mut keep);
            }
        }
    }
    let mut drop_records = Vec::new();
    for key in store.list_records()? {
        let rec = store.get_record(&key)?.and_then(|b| RunRecord::decode(&b));
        match rec {
            Some(r) if !workspace_only => {
                for h in r.outs.values() {
                    add(h, &mut keep);
                }
            }
            Some(r) => {
                let all_kept = r.outs.values().all(|h| keep.contains(&h.digest));
                if !all_kept {
                    drop_records.push(key);
                }
            }
            None => drop_records.push(key),
        }
    }
    let mut report = GcReport::default();
    for d in store.list_objects()? {
        if keep.contains(&d) {
            continue;
        }
        report.objects += 1;
        report.bytes += std::fs::metadata(store.object_path(&d))
            .map(|m| m.len())
            .unwrap_or(0);
        if !dry {
            store.remove_object(&d)?;
        }
    }
    report.records = drop_records.len();
    if !dry {
        for k in &drop_records {
            store.remove_record(k)?;
        }
    }
    let mut left = s.ws.swept;
    left += store.clear_quarantine(dry)?;
    report.leftovers = left.entries;
    report.bytes += left.bytes;
    let verb = if dry { "Would remove" } else { "Removed" };
    printer::get().verb(
        verb,
        Tone::Good,
        &format!(
            "{} object(s), {} run-cache record(s) and {} leftover(s) of interrupted runs or corrupt objects: {}; {} object(s) kept",
            report.objects,
            report.records,
            report.leftovers,
            bytes(report.bytes),
            keep.len()
        ),
    );
    Ok(report)
}

fn workspace_locks(s: &Session) -> Result<Vec<crate::lock::Entries>> {
    let mut out = vec![s.ws.lock.read()?];
    let own = s.ws.lock.path().to_path_buf();
    let Ok(dir) = std::fs::read_dir(&s.ws.root) else {
        return Ok(out);
    };
    for e in dir.flatten() {
        let p = e.path();
        if p == own || p.extension().is_none_or(|x| x != "lock") {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&p)
            && let Ok(entries) = format::parse(&text)
        {
            out.push(entries);
        }
    }
    Ok(out)
}
