//! Moving many objects: `jobs` transfers in flight on tokio, each retried by the remote's
//! policy, progress reported as bytes and objects.
//!
//! Upload: the caller passes what the remote lacks (see `Remote::existing`). To a
//! directory remote each object is copied to the remote's `tmp/` on the blocking pool and
//! the copies are made durable and renamed into place in groups (`GROUP_FILES` /
//! `GROUP_BYTES`; see `DirRemote::commit`); to an object store each is one atomic PUT or
//! multipart upload. A failure stops new transfers, places what was already whole, and is
//! returned: a second push sends only the rest.
//!
//! Download: each object is written to a temp file under the store's `tmp/`, hashed as it
//! arrives, and compared with its name. A mismatch removes the temp file and is reported
//! (naming the object and the remote); nothing corrupt enters the cache. Verified temps are
//! placed in groups by `Store::place_durably` (each temp's data flushed, renamed, the
//! directories flushed), so an object in the cache is always whole, as when a run stores it.
//! Given the size the lock or a manifest records ([`download_sized`]), an object of another
//! size is refused before or while it is read: a remote cannot fill the disk with a file
//! that only claims a name. Missing, corrupt and refused objects do not stop the others; an
//! error that will hit every transfer (unreachable, refused credentials, no bucket, a full
//! disk, pipe stopping) does. When pipe stops (see [`super::stop`]), a transfer stuck in a
//! read is abandoned at once and its temp file removed.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use super::error::RemoteError;
use super::layout::Kind;
use super::{Backend, Remote};
use crate::store::Store;
use crate::{Digest, fsutil};

/// Progress callback: (bytes, objects) done since the last call.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// No progress reporting.
pub fn quiet() -> Progress {
    Arc::new(|_, _| {})
}

const GROUP_FILES: usize = 4096;
/// A directory remote's temp files older than this are a killed upload's leftovers.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
const GROUP_BYTES: u64 = 1 << 30;

/// Something to upload.
#[derive(Debug, Clone)]
pub struct Upload {
    pub kind: Kind,
    pub digest: Digest,
    pub source: Source,
}

#[derive(Debug, Clone)]
pub enum Source {
    /// A file (a cache object) and its size.
    File(PathBuf, u64),
    /// Small bytes (a run-cache record).
    Bytes(Bytes),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::File(_, n) => *n,
            Source::Bytes(b) => b.len() as u64,
        }
    }
}

/// Uploads `items`, `remote.jobs()` at a time. Returns the objects and bytes sent.
pub async fn upload(
    remote: &Remote,
    items: Vec<Upload>,
    progress: &Progress,
) -> Result<(usize, u64), RemoteError> {
    match remote.backend() {
        Backend::Dir(d) => upload_dir(remote, d, items, progress).await,
        Backend::Cloud(c) => {
            let mut sent = (0usize, 0u64);
            let mut results = futures::stream::iter(items)
                .map(|it| async move {
                    let n = it.source.len();
                    remote
                        .retry()
                        .run(|| async {
                            match &it.source {
                                Source::File(p, size) => {
                                    let pg = progress.clone();
                                    c.upload_file(&it.digest, p.clone(), *size, &move |b| pg(b, 0))
                                        .await
                                }
                                Source::Bytes(b) => {
                                    c.put_bytes(it.kind, &it.digest, b.clone()).await?;
                                    progress(b.len() as u64, 0);
                                    Ok(())
                                }
                            }
                        })
                        .await?;
                    progress(0, 1);
                    Ok::<u64, RemoteError>(n)
                })
                .buffer_unordered(remote.jobs());
            while let Some(r) = results.next().await {
                let n = r?;
                sent.0 += 1;
                sent.1 += n;
            }
            Ok(sent)
        }
    }
}

