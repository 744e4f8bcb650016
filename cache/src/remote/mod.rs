//! Remotes: where teammates share cache objects and run-cache records.
//!
//! A remote mirrors the local cache's layout (see [`layout`]): `objects/ab/cdef…` and
//! `runs/ab/cdef…`, under a directory ([`dir`]: a shared filesystem) or a bucket and prefix
//! of an object store ([`cloud`]: S3 and S3-compatible servers, GCS, Azure through one
//! crate). Two backends, so an enum and a `match`, not a trait hierarchy.
//!
//! The protocol is Bazel's remote cache in miniature: a content store (objects, verifiable
//! by their names) and an action cache (records: what a run with a given key produced).
//!
//! - *What does the remote have?* ([`Remote::existing`]) lists only the fan-out prefixes
//!   the wanted digests fall in, many listings in flight: no request per object.
//! - *Transfers* ([`transfer`]) run `jobs` at a time on tokio, streaming, each retried by
//!   the one policy in [`retry`]. Downloads are hashed as they arrive and only verified
//!   objects enter the local cache; uploads are atomic on the remote.
//! - *Order*: a push sends file objects, then the manifests that list them, then the
//!   run-cache records that name them, so whoever sees a record finds what it names.
//! - *Untrusted content*: what a remote holds is checked before it is believed: objects
//!   against their names, sizes against what the lock says, a directory remote's files
//!   for being regular files at all ([`dir`]), manifests by `Manifest::decode`.
//! - *Stopping*: every operation returns at once when pipe is told to stop ([`stop`]),
//!   even one blocked in a system call on a hung mount.
//!
//! This module knows nothing about pipelines: the engine decides which digests to move.

pub mod classify;
pub mod cloud;
pub mod creds;
pub mod dir;
pub mod error;
pub mod layout;
pub mod raw;
pub mod retry;
pub mod spec;
pub mod stop;
pub mod transfer;

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt};

use crate::Digest;
pub use error::RemoteError;
pub use layout::Kind;
pub use retry::Retry;
pub use spec::{Credentials, Location, RemoteSpec};

/// Listings by first hex digit, for existence checks of many digests on an object store.
const RANGES: usize = 16;

#[derive(Debug, Clone)]
pub enum Backend {
    Dir(dir::DirRemote),
    Cloud(cloud::CloudRemote),
}

/// An opened remote: its backend, how many transfers it takes at once, its retry policy.
#[derive(Debug, Clone)]
pub struct Remote {
    name: String,
    url: String,
    backend: Backend,
    jobs: usize,
    retry: Retry,
}

impl Remote {
    /// Opens the remote `spec` describes, with `jobs` transfers at once (default: what suits
    /// the backend). A directory remote's directory must exist.
    pub fn open(spec: &RemoteSpec, jobs: Option<usize>) -> Result<Remote, RemoteError> {
        let jobs = jobs.or(spec.jobs).unwrap_or(spec.default_jobs()).max(1);
        let backend = match &spec.location {
            Location::Dir(root) => {
                let d = dir::DirRemote {
                    name: spec.name.clone(),
                    root: root.clone(),
                    shared_group: spec.shared_group,
                };
                d.check_root()?;
                Backend::Dir(d)
            }
            Location::Cloud { .. } => Backend::Cloud(cloud::CloudRemote::open(spec, jobs)?),
        };
        Ok(Remote {
            name: spec.name.clone(),
            url: spec.url.clone(),
            backend,
            jobs,
            retry: Retry::default(),
        })
    }

