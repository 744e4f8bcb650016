//! The engine's side of remotes: which remote a command talks to, what it moves, how its
//! errors map to exit codes, and how its progress shows.
//!
//! - Which: `-r NAME`, else `[core] remote` in `.pipe/config.toml` / `config.local.toml`.
//! - What: for the selected stages' lock entries, every out's object (a directory out: its
//!   manifest and every file it lists) and the stage's run-cache record, under the key the
//!   entry carries (the one its run computed: `LockEntry::key`).
//! - Errors: a remote's configuration problem ([`RemoteConfigError`], or the cache's
//!   `RemoteError` that says it is one) exits 2, anything else about a remote 3.
//! - `repro --pull` ([`RunRemote`]): local first, the remote behind it; a remote failure is
//!   one warning that switches the remote off for the rest of the run, never a failed build.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pipe_cache::remote::transfer::{self, Progress};
use pipe_cache::remote::{Credentials, Remote, RemoteError, RemoteSpec};
use pipe_cache::{Digest, Summary};

use crate::config::{Config, RemoteToml};
use crate::error::{Error, Result};
use crate::events::{Event, Events};
use crate::graph::Stage;
use crate::lock::Entries;
use crate::run::restore::OutRef;
use crate::run::runcache::RunRecord;
use crate::workspace::Workspace;

/// A remote's error as the engine's (its type gives the exit code: configuration 2, the
/// rest 3); the same as `Error::from`.
pub fn error(e: RemoteError) -> Error {
    Error::from(e)
}

/// Which remote, and its settings, cannot be made out of the configuration. Exit 2.
#[derive(Debug, thiserror::Error)]
pub enum RemoteConfigError {
    #[error("no remote is configured: add one with `pipe remote add NAME URL --default`")]
    NoneConfigured,
    #[error(
        "no default remote: pass `-r NAME` ({}) or set one with `pipe remote default NAME`",
        configured.join(", ")
    )]
    NoDefault { configured: Vec<String> },
    #[error(
        "no remote named `{name}` (configured: {})",
        if configured.is_empty() { "none".to_string() } else { configured.join(", ") }
    )]
    Unknown {
        name: String,
        configured: Vec<String>,
    },
    #[error("remote `{name}`: no `url` is configured")]
    NoUrl { name: String },
    /// The url does not parse (the cache's words).
    #[error("remote `{name}`: {why}")]
    Url { name: String, why: String },
    #[error("remote `{name}`: `shared` is `group` or `none`, not `{value}`")]
    Shared { name: String, value: String },
    #[error("remote `{name}`: set both access_key_id and secret_access_key, or neither")]
    HalfCredentials { name: String },
}

impl RemoteConfigError {
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// The spec of remote `name` (default: the configured default) of `ws`.
pub fn spec(ws: &Workspace, name: Option<&str>) -> Result<RemoteSpec> {
    spec_in(&ws.config, &ws.root, name)
}

/// The spec of remote `name` (default: the configured default) of `cfg`; a relative
/// directory url is relative to `base`.
pub fn spec_in(cfg: &Config, base: &Path, name: Option<&str>) -> Result<RemoteSpec> {
    let configured = || cfg.remotes.keys().cloned().collect::<Vec<String>>();
    let name = match name.or(cfg.default_remote.as_deref()) {
        Some(n) => n,
        None if cfg.remotes.is_empty() => return Err(RemoteConfigError::NoneConfigured.into()),
        None => {
            return Err(RemoteConfigError::NoDefault {
                configured: configured(),
            }
            .into());
        }
    };
    let Some(r) = cfg.remotes.get(name) else {
        return Err(RemoteConfigError::Unknown {
            name: name.to_string(),
            configured: configured(),
        }
        .into());
    };
    Ok(spec_of(base, name, r)?)
}

/// The spec of remote `name` configured as `r`; a relative directory url is relative to
/// `base`.
pub fn spec_of(
    base: &Path,
    name: &str,
    r: &RemoteToml,
) -> std::result::Result<RemoteSpec, RemoteConfigError> {
    let name_ = || name.to_string();
    let url = (r.url.as_deref()).ok_or_else(|| RemoteConfigError::NoUrl { name: name_() })?;
    let mut spec = RemoteSpec::new(name, url, base)
        .map_err(|why| RemoteConfigError::Url { name: name_(), why })?;
    spec.endpoint = r.endpoint.clone();
    spec.region = r.region.clone();
    spec.profile = r.profile.clone();
    spec.allow_http = r.allow_http.unwrap_or(false);
    spec.jobs = r.jobs;
    spec.shared_group = match r.shared.as_deref() {
        None | Some("none") | Some("") => false,
        Some("group") => true,
        Some(other) => {
            return Err(RemoteConfigError::Shared {
                name: name_(),
                value: other.to_string(),
            });
        }
    };
    spec.credentials = match (&r.access_key_id, &r.secret_access_key) {
        (Some(id), Some(secret)) => Some(Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: None,
        }),
        (None, None) => None,
        _ => return Err(RemoteConfigError::HalfCredentials { name: name_() }),
    };
    Ok(spec)
}

