//! `pipe fetch [TARGETS]`: bring the objects the lock refers to from a remote into the
//! local cache; `pipe pull [TARGETS]`: fetch, then check the outs out.
//!
//! Only what the local cache lacks is asked for: missing directory manifests first
//! (verified, then read for the files they list), then the files. Every object is verified
//! against its name before it enters the cache (see `pipe_cache::remote::transfer`).
//! Objects the remote lacks or holds corrupt are reported by out path; the rest still
//! arrive, and the command fails at the end (exit 3).

use std::collections::HashMap;

use pipe_cache::Digest;

use crate::error::{Error, Result};
use crate::ops::error::OpsError;
use crate::report::printer::{Printer, Tone, bytes};
use crate::sharing;
use crate::sharing::RemoteConfigError;

use super::Session;

#[derive(Debug, Default)]
pub struct FetchReport {
    pub objects: usize,
    pub bytes: u64,
    /// Outs (paths) some of whose objects the remote does not have.
    pub missing: Vec<String>,
    /// Corrupt objects, one message each.
    pub corrupt: Vec<String>,
}

pub fn fetch(
    p: &Printer,
    s: &Session,
    targets: &[String],
    remote: Option<&str>,
    jobs: Option<usize>,
) -> Result<FetchReport> {
    let r = fetch_report(p, s, targets, remote, jobs)?;
    r.failure().map_or(Ok(r), Err)
}

impl FetchReport {
    fn failure(&self) -> Option<Error> {
        if self.corrupt.is_empty() && self.missing.is_empty() {
            return None;
        }
        Some(
            OpsError::FetchFailed {
                missing: self.missing.len(),
                corrupt: self.corrupt.len(),
            }
            .into(),
        )
    }
}

/// Fetches; what is missing or corrupt is in the report (and printed), not an error.
fn fetch_report(
    p: &Printer,
    s: &Session,
    targets: &[String],
    remote: Option<&str>,
    jobs: Option<usize>,
) -> Result<FetchReport> {
    // A path inside a directory out brings that part of it alone (see `ops::part`).
    let (whole, parts) = super::part::split(s, targets)?;
    let outs = if whole.is_empty() && !parts.is_empty() {
        Vec::new()
    } else {
        s.cached_locked_outs(&whole)?
    };
    let remote = sharing::open(&s.ws, remote, jobs)?;
    let mut wanted: Vec<(pipe_cache::Summary, Option<&str>)> =
        outs.iter().map(|o| (o.hash, None)).collect();
    wanted.extend(parts.iter().map(|p| (p.hash, Some(p.within.as_str()))));
    let rt = Session::runtime()?;
    let mut bar = None;
    let got = rt.block_on(sharing::fetch_missing_within(
        &remote,
        &s.ws,
        &wanted,
        |total, n| {
            let (p, b) = crate::report::transfer::progress(p, total, n, "Fetching");
            bar = b;
            p
        },
    ));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let got = got.map_err(sharing::error)?;
    // A part that names no file of its directory (known once its manifest is here).
    for part in &parts {
        if let Ok(m) = s.ws.store.read_manifest(&part.hash.digest)
            && part.entries(m.entries()).is_empty()
        {
            return Err(OpsError::NoSuchPart {
                part: format!("{}/{}", part.out, part.within),
                out: part.out.to_string(),
            }
            .into());
        }
    }
    let mut report = FetchReport {
        objects: got.objects,
        bytes: got.bytes,
        ..FetchReport::default()
    };
    if !got.missing.is_empty() {
        let mut outs = outs;
        outs.extend(parts.iter().map(|p| sharing::LockedOut {
            stage: p.stage.clone(),
            path: p.out.to_string(),
            hash: p.hash,
            cached: true,
        }));
        let owners = owners(s, &outs);
        let mut paths: Vec<String> = got
            .missing
            .iter()
            .map(|d| {
                owners
                    .get(d)
                    .cloned()
                    .unwrap_or_else(|| format!("object {d}"))
            })
            .collect();
        paths.sort();
        paths.dedup();
        for path in &paths {
            p.warn(&format!(
                "{path}: not on remote `{}` (push it from where it was built)",
                remote.name()
            ));
        }
        report.missing = paths;
    }
    for e in &got.corrupt {
        p.verb("Corrupt", Tone::Bad, &e.to_string());
        report.corrupt.push(e.to_string());
    }
    p.verb(
        "Fetched",
        Tone::Good,
        &format!(
            "{} object(s), {} from `{}`",
            report.objects,
            bytes(report.bytes),
            remote.name()
        ),
    );
    Ok(report)
}

/// Which out each object belongs to (a directory's files: `dir/file`), for messages.
fn owners(s: &Session, outs: &[sharing::LockedOut]) -> HashMap<Digest, String> {
    let mut m = HashMap::new();
    for o in outs {
        m.entry(o.hash.digest).or_insert_with(|| o.path.clone());
        if o.hash.is_dir()
            && let Ok(man) = s.ws.store.read_manifest(&o.hash.digest)
        {
            for e in man.entries() {
                m.entry(e.digest)
                    .or_insert_with(|| format!("{}/{}", o.path, e.path));
            }
        }
    }
    m
}

/// Fetch, then check out: the outs match the lock afterwards. What could be fetched is
/// checked out even when something could not; the fetch's failure is returned after.
pub fn pull(
    p: &Printer,
    s: &Session,
    targets: &[String],
    remote: Option<&str>,
    jobs: Option<usize>,
) -> Result<()> {
    // Our remote first; imported data it lacks (or, with no remote configured, all of it)
    // then comes from the repository it was imported from.
    let fetched = match fetch_report(p, s, targets, remote, jobs) {
        Ok(r) => r,
        Err(Error::RemoteConfig(RemoteConfigError::NoneConfigured)) if has_imports(s) => {
            FetchReport::default()
        }
        Err(e) => return Err(e),
    };
    let from_source = super::import::fetch_sources(p, s, targets, jobs)?;
    let fetched = FetchReport {
        missing: (fetched.missing.into_iter())
            .filter(|m| {
                !from_source.iter().any(|f| {
                    m == f
                        || m.strip_prefix(f.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                })
            })
            .collect(),
        ..fetched
    };
    let checked = super::checkout::checkout(p, s, targets);
    if let Some(e) = fetched.failure() {
        return Err(e);
    }
    checked.map(|_| ())
}

/// Whether the pipeline holds data imported from another repository.
fn has_imports(s: &Session) -> bool {
    s.spec.data.iter().any(|d| d.source.is_some())
}