    pub fn with_retry(mut self, retry: Retry) -> Remote {
        self.retry = retry;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn jobs(&self) -> usize {
        self.jobs
    }

    pub fn retry(&self) -> Retry {
        self.retry
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Where `kind` `d` lives on the remote, for messages: a path, or a key.
    pub fn locate(&self, kind: Kind, d: &Digest) -> String {
        match &self.backend {
            Backend::Dir(r) => r.path(kind, d).display().to_string(),
            Backend::Cloud(c) => c.locate(kind, d),
        }
    }

    /// Runs `op` under the retry policy, unless pipe stops first (see [`stop`]).
    async fn attempt<T, F, Fut>(&self, op: F) -> Result<T, RemoteError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RemoteError>>,
    {
        stop::unless_stopped(&self.name, self.retry.run(op)).await
    }

    fn internal(&self, e: tokio::task::JoinError) -> RemoteError {
        RemoteError::Failed {
            remote: self.name.clone(),
            detail: format!("internal error: {e}"),
            transient: false,
            attempts: 1,
        }
    }

    /// Digests of `kind` under one listing prefix (`objects/ab`, or `objects` for all).
    async fn list(&self, kind: Kind, rel: String) -> Result<Vec<Digest>, RemoteError> {
        self.attempt(|| async {
            match &self.backend {
                Backend::Dir(d) => {
                    let (d, rel) = (d.clone(), rel.clone());
                    if rel.contains('/') {
                        tokio::task::spawn_blocking(move || d.list_prefix(&rel))
                            .await
                            .map_err(|e| self.internal(e))?
                    } else {
                        tokio::task::spawn_blocking(move || {
                            let mut all = Vec::new();
                            for p in d.prefixes(kind)? {
                                all.extend(d.list_prefix(&p)?);
                            }
                            Ok(all)
                        })
                        .await
                        .map_err(|e| self.internal(e))?
                    }
                }
                Backend::Cloud(c) => c.list(kind, &rel).await,
            }
        })
        .await
    }

    /// Which of `wanted` the remote has, never asking per digest. A few digests: one
    /// listing per fan-out prefix they fall in. Many (more than `RANGES` prefixes) on an
    /// object store: `RANGES` listings at once, one per first hex digit, each paging
    /// through its sixteenth of the keys; fewer requests than 256 prefix listings, and the
    /// work spread over parallel streams however large the remote.
    pub async fn existing(
        &self,
        kind: Kind,
        wanted: &[Digest],
    ) -> Result<HashSet<Digest>, RemoteError> {
        let mut by_prefix: BTreeMap<String, HashSet<Digest>> = BTreeMap::new();
        for d in wanted {
            by_prefix
                .entry(layout::fan_out(kind, d))
                .or_default()
                .insert(*d);
        }
        if let Backend::Cloud(c) = &self.backend
            && by_prefix.len() > RANGES
        {
            let want: HashSet<Digest> = wanted.iter().copied().collect();
            let want = &want;
            return futures::stream::iter("0123456789abcdef".chars())
                .map(|first| async move {
                    let have = self.attempt(|| c.list_range(kind, first)).await?;
                    Ok::<_, RemoteError>(
                        have.into_iter()
                            .filter(|d| want.contains(d))
                            .collect::<Vec<_>>(),
                    )
                })
                .buffer_unordered(self.jobs)
                .try_fold(HashSet::new(), |mut acc, found| async move {
                    acc.extend(found);
                    Ok(acc)
                })
                .await;
        }
        futures::stream::iter(by_prefix)
            .map(|(prefix, want)| async move {
                let have = self.list(kind, prefix).await?;
                Ok::<_, RemoteError>(
                    have.into_iter()
                        .filter(|d| want.contains(d))
                        .collect::<Vec<_>>(),
                )
            })
            .buffer_unordered(self.jobs)
            .try_fold(HashSet::new(), |mut acc, found| async move {
                acc.extend(found);
                Ok(acc)
            })
            .await
    }

    /// Everything of `kind` on the remote.
    pub async fn list_all(&self, kind: Kind) -> Result<Vec<Digest>, RemoteError> {
        let mut v = self.list(kind, kind.dir().to_string()).await?;
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    async fn read(&self, kind: Kind, d: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        self.attempt(|| async {
            match &self.backend {
                Backend::Dir(r) => {
                    let (r, d) = (r.clone(), *d);
                    tokio::task::spawn_blocking(move || r.read(kind, &d))
                        .await
                        .map_err(|e| self.internal(e))?
                }
                Backend::Cloud(c) => c.read(kind, d).await,
            }
        })
        .await
    }

    /// A run-cache record; `None` when the remote has none under `key`.
    pub async fn get_record(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        self.read(Kind::Record, key).await
    }

    /// An experiment record under `key` (the digest of its name); `None` when absent.
    pub async fn get_exp(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        self.read(Kind::Exp, key).await
    }

    /// A small object (a manifest) read into memory and verified against its name.
    pub async fn read_object(&self, d: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        let Some(bytes) = self.read(Kind::Object, d).await? else {
            return Ok(None);
        };
        let actual = Digest::of_bytes(&bytes);
        if actual != *d {
            return Err(RemoteError::Corrupt {
                remote: self.name.clone(),
                digest: *d,
                actual,
            });
        }
        Ok(Some(bytes))
    }

    /// What object `d` on the remote hashes to (`None` when absent): reads it through,
    /// storing nothing.
    pub async fn rehash(&self, d: &Digest) -> Result<Option<Digest>, RemoteError> {
        self.attempt(|| async {
            match &self.backend {
                Backend::Dir(r) => {
                    let (r, d) = (r.clone(), *d);
                    tokio::task::spawn_blocking(move || r.rehash(&d))
                        .await
                        .map_err(|e| self.internal(e))?
                }
                Backend::Cloud(c) => match c.download(d, None, None, &|_| {}).await {
                    Ok((h, _)) => Ok(Some(h)),
                    Err(RemoteError::Missing { .. }) => Ok(None),
                    Err(e) => Err(e),
                },
            }
        })
        .await
    }
}