async fn upload_dir(
    remote: &Remote,
    d: &super::dir::DirRemote,
    items: Vec<Upload>,
    progress: &Progress,
) -> Result<(usize, u64), RemoteError> {
    if items.is_empty() {
        return Ok((0, 0));
    }
    let sweeper = d.clone();
    let _ = tokio::task::spawn_blocking(move || sweeper.remove_stale_temps(STALE_TEMP)).await;
    let mut staged: Vec<(PathBuf, Kind, Digest)> = Vec::new();
    let mut staged_bytes = 0u64;
    let mut sent = (0usize, 0u64);
    let mut failure = None;
    {
        let mut results = futures::stream::iter(items)
            .map(|it| {
                let d = d.clone();
                let progress = progress.clone();
                async move {
                    let n = it.source.len();
                    let tmp = remote
                        .retry()
                        .run(|| {
                            let (d, src) = (d.clone(), it.source.clone());
                            async move {
                                tokio::task::spawn_blocking(move || match &src {
                                    Source::File(p, _) => d.stage_file(p),
                                    Source::Bytes(b) => d.stage_bytes(b),
                                })
                                .await
                                .map_err(|e| remote.internal(e))?
                            }
                        })
                        .await?;
                    progress(n, 1);
                    Ok::<_, RemoteError>((tmp, it.kind, it.digest, n))
                }
            })
            .buffer_unordered(remote.jobs());
        while let Some(r) = results.next().await {
            match r {
                Ok((tmp, kind, digest, n)) => {
                    staged.push((tmp, kind, digest));
                    staged_bytes += n;
                    sent.0 += 1;
                    sent.1 += n;
                    if staged.len() >= GROUP_FILES || staged_bytes >= GROUP_BYTES {
                        commit_dir(remote, d, std::mem::take(&mut staged)).await?;
                        staged_bytes = 0;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
    }
    // Whatever is whole is placed even after a failure: the next push resumes from there.
    let committed = commit_dir(remote, d, staged).await;
    if let Some(e) = failure {
        return Err(e);
    }
    committed.map(|()| sent)
}

async fn commit_dir(
    remote: &Remote,
    d: &super::dir::DirRemote,
    staged: Vec<(PathBuf, Kind, Digest)>,
) -> Result<(), RemoteError> {
    let d = d.clone();
    tokio::task::spawn_blocking(move || d.commit(&staged))
        .await
        .map_err(|e| remote.internal(e))?
}

/// What a download did.
#[derive(Debug, Default)]
pub struct Fetched {
    pub objects: usize,
    pub bytes: u64,
    /// Not on the remote.
    pub missing: Vec<Digest>,
    /// On the remote, but not what their names say (or not objects at all:
    /// `RemoteError::Refused`); not stored.
    pub corrupt: Vec<RemoteError>,
}

/// Downloads `digests` into `store`, verified, `remote.jobs()` at a time.
pub async fn download(
    remote: &Remote,
    store: &Store,
    digests: Vec<Digest>,
    progress: &Progress,
) -> Result<Fetched, RemoteError> {
    let wanted = digests
        .into_iter()
        .map(|d| (d, Check::Size(None)))
        .collect();
    download_checked(remote, store, wanted, progress).await
}

/// [`download`], each object with the size it must have when known (from the lock or a
/// manifest): one of another size is refused, never read past that size.
pub async fn download_sized(
    remote: &Remote,
    store: &Store,
    wanted: Vec<(Digest, Option<u64>)>,
    progress: &Progress,
) -> Result<Fetched, RemoteError> {
    let wanted = wanted
        .into_iter()
        .map(|(d, n)| (d, Check::Size(n)))
        .collect();
    download_checked(remote, store, wanted, progress).await
}

/// [`download`] of directory manifests: one that `Manifest::decode` refuses (a path that
/// leaves its directory, a `.git` component, a control character...) is refused like a
/// corrupt object and never enters the cache.
pub async fn download_manifests(
    remote: &Remote,
    store: &Store,
    digests: Vec<Digest>,
    progress: &Progress,
) -> Result<Fetched, RemoteError> {
    let wanted = digests.into_iter().map(|d| (d, Check::Manifest)).collect();
    download_checked(remote, store, wanted, progress).await
}

/// What a download checks beyond the digest.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// The size it must have, when known.
    Size(Option<u64>),
    /// A directory manifest: it must decode.
    Manifest,
}

async fn download_checked(
    remote: &Remote,
    store: &Store,
    wanted: Vec<(Digest, Check)>,
    progress: &Progress,
) -> Result<Fetched, RemoteError> {
    let mut out = Fetched::default();
    if wanted.is_empty() {
        return Ok(out);
    }
    let tmp_dir = store.tmp_dir();
    std::fs::create_dir_all(&tmp_dir)
        .map_err(|e| RemoteError::Local(crate::Error::io("create directory", &tmp_dir, e)))?;
    let store = Arc::new(Store::open(store.root(), store.options().clone()));
    let mut staged: Vec<(PathBuf, Digest)> = Vec::new();
    let mut staged_bytes = 0u64;
    let mut failure = None;
    {
        let mut results = futures::stream::iter(wanted)
            .map(|(dg, check)| {
                let tmp_dir = tmp_dir.clone();
                let progress = progress.clone();
                async move {
                    let r = remote
                        .retry()
                        .run(|| fetch_one(remote, dg, check, &tmp_dir, &progress))
                        .await;
                    (dg, r)
                }
            })
            .buffer_unordered(remote.jobs());
        while let Some((dg, r)) = results.next().await {
            match r {
                Ok((tmp, n)) => {
                    progress(0, 1);
                    staged.push((tmp, dg));
                    staged_bytes += n;
                    out.objects += 1;
                    out.bytes += n;
                    if staged.len() >= GROUP_FILES || staged_bytes >= GROUP_BYTES {
                        place(remote, &store, std::mem::take(&mut staged)).await?;
                        staged_bytes = 0;
                    }
                }
                Err(RemoteError::Missing { .. }) => out.missing.push(dg),
                Err(e @ (RemoteError::Corrupt { .. } | RemoteError::Refused { .. })) => {
                    out.corrupt.push(e)
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
    }
    let placed = place(remote, &store, staged).await;
    if let Some(e) = failure {
        return Err(e);
    }
    placed.map(|()| out)
}

/// One object to a temp file verified as `check` says: (its path, its size). Abandoned
/// when pipe stops; the temp file is removed on any failure.
async fn fetch_one(
    remote: &Remote,
    dg: Digest,
    check: Check,
    tmp_dir: &std::path::Path,
    progress: &Progress,
) -> Result<(PathBuf, u64), RemoteError> {
    let size = match check {
        Check::Size(n) => n,
        Check::Manifest => None,
    };
    let tmp = fsutil::unique_path(tmp_dir, &dg.short());
    let got = super::stop::unless_stopped(remote.name(), async {
        match remote.backend() {
            Backend::Dir(d) => {
                let (d, t, pg) = (d.clone(), tmp.clone(), progress.clone());
                tokio::task::spawn_blocking(move || d.download_to(&dg, &t, size, &|b| pg(b, 0)))
                    .await
                    .map_err(|e| remote.internal(e))?
            }
            Backend::Cloud(c) => {
                let pg = progress.clone();
                c.download(&dg, Some(&tmp), size, &move |b| pg(b, 0)).await
            }
        }
    })
    .await;
    let got = match got {
        Ok((actual, n)) if actual == dg && matches!(check, Check::Manifest) => {
            let t = tmp.clone();
            let (name, at) = (
                remote.name().to_string(),
                remote.locate(super::Kind::Object, &dg),
            );
            tokio::task::spawn_blocking(move || valid_manifest(&name, &at, &dg, &t, n))
                .await
                .map_err(|e| remote.internal(e))
                .and_then(|r| r)
                .map(|()| (actual, n))
        }
        other => other,
    };
    match got {
        Ok((actual, n)) if actual == dg => Ok((tmp, n)),
        Ok((actual, _)) => {
            let _ = std::fs::remove_file(&tmp);
            Err(RemoteError::Corrupt {
                remote: remote.name().to_string(),
                digest: dg,
                actual,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Checks that manifest `d`, downloaded from `at` on remote `remote` to `tmp` (`n`
/// bytes), decodes: the one validation every reader of a manifest gets.
fn valid_manifest(
    remote: &str,
    at: &str,
    d: &Digest,
    tmp: &std::path::Path,
    n: u64,
) -> Result<(), RemoteError> {
    let refused = |why: String| RemoteError::Refused {
        remote: remote.to_string(),
        what: "manifest",
        digest: *d,
        at: at.to_string(),
        why,
    };
    let max = super::dir::READ_WHOLE_MAX;
    if n > max {
        return Err(refused(format!(
            "is {n} bytes, more than pipe reads whole ({max})"
        )));
    }
    let bytes =
        std::fs::read(tmp).map_err(|e| RemoteError::Local(crate::Error::io("read", tmp, e)))?;
    crate::Manifest::decode(&bytes)
        .map(|_| ())
        .map_err(|e| refused(format!("lists what pipe cannot check out: {e}")))
}

/// Places verified temps in the store, durably (`Store::place_durably`), on the blocking
/// pool: the flushes never run on the runtime's threads.
async fn place(
    remote: &Remote,
    store: &Arc<Store>,
    staged: Vec<(PathBuf, Digest)>,
) -> Result<(), RemoteError> {
    if staged.is_empty() {
        return Ok(());
    }
    let store = store.clone();
    tokio::task::spawn_blocking(move || -> Result<(), RemoteError> {
        let r = staged
            .iter()
            .try_for_each(|(tmp, _)| fsutil::make_read_only(tmp))
            .and_then(|()| store.place_durably(&staged));
        if r.is_err() {
            for (tmp, _) in &staged {
                let _ = std::fs::remove_file(tmp);
            }
        }
        Ok(r?)
    })
    .await
    .map_err(|e| remote.internal(e))?
}
