//! `pipe gc`: delete cache objects nothing refers to.
//!
//! Kept: everything a lock file in the workspace refers to (every `*.lock` beside the
//! pipeline that is a pipe lock, so two pipelines sharing a cache keep each other's
//! objects) and, unless `--workspace`, everything a run-cache record refers to (so reverting
//! a param still restores instead of rerunning). With `--workspace`, run-cache records
//! whose outs are not all kept go too, except a record a lock entry names (by the key its
//! run carried into the lock, `LockEntry::key`): that one and its objects always stay.
//!
//! The same for every other workspace that uses the cache (registered in it, see
//! `workspace::roots`): its registered locks with their journals, its experiments' lock
//! and records, read where it lies and never written. An entry whose workspace is gone is
//! dropped (said in the output); a workspace that cannot be read (permissions, a lock that
//! does not parse) makes gc refuse, naming it, before anything is deleted. The output says
//! how many workspaces were considered.
//!
//! Freed as well, and counted: quarantined (corrupt) objects, and what killed processes
//! left (swept when the workspace was opened, see `Workspace::open`). A live process's
//! temp files are never touched. Experiments' objects (`.pipe/exps.lock` and every
//! experiment record) are kept until `pipe exp remove` / `pipe exp gc` drops them.
//!
//! Never under another process's feet: a run stores its outs' objects before it records
//! them (run-cache record, then lock entry), so an object a live process just wrote may be
//! referenced by nothing yet, or may be about to reuse an object nothing refers to. gc
//! closes the cache's gate (processes that have not opened the cache yet wait until gc is
//! done) and refuses while another pipe process uses the cache (every pipe process holds a
//! lease in the cache's `tmp/`, see `pipe_cache::lease`), before it reads what is
//! referenced. It also spares every object whose inode changed since it started (created,
//! renamed or linked in), which a process outside the gate's reach would have written.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;

use pipe_cache::{Digest, Summary};

use crate::error::{Error, Result};
use crate::lock::LockStore;
use crate::lock::format;
use crate::report::printer::{self, Tone, bytes};
use crate::run::runcache::RunRecord;
use crate::workspace::{DOT, roots};

use super::Session;

#[derive(Debug, Default)]
pub struct GcReport {
    pub objects: usize,
    pub bytes: u64,
    pub records: usize,
    /// Leftovers of dead processes and quarantined objects.
    pub leftovers: u64,
    /// The workspaces whose references were kept: this one and every other registered in
    /// the cache that is still there.
    pub workspaces: usize,
}