/// Opens remote `name` (default: the configured default) with `jobs` transfers at once.
pub fn open(ws: &Workspace, name: Option<&str>, jobs: Option<usize>) -> Result<Remote> {
    let spec = spec(ws, name)?;
    Ok(Remote::open(&spec, jobs)?)
}

/// An out of a stage's lock entry, as a push or fetch sees it.
#[derive(Debug, Clone)]
pub struct LockedOut {
    pub stage: String,
    pub path: String,
    pub hash: Summary,
    /// Kept in the cache (false: a plain file whose copy the run cache holds).
    pub cached: bool,
}

/// The outs recorded in the lock for `stages`, in order.
pub fn locked_outs(stages: &[&Stage], lock: &Entries) -> Vec<LockedOut> {
    let mut v = Vec::new();
    for st in stages {
        let Some(e) = lock.get(st.id.as_str()) else {
            continue;
        };
        for o in &st.outs {
            if let Some(h) = e.outs.get(o.path.as_str()) {
                v.push(LockedOut {
                    stage: st.id.to_string(),
                    path: o.path.to_string(),
                    hash: *h,
                    cached: o.cache,
                });
            }
        }
    }
    v
}

/// The remote behind the local cache during `repro --pull`.
#[derive(Debug)]
pub struct RunRemote {
    remote: Remote,
    off: AtomicBool,
    /// Stages fetching at once (each runs up to the remote's `jobs` transfers).
    fetching: tokio::sync::Semaphore,
    /// Record lookups at once.
    asking: tokio::sync::Semaphore,
}

/// Stages that fetch objects from the remote at the same time during `repro --pull`.
const STAGES_FETCHING: usize = 4;

impl RunRemote {
    pub fn new(remote: Remote) -> Arc<RunRemote> {
        let jobs = remote.jobs();
        Arc::new(RunRemote {
            remote,
            off: AtomicBool::new(false),
            fetching: tokio::sync::Semaphore::new(STAGES_FETCHING),
            asking: tokio::sync::Semaphore::new(jobs),
        })
    }

    fn usable(&self) -> bool {
        !self.off.load(Ordering::Relaxed)
    }

    /// A failure, told through `events`: a fatal one once (the remote is then not used for
    /// the rest of the run), any other each time (only that transfer failed).
    fn note(&self, e: &RemoteError, events: &Events) {
        let off = e.is_fatal();
        if off && self.off.swap(true, Ordering::Relaxed) {
            return;
        }
        events(Event::RemoteFailed {
            remote: self.remote.name(),
            error: e.to_string(),
            off,
        });
    }

