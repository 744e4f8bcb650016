//! `pipe push [TARGETS] [-r REMOTE] [-j N]`: send the cache objects the lock refers to, and
//! the stages' run-cache records, to a remote.
//!
//! 1. For the targets' lock entries: every out's object (a directory: its manifest and every
//!    file it lists) that the local cache holds, and each stage's run-cache record.
//! 2. Ask the remote which of those it has: one listing per fan-out prefix touched, many
//!    in flight (see `Remote::existing`).
//! 3. Upload the rest, `jobs` at a time: files, then manifests, then records, so a record
//!    or manifest on the remote never names something that is not there yet.
//!
//! Nothing is sent twice: an interrupted push leaves whole objects only, and the next one
//! sends what is still missing.
//!
//! Steps 1 to 3 for objects are `Outbound`, which `exp push` uses too (it sends an
//! experiment's outs, then its record, the same way).

use std::collections::HashSet;

use bytes::Bytes;
use pipe_cache::remote::transfer::{self, Source, Upload};
use pipe_cache::remote::{Kind, Remote, RemoteError};
use pipe_cache::{Digest, Store};
use rayon::prelude::*;

use crate::error::Result;
use crate::report::printer::{Printer, Tone, bytes};
use crate::sharing::{self, LockedOut};

use super::Session;

#[derive(Debug, Default)]
pub struct PushReport {
    pub sent: usize,
    pub bytes: u64,
    /// Objects the remote already had.
    pub present: usize,
    pub records_sent: usize,
    /// Outs whose content is not in the local cache (not pushed).
    pub not_local: Vec<String>,
}

pub fn push(
    p: &Printer,
    s: &Session,
    targets: &[String],
    remote: Option<&str>,
    jobs: Option<usize>,
) -> Result<PushReport> {
    s.fold_lock()?;
    let lock = s.ws.lock.read()?;
    let order = s.select_all(targets)?;
    let stages: Vec<&crate::graph::Stage> = order.iter().map(|&i| &s.graph[i]).collect();
    let outs = sharing::locked_outs(&stages, &lock);
    let remote = sharing::open(&s.ws, remote, jobs)?;
    let store = &s.ws.store;
    let mut report = PushReport::default();

    // 1. What the lock refers to and the local cache holds.
    let mut objects = Outbound::default();
    for LockedOut {
        path, hash, cached, ..
    } in &outs
    {
        match objects.add(store, &hash.digest, hash.is_dir())? {
            Local::Whole => {}
            // An uncached out of a stage that cannot be restored is never stored.
            Local::Absent if !*cached => {}
            Local::Absent | Local::Partly => report.not_local.push(path.clone()),
        }
    }
    // Each entry's record, under the key its run carried into the lock (never one rebuilt
    // from today's params and environment: that would name another run, or none).
    let mut records: Vec<(Digest, Bytes)> = Vec::new();
    let mut unkeyed = Vec::new();
    for st in &stages {
        let Some(e) = lock.get(st.id.as_str()) else {
            continue;
        };
        if !st.restorable() {
            continue;
        }
        let Some(key) = e.key else {
            if e.changed_during_run.is_empty() {
                unkeyed.push(st.id.to_string());
            }
            continue;
        };
        if let Some(b) = store.get_record(&key)? {
            records.push((key, Bytes::from(b)));
        }
    }
    for path in &report.not_local {
        p.warn(&format!(
            "{path}: not (wholly) in the local cache, not pushed (run `pipe pull` or `pipe repro` first)"
        ));
    }
    if !unkeyed.is_empty() {
        p.warn(&format!(
            "no run-cache record is pushed for stage(s) {}: the lock names none (an entry \
             written before pipe kept the run-cache key in the lock, or moved back by `exp \
             apply`); `pipe repro --force STAGE` records one",
            unkeyed.join(", ")
        ));
    }

    let rt = Session::runtime()?;
    rt.block_on(async {
        // 2 and 3: objects (files, then manifests), then records.
        let sent = objects.send(&remote, store, Some((p, "Pushing"))).await?;
        report.present = sent.present;
        report.sent = sent.objects;
        report.bytes = sent.bytes;
        let record_keys: Vec<Digest> = records.iter().map(|(k, _)| *k).collect();
        let have_records = remote.existing(Kind::Record, &record_keys).await?;
        let todo_records = lacking(Kind::Record, &records, &have_records);
        let (r, _) = transfer::upload(&remote, todo_records, &transfer::quiet()).await?;
        report.records_sent = r;
        Ok::<_, RemoteError>(())
    })
    .map_err(sharing::error)?;
    p.verb(
        "Pushed",
        Tone::Good,
        &format!(
            "{} object(s), {} to `{}`; {} already there; {} run-cache record(s)",
            report.sent,
            bytes(report.bytes),
            remote.name(),
            report.present,
            report.records_sent
        ),
    );
    Ok(report)
}

