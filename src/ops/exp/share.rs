//! Sharing experiments through the configured remote: `exp push NAME` sends the objects
//! of its outs (files, then manifests), the run-cache records its stages' entries name
//! (by the key each run carried, `LockEntry::key`), and then its record under `exps/`
//! (keyed by the blake3 of its name), so whoever sees the record finds what it names;
//! `exp pull NAME` fetches the record, the objects (verified as they arrive) and the
//! run-cache records (kept only when they name exactly the entry's outs), so a teammate
//! can show, diff and apply the experiment without rerunning it, and an `exp run` of the
//! same overrides restores instead of running; `exp show --remote` lists every record
//! there.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use pipe_cache::Digest;
use pipe_cache::remote::Kind;
use pipe_cache::remote::transfer::{self, Source, Upload};

use crate::error::Result;
use crate::exp::ExpName;
use crate::exp::record::{ExpRecord, ExpState};
use crate::ops::error::OpsError;
use crate::ops::push::{Local, Outbound};
use crate::report::printer::{Printer, Tone, bytes};
use crate::sharing;

use super::{Session, records};

fn key_of(name: &ExpName) -> Digest {
    Digest::of_bytes(name.as_str().as_bytes())
}

fn outs_of(r: &ExpRecord) -> Vec<pipe_cache::Summary> {
    r.stages
        .values()
        .flat_map(|e| e.outs.values().cloned())
        .collect()
}

pub fn push(
    p: &Printer,
    s: &Session,
    names: &[ExpName],
    remote: Option<&str>,
    jobs: Option<usize>,
) -> Result<()> {
    let recs = records(s);
    let list: Vec<ExpRecord> = names.iter().map(|n| recs.find(n)).collect::<Result<_>>()?;
    for r in &list {
        if r.shown_state() != ExpState::Done {
            return Err(OpsError::ExpNotDone {
                name: r.name.to_string(),
                state: r.shown_state().label(),
                only: "only a finished experiment is pushed",
            }
            .into());
        }
    }
    let remote = sharing::open(&s.ws, remote, jobs)?;
    let store = &s.ws.store;
    let mut objects = Outbound::default();
    for r in &list {
        for h in outs_of(r) {
            if objects.add(store, &h.digest, h.is_dir())? != Local::Whole {
                return Err(OpsError::ExpNotLocal {
                    name: r.name.to_string(),
                    object: h.digest.short(),
                }
                .into());
            }
        }
    }
    let mut runs: Vec<(Digest, Bytes)> = Vec::new();
    for r in &list {
        for key in r.stages.values().filter_map(|e| e.key) {
            if let Some(b) = store.get_record(&key)? {
                runs.push((key, Bytes::from(b)));
            }
        }
    }
    let mut exps = Vec::with_capacity(list.len());
    for r in &list {
        exps.push(Upload {
            kind: Kind::Exp,
            digest: key_of(&r.name),
            source: Source::Bytes(Bytes::from(r.encode()?)),
        });
    }
    let rt = Session::runtime()?;
    let sent = rt
        .block_on(async {
            let sent = objects.send(&remote, store, None).await?;
            let keys: Vec<Digest> = runs.iter().map(|(k, _)| *k).collect();
            let have = remote.existing(Kind::Record, &keys).await?;
            let todo: Vec<Upload> = runs
                .iter()
                .filter(|(k, _)| !have.contains(k))
                .map(|(k, b)| Upload {
                    kind: Kind::Record,
                    digest: *k,
                    source: Source::Bytes(b.clone()),
                })
                .collect();
            transfer::upload(&remote, todo, &transfer::quiet()).await?;
            transfer::upload(&remote, exps, &transfer::quiet()).await?;
            Ok::<_, pipe_cache::remote::RemoteError>(sent)
        })
        .map_err(sharing::error)?;
    let names: Vec<&str> = list.iter().map(|r| r.name.as_str()).collect();
    p.verb(
        "Pushed",
        Tone::Good,
        &format!(
            "experiment {} to `{}`: {} object(s), {}",
            names.join(", "),
            remote.name(),
            sent.objects,
            bytes(sent.bytes)
        ),
    );
    Ok(())
}