    /// `stage`'s record under `key` from the remote, stored in the local run cache too;
    /// a record that is not one of `stage`'s runs (`RunRecord::decode_for`) is ignored
    /// with a warning, and not kept.
    pub async fn record(
        &self,
        ws: &Workspace,
        stage: &Stage,
        key: &Digest,
        events: &Events,
    ) -> Option<RunRecord> {
        let _permit = self.asking.acquire().await.ok()?;
        if !self.usable() {
            return None;
        }
        let bytes = match self.remote.get_record(key).await {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                self.note(&e, events);
                return None;
            }
        };
        let rec = match RunRecord::decode_for(&bytes, stage) {
            Ok(r) => r,
            Err(why) => {
                events(Event::RemoteFailed {
                    remote: self.remote.name(),
                    error: format!(
                        "run-cache record {} on remote `{}` is corrupt and ignored: {why}",
                        key.short(),
                        self.remote.name()
                    ),
                    off: false,
                });
                return None;
            }
        };
        if let Err(e) = ws.store.put_record(key, &bytes) {
            tracing::debug!("cannot keep the pulled record {key}: {e}");
        }
        Some(rec)
    }

    /// Fetches whatever `outs` need that the local cache lacks. True when everything is
    /// local afterwards.
    pub async fn fetch(
        &self,
        ws: &Arc<Workspace>,
        stage: &str,
        outs: &[OutRef],
        events: &Events,
    ) -> bool {
        let Ok(_permit) = self.fetching.acquire().await else {
            return false;
        };
        if !self.usable() {
            return false;
        }
        let hashes: Vec<Summary> = outs.iter().map(|o| o.hash).collect();
        match fetch_missing(&self.remote, ws, &hashes, |_, _| transfer::quiet()).await {
            Ok(f) if f.missing.is_empty() && f.corrupt.is_empty() => {
                if f.objects > 0 {
                    events(Event::Pulled {
                        stage,
                        objects: f.objects,
                        bytes: f.bytes,
                        remote: self.remote.name(),
                    });
                }
                true
            }
            Ok(f) => {
                for e in &f.corrupt {
                    self.note(e, events);
                }
                false
            }
            Err(e) => {
                self.note(&e, events);
                false
            }
        }
    }
}

/// What `fetch_missing` did.
#[derive(Debug, Default)]
pub struct FetchOutcome {
    pub objects: usize,
    pub bytes: u64,
    pub missing: Vec<Digest>,
    pub corrupt: Vec<RemoteError>,
}

/// Fetches every object the given outs need that the local store lacks or holds corrupt
/// (quarantined by the check, so the download replaces it): first missing
/// directory manifests (verified, then read), then the files they list. `progress` is
/// made once the bytes and objects still to come are known.
pub async fn fetch_missing(
    remote: &Remote,
    ws: &Arc<Workspace>,
    outs: &[Summary],
    progress: impl FnOnce(u64, usize) -> Progress,
) -> std::result::Result<FetchOutcome, RemoteError> {
    let whole: Vec<(Summary, Option<&str>)> = outs.iter().map(|h| (*h, None)).collect();
    fetch_missing_within(remote, ws, &whole, progress).await
}

/// As [`fetch_missing`], each out with the part of it wanted: `Some(p)` for a directory
/// out, its manifest and only the files under `p` (a path relative to the out).
pub async fn fetch_missing_within(
    remote: &Remote,
    ws: &Arc<Workspace>,
    outs: &[(Summary, Option<&str>)],
    progress: impl FnOnce(u64, usize) -> Progress,
) -> std::result::Result<FetchOutcome, RemoteError> {
    let store = &ws.store;
    let mut out = FetchOutcome::default();
    let mut seen = HashSet::new();
    let mut manifests = Vec::new();
    let mut files: Vec<(Digest, u64)> = Vec::new();
    for (h, _) in outs {
        if seen.insert(h.digest) && !store.intact(&h.digest) {
            if h.is_dir() {
                manifests.push(h.digest);
            } else {
                files.push((h.digest, h.size));
            }
        }
    }
    let got = transfer::download_manifests(remote, store, manifests, &transfer::quiet()).await?;
    out.absorb(got);
    for (h, within) in outs.iter().filter(|(h, _)| h.is_dir()) {
        if !store.has(&h.digest) {
            continue;
        }
        let m = store.read_manifest(&h.digest).map_err(RemoteError::Local)?;
        let under = |p: &str| within.is_none_or(|w| pipe_cache::manifest::is_under(p, w));
        for e in m.entries().iter().filter(|e| under(&e.path)) {
            if seen.insert(e.digest) && !store.intact(&e.digest) {
                files.push((e.digest, e.size));
            }
        }
    }
    // Sizes come from the lock and manifests (anyone's writing): the bar's total saturates.
    let total = files.iter().fold(0u64, |t, (_, n)| t.saturating_add(*n));
    let progress = progress(total, files.len());
    let sized = files.into_iter().map(|(d, n)| (d, Some(n))).collect();
    let got = transfer::download_sized(remote, store, sized, &progress).await?;
    out.absorb(got);
    Ok(out)
}

impl FetchOutcome {
    fn absorb(&mut self, f: transfer::Fetched) {
        self.objects += f.objects;
        self.bytes += f.bytes;
        self.missing.extend(f.missing);
        self.corrupt.extend(f.corrupt);
    }
}