pub fn gc(s: &Session, dry: bool, workspace_only: bool) -> Result<GcReport> {
    let store = &s.ws.store;
    // In this order: what is written after `started` is spared; what was written before
    // by a process still alive now is refused; what a process that is gone now wrote, it
    // recorded before it ended, so the lock and records read below refer to it.
    let started = filesystem_now(store)?;
    // Processes that come now wait for gc at the gate; the ones before it are listed.
    let _gate = if dry { None } else { Some(store.close_gate()?) };
    let users = store.users()?;
    if !users.is_empty() && !dry {
        let pids: Vec<String> = users.iter().map(u32::to_string).collect();
        return Err(Error::Env(format!(
            "the cache {} is in use by pipe process(es) {}: what they are storing may not be \
             recorded yet, so gc could delete it; run `pipe gc` when they are done \
             (`pipe gc --dry` shows what it would remove)",
            store.root().display(),
            pids.join(", ")
        )));
    }
    s.fold_lock()?;
    let mut keep: HashSet<Digest> = HashSet::new();
    let add = |h: &Summary, keep: &mut HashSet<Digest>| {
        keep.insert(h.digest);
        if h.is_dir()
            && let Ok(m) = store.read_manifest(&h.digest)
        {
            keep.extend(m.entries().iter().map(|e| e.digest));
        }
    };
    let mut locks = workspace_locks(s)?;
    // Experiments' objects stay until the experiment is removed.
    locks.extend(super::exp::entries_to_keep(s)?);
    // Every other workspace that uses this cache, all read before anything is deleted.
    let survey = roots::survey(store.root(), &s.ws.id)?;
    for w in &survey.live {
        locks.extend(other_workspace_locks(w, store.root())?);
    }
    // The records lock entries name, by the key their runs carried.
    let mut named: HashSet<Digest> = HashSet::new();
    for lock in locks {
        for e in lock.values() {
            for h in e.outs.values().chain(e.deps.values()) {
                add(h, &mut keep);
            }
            named.extend(e.key);
        }
    }
    let mut drop_records = Vec::new();
    for key in store.list_records()? {
        let rec = store.get_record(&key)?.and_then(|b| RunRecord::decode(&b));
        match rec {
            Some(r) if !workspace_only || named.contains(&key) => {
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
        let path = store.object_path(&d);
        if changed_since(&path, started) {
            tracing::debug!("gc spares {d}: written since gc started");
            continue;
        }
        report.objects += 1;
        report.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if !dry {
            store.remove_object(&d)?;
        }
    }
    report.records = drop_records.len();
    report.workspaces = 1 + survey.live.len();
    if !dry {
        for k in &drop_records {
            store.remove_record(k)?;
        }
    }
    for g in &survey.gone {
        printer::get().verb(
            if dry { "Would forget" } else { "Forgot" },
            Tone::Good,
            &format!(
                "workspace {} ({}): its objects are no longer kept",
                g.path.display(),
                g.why
            ),
        );
        if !dry {
            pipe_cache::fsutil::remove_path(&g.file)?;
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
            "{} object(s), {} run-cache record(s) and {} leftover(s) of interrupted runs or corrupt objects: {}; {} object(s) kept for {} workspace(s)",
            report.objects,
            report.records,
            report.leftovers,
            bytes(report.bytes),
            keep.len(),
            report.workspaces
        ),
    );
    Ok(report)
}

/// The cache filesystem's clock now (a shared cache's server may disagree with this
/// machine's): the change time of a file created in the cache's `tmp/`.
fn filesystem_now(store: &pipe_cache::Store) -> Result<(i64, i64)> {
    let probe = store
        .tmp_dir()
        .join(format!(".pipe-tmp-{}-gc", std::process::id()));
    let made = std::fs::write(&probe, b"").and_then(|()| std::fs::symlink_metadata(&probe));
    let _ = std::fs::remove_file(&probe);
    let m = made.map_err(|e| Error::Env(format!("cannot write {}: {e}", probe.display())))?;
    Ok((m.ctime(), m.ctime_nsec()))
}

/// Whether `path`'s inode changed (was created, renamed or linked) at or after `t` (a
/// change time of the same filesystem).
fn changed_since(path: &std::path::Path, t: (i64, i64)) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| (m.ctime(), m.ctime_nsec()) >= t)
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

/// What another workspace that uses the cache refers to: its registered locks (each with
/// its journal replayed, as `LockStore::read` does), its experiments' lock and records.
/// Read only; an error names the workspace (see `roots`).
fn other_workspace_locks(
    w: &roots::Live,
    cache: &std::path::Path,
) -> Result<Vec<crate::lock::Entries>> {
    let dot = w.root.path.join(DOT);
    let journal = dot.join("journal");
    let unreadable = |why: String| {
        Error::Env(format!(
            "cannot read the workspace {} (registered in {} as one that uses this cache): \
             {why}; gc would delete what it needs: make it readable to this user, or, if it \
             is no longer used, remove {}",
            w.root.path.display(),
            cache.join(roots::DIR).display(),
            cache.join(roots::DIR).join(&w.id).display()
        ))
    };
    let mut out = Vec::new();
    for name in &w.root.locks {
        let entries = LockStore::new(&w.root.path.join(name), &journal)
            .read()
            .map_err(|e| unreadable(e.to_string()))?;
        out.push(entries);
    }
    out.extend(super::exp::entries_to_keep_in(&dot, true).map_err(|e| unreadable(e.to_string()))?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Session;

    /// Stores `bytes` as an object (referenced by nothing): its path.
    fn store(s: &Session, bytes: &[u8]) -> std::path::PathBuf {
        let d = Digest::of_bytes(bytes);
        let mut b = s.ws.store.batch();
        b.add_bytes(bytes.to_vec(), d);
        b.commit().unwrap();
        s.ws.store.object_path(&d)
    }

    #[test]
    fn an_object_written_after_gc_started_is_spared_and_one_before_is_not() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("pipe.toml"), "[stage.a]\ncmd = \"true\"\n").unwrap();
        let s = Session::open(&d.path().join("pipe.toml")).unwrap();
        let before = store(&s, b"before\n");
        // Past the filesystem clock's granularity (a tick of the kernel's coarse clock).
        std::thread::sleep(std::time::Duration::from_millis(50));
        let started = filesystem_now(&s.ws.store).unwrap();
        let after = store(&s, b"after\n");
        assert!(!changed_since(&before, started));
        assert!(changed_since(&after, started));
        assert!(
            !s.ws
                .store
                .tmp_dir()
                .join(format!(".pipe-tmp-{}-gc", std::process::id()))
                .exists(),
            "the probe is removed"
        );
    }
}
