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

use std::collections::HashSet;

use bytes::Bytes;
use pipe_cache::Digest;
use pipe_cache::remote::Kind;
use pipe_cache::remote::transfer::{self, Source, Upload};
use rayon::prelude::*;

use crate::error::Result;
use crate::remote::{self as glue, LockedOut};
use crate::report::printer::{self, Tone, bytes};

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
    s: &Session,
    targets: &[String],
    remote: Option<&str>,
    jobs: Option<usize>,
) -> Result<PushReport> {
    s.fold_lock()?;
    let lock = s.ws.lock.read()?;
    let order = s.select_all(targets)?;
    let stages: Vec<&crate::graph::Stage> = order.iter().map(|&i| &s.graph.stages[i]).collect();
    let outs = glue::locked_outs(&stages, &lock);
    let remote = glue::open(&s.ws, remote, jobs)?;
    let store = &s.ws.store;
    let p = printer::get();
    let mut report = PushReport::default();

    // 1. What the lock refers to and the local cache holds.
    let mut files: Vec<Digest> = Vec::new();
    let mut manifests: Vec<(Digest, Bytes)> = Vec::new();
    let mut seen = HashSet::new();
    for LockedOut {
        path, hash, cached, ..
    } in &outs
    {
        if !store.has(&hash.digest) {
            // An uncached out of a stage that cannot be restored is never stored.
            if *cached {
                report.not_local.push(path.clone());
            }
            continue;
        }
        if !seen.insert(hash.digest) {
            continue;
        }
        if hash.dir {
            let m = store.read_manifest(&hash.digest)?;
            let mut all = true;
            for e in m.entries() {
                if !store.has(&e.digest) {
                    all = false;
                } else if seen.insert(e.digest) {
                    files.push(e.digest);
                }
            }
            if all {
                manifests.push((hash.digest, Bytes::from(m.encode())));
            } else {
                // A manifest goes up only with every file it lists.
                report.not_local.push(path.clone());
            }
        } else {
            files.push(hash.digest);
        }
    }
    let mut records: Vec<(Digest, Bytes)> = Vec::new();
    for st in &stages {
        let Some(e) = lock.get(st.id.as_str()) else {
            continue;
        };
        if !st.restorable() {
            continue;
        }
        let key = glue::record_key(st, &e.deps);
        if let Some(b) = store.get_record(&key)? {
            records.push((key, Bytes::from(b)));
        }
    }
    for path in &report.not_local {
        p.warn(&format!(
            "{path}: not (wholly) in the local cache, not pushed (run `pipe pull` or `pipe repro` first)"
        ));
    }

    let rt = Session::runtime()?;
    let result: Result<()> = rt.block_on(async {
        // 2. What the remote has.
        let mut all_objects: Vec<Digest> = files.clone();
        all_objects.extend(manifests.iter().map(|(d, _)| *d));
        let have = remote
            .existing(Kind::Object, &all_objects)
            .await
            .map_err(glue::error)?;
        let record_keys: Vec<Digest> = records.iter().map(|(k, _)| *k).collect();
        let have_records = remote
            .existing(Kind::Record, &record_keys)
            .await
            .map_err(glue::error)?;
        report.present = all_objects.iter().filter(|d| have.contains(d)).count();

        // 3. Files, then manifests, then records.
        let todo_files: Vec<Upload> = files
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
        let todo_manifests: Vec<Upload> = manifests
            .iter()
            .filter(|(d, _)| !have.contains(d))
            .map(|(d, b)| Upload {
                kind: Kind::Object,
                digest: *d,
                source: Source::Bytes(b.clone()),
            })
            .collect();
        let todo_records: Vec<Upload> = records
            .iter()
            .filter(|(k, _)| !have_records.contains(k))
            .map(|(k, b)| Upload {
                kind: Kind::Record,
                digest: *k,
                source: Source::Bytes(b.clone()),
            })
            .collect();
        let total: u64 = todo_files
            .iter()
            .map(|u| match &u.source {
                Source::File(_, n) => *n,
                Source::Bytes(b) => b.len() as u64,
            })
            .sum();
        let n_objects = todo_files.len() + todo_manifests.len();
        let (progress, bar) = crate::report::transfer::progress(total, n_objects, "Pushing");
        let sent = async {
            let (n, b) = transfer::upload(&remote, todo_files, &progress).await?;
            let (m, mb) = transfer::upload(&remote, todo_manifests, &progress).await?;
            report.sent = n + m;
            report.bytes = b + mb;
            let (r, _) = transfer::upload(&remote, todo_records, &transfer::quiet()).await?;
            report.records_sent = r;
            Ok(())
        }
        .await
        .map_err(glue::error);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        sent
    });
    result?;
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