/// How much of an out's object the local cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// The object, and for a directory every file it lists.
    Whole,
    /// Not the object.
    Absent,
    /// A directory's manifest but not every file it lists: the files it has go up, the
    /// manifest does not (a manifest on a remote never names a file that is not there).
    Partly,
}

/// The cache objects of a set of outs, gathered for an upload: each file's object, and
/// each directory's files and then its manifest. An object shared by several outs is
/// gathered (and sent) once.
#[derive(Debug, Default)]
pub struct Outbound {
    files: Vec<Digest>,
    manifests: Vec<(Digest, Bytes)>,
    seen: HashSet<Digest>,
}

/// What `Outbound::send` did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    /// Objects the remote already had.
    pub present: usize,
    pub objects: usize,
    pub bytes: u64,
}

impl Outbound {
    /// Gathers the object `digest` of an out (`dir`: a directory's manifest) from `store`,
    /// as much of it as the local cache holds.
    pub fn add(&mut self, store: &Store, digest: &Digest, dir: bool) -> Result<Local> {
        if !store.has(digest) {
            return Ok(Local::Absent);
        }
        if !self.seen.insert(*digest) {
            return Ok(Local::Whole);
        }
        if !dir {
            self.files.push(*digest);
            return Ok(Local::Whole);
        }
        let m = store.read_manifest(digest)?;
        let mut whole = true;
        for e in m.entries() {
            if !store.has(&e.digest) {
                whole = false;
            } else if self.seen.insert(e.digest) {
                self.files.push(e.digest);
            }
        }
        if !whole {
            return Ok(Local::Partly);
        }
        self.manifests.push((*digest, Bytes::from(m.encode())));
        Ok(Local::Whole)
    }

    /// Asks the remote which objects it has (one listing per fan-out prefix touched) and
    /// uploads the rest: every file, then the manifests. `bar`: the printer and verb of a
    /// progress bar on a terminal (none: quiet).
    pub async fn send(
        &self,
        remote: &Remote,
        store: &Store,
        bar: Option<(&Printer, &str)>,
    ) -> std::result::Result<Sent, RemoteError> {
        let mut all: Vec<Digest> = self.files.clone();
        all.extend(self.manifests.iter().map(|(d, _)| *d));
        let have = remote.existing(Kind::Object, &all).await?;
        let present = all.iter().filter(|d| have.contains(d)).count();
        let todo_files: Vec<Upload> = self
            .files
            .par_iter()
            .filter(|d| !have.contains(d))
            .map(|d| {
                let path = store.object_path(d);
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                Upload {
                    kind: Kind::Object,
                    digest: *d,
                    source: Source::File(path, size),
                }
            })
            .collect();
        let todo_manifests = lacking(Kind::Object, &self.manifests, &have);
        let (progress, shown) = match bar {
            Some((p, verb)) => {
                let total: u64 = todo_files
                    .iter()
                    .map(|u| match &u.source {
                        Source::File(_, n) => *n,
                        Source::Bytes(b) => b.len() as u64,
                    })
                    .sum();
                crate::report::transfer::progress(
                    p,
                    total,
                    todo_files.len() + todo_manifests.len(),
                    verb,
                )
            }
            None => (transfer::quiet(), None),
        };
        let sent = async {
            let (n, b) = transfer::upload(remote, todo_files, &progress).await?;
            let (m, mb) = transfer::upload(remote, todo_manifests, &progress).await?;
            Ok(Sent {
                present,
                objects: n + m,
                bytes: b + mb,
            })
        }
        .await;
        if let Some(b) = shown {
            b.finish_and_clear();
        }
        sent
    }
}

/// Uploads of the in-memory `items` (manifests, records) the remote does not `have`.
fn lacking(kind: Kind, items: &[(Digest, Bytes)], have: &HashSet<Digest>) -> Vec<Upload> {
    items
        .iter()
        .filter(|(d, _)| !have.contains(d))
        .map(|(d, b)| Upload {
            kind,
            digest: *d,
            source: Source::Bytes(b.clone()),
        })
        .collect()
}