pub fn pull(
    p: &Printer,
    s: &Session,
    names: &[ExpName],
    remote: Option<&str>,
    jobs: Option<usize>,
) -> Result<()> {
    let remote = sharing::open(&s.ws, remote, jobs)?;
    let recs = records(s);
    let rt = Session::runtime()?;
    for name in names {
        let got = rt
            .block_on(remote.get_exp(&key_of(name)))
            .map_err(sharing::error)?;
        let Some(bytes_) = got else {
            return Err(OpsError::NoRemoteExp {
                remote: remote.name().to_string(),
                name: name.to_string(),
            }
            .into());
        };
        let rec = ExpRecord::decode(
            &bytes_,
            &format!("experiment `{name}` on `{}`", remote.name()),
        )?;
        if rec.name != *name {
            return Err(OpsError::WrongExp {
                remote: remote.name().to_string(),
                held: rec.name.to_string(),
                name: name.to_string(),
            }
            .into());
        }
        if let Some(local) = recs.get(name)?
            && local.overrides != rec.overrides
        {
            return Err(OpsError::ExpOtherOverrides {
                name: name.to_string(),
            }
            .into());
        }
        let outs = outs_of(&rec);
        let ws = Arc::clone(&s.ws);
        let f = rt
            .block_on(sharing::fetch_missing(&remote, &ws, &outs, |_, _| {
                transfer::quiet()
            }))
            .map_err(sharing::error)?;
        if let Some(e) = f.corrupt.into_iter().next() {
            return Err(OpsError::ExpCorrupt(e).into());
        }
        if !f.missing.is_empty() {
            return Err(OpsError::ExpIncomplete {
                remote: remote.name().to_string(),
                n: f.missing.len(),
                name: name.to_string(),
                first: f.missing[0].short(),
            }
            .into());
        }
        for e in rec.stages.values() {
            if let Some(key) = e.key {
                pull_run_record(p, &rt, &remote, &s.ws, &key, e);
            }
        }
        recs.save(&rec)?;
        p.verb(
            "Pulled",
            Tone::Good,
            &format!(
                "experiment {name} from `{}`: {} object(s), {}",
                remote.name(),
                f.objects,
                bytes(f.bytes)
            ),
        );
    }
    Ok(())
}

/// Every experiment record on the remote, oldest first.
pub fn remote_records(
    p: &Printer,
    s: &Session,
    remote: Option<&str>,
    jobs: Option<usize>,
) -> Result<(Vec<ExpRecord>, String)> {
    let remote = sharing::open(&s.ws, remote, jobs)?;
    let rt = Session::runtime()?;
    let jobs = remote.jobs();
    let raw: Vec<Option<Vec<u8>>> = rt
        .block_on(async {
            let keys = remote.list_all(Kind::Exp).await?;
            futures::stream::iter(keys)
                .map(|k| {
                    let r = &remote;
                    async move { r.get_exp(&k).await }
                })
                .buffer_unordered(jobs)
                .try_collect()
                .await
        })
        .map_err(sharing::error)?;
    let mut list: Vec<ExpRecord> = Vec::with_capacity(raw.len());
    let mut unreadable = Vec::new();
    for b in raw.into_iter().flatten() {
        match ExpRecord::decode(&b, "a remote experiment record") {
            Ok(r) => list.push(r),
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    if let Some(first) = unreadable.first() {
        p.warn(&format!(
            "{} experiment record(s) on `{}` are unreadable and not shown; the first: {first}",
            unreadable.len(),
            remote.name()
        ));
    }
    list.sort_by(|a, b| a.queued_at.cmp(&b.queued_at).then(a.name.cmp(&b.name)));
    Ok((list, format!("remote {}", remote.name())))
}

/// The run-cache record under `key` from `remote`, kept in the local run cache when it
/// names exactly the outs (and contents) of `entry`, the experiment's entry that carried
/// the key. Best effort: without it the experiment still shows, diffs and applies.
fn pull_run_record(
    p: &Printer,
    rt: &tokio::runtime::Runtime,
    remote: &pipe_cache::remote::Remote,
    ws: &crate::workspace::Workspace,
    key: &Digest,
    entry: &crate::lock::LockEntry,
) {
    if matches!(ws.store.get_record(key), Ok(Some(_))) {
        return;
    }
    let bytes = match rt.block_on(remote.get_record(key)) {
        Ok(Some(b)) => b,
        Ok(None) => return,
        Err(e) => {
            p.warn(&format!("run-cache record {}: {e}", key.short()));
            return;
        }
    };
    match crate::run::runcache::RunRecord::decode(&bytes) {
        Some(r) if r.outs == entry.outs => {
            if let Err(e) = ws.store.put_record(key, &bytes) {
                tracing::debug!("cannot keep the pulled record {key}: {e}");
            }
        }
        _ => p.warn(&format!(
            "run-cache record {} on `{}` does not name the outs its experiment recorded: ignored",
            key.short(),
            remote.name()
        )),
    }
}
