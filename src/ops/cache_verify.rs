//! `pipe cache verify [--remote[=NAME]]`: rehash every object of the local cache (or of a
//! remote) and compare it with its name; check that every object the lock refers to is
//! there. Reports each corrupt or missing object (with the out it belongs to, when known)
//! and exits 3 if there is any.
//!
//! For a remote, a directory remote's objects are hashed where they are; an object store's
//! are streamed through and hashed, `jobs` at once, storing nothing. What `pull` would
//! refuse, verify reports: an object that is no regular file (a FIFO, a device, a
//! directory, a link: never opened, see `pipe_cache::remote::dir`) and a directory out's
//! manifest that `Manifest::decode` refuses (a path out of the out, under `.git/`, a
//! control character, a name too long, a file that is also a directory).

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use pipe_cache::remote::{Kind, Remote, RemoteError};
use pipe_cache::{Digest, Manifest};
use rayon::prelude::*;

use crate::error::Result;
use crate::ops::error::OpsError;
use crate::report::printer::{Printer, Tone};
use crate::sharing;

use super::Session;

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub checked: usize,
    /// (object, what it hashes to)
    pub corrupt: Vec<(Digest, Digest)>,
    /// (out path or `dir/file`, object)
    pub missing: Vec<(String, Digest)>,
    /// (object, why): not an object pipe would read, or a manifest it would not use.
    pub refused: Vec<(Digest, String)>,
    /// Whose each object is (`dir/file`), from manifests only the remote had.
    pub owners: HashMap<Digest, String>,
}

/// `remote`: `None` for the local cache; `Some(name)` for a remote (`Some(None)`: the
/// default one).
pub fn verify(
    p: &Printer,
    s: &Session,
    remote: Option<Option<&str>>,
    jobs: Option<usize>,
) -> Result<VerifyReport> {
    s.fold_lock()?;
    let lock = s.ws.lock.read()?;
    let stages: Vec<&crate::graph::Stage> = s.graph.stages().iter().collect();
    let outs: Vec<sharing::LockedOut> = sharing::locked_outs(&stages, &lock)
        .into_iter()
        .filter(|o| o.cached)
        .collect();
    let (report, whr) = match remote {
        None => (verify_local(s, &outs)?, "the local cache".to_string()),
        Some(name) => {
            let r = sharing::open(&s.ws, name, jobs)?;
            let rt = Session::runtime()?;
            let rep = rt
                .block_on(verify_remote(s, &r, &outs))
                .map_err(sharing::error)?;
            (rep, format!("remote `{}`", r.name()))
        }
    };
    let mut owners = owners(&outs, s);
    for (d, o) in &report.owners {
        owners.entry(*d).or_insert_with(|| o.clone());
    }
    for (d, actual) in &report.corrupt {
        let of = owners.get(d).map(|o| format!(" ({o})")).unwrap_or_default();
        p.verb(
            "Corrupt",
            Tone::Bad,
            &format!("object {d}{of} in {whr}: its content hashes to {actual}"),
        );
    }
    for (d, why) in &report.refused {
        let of = owners.get(d).map(|o| format!(" ({o})")).unwrap_or_default();
        p.verb("Corrupt", Tone::Bad, &format!("{why}{of}"));
    }
    for (path, d) in &report.missing {
        p.verb(
            "Missing",
            Tone::Bad,
            &format!("{path}: object {d} is not in {whr}"),
        );
    }
    if report.corrupt.is_empty() && report.missing.is_empty() && report.refused.is_empty() {
        p.verb(
            "Verified",
            Tone::Good,
            &format!(
                "{} object(s) in {whr}: 0 corrupt, 0 missing",
                report.checked
            ),
        );
        return Ok(report);
    }
    Err(OpsError::VerifyFailed {
        checked: report.checked,
        place: whr.to_string(),
        corrupt: report.corrupt.len() + report.refused.len(),
        missing: report.missing.len(),
    }
    .into())
}

fn owners(outs: &[sharing::LockedOut], s: &Session) -> HashMap<Digest, String> {
    let mut m = HashMap::new();
    for o in outs {
        m.entry(o.hash.digest).or_insert_with(|| o.path.clone());
        if o.hash.is_dir()
            && let Ok(man) = s.ws.store.read_manifest(&o.hash.digest)
        {
            name_files(&mut m, &o.path, &man);
        }
    }
    m
}

/// Names each file of directory out `path` (listed by `man`) in `m`, where unnamed.
fn name_files(m: &mut HashMap<Digest, String>, path: &str, man: &Manifest) {
    for e in man.entries() {
        m.entry(e.digest)
            .or_insert_with(|| format!("{path}/{}", e.path));
    }
}

fn verify_local(s: &Session, outs: &[sharing::LockedOut]) -> Result<VerifyReport> {
    let store = &s.ws.store;
    let all = store.list_objects()?;
    let corrupt: Vec<(Digest, Digest)> = all
        .par_iter()
        .filter_map(|d| match store.verify(d) {
            Err(pipe_cache::Error::Corrupt { digest, actual }) => Some(Ok((digest, actual))),
            Err(pipe_cache::Error::Missing(_)) | Ok(()) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<std::result::Result<_, _>>()?;
    let have: HashSet<Digest> = all.iter().copied().collect();
    let bad: HashSet<Digest> = corrupt.iter().map(|(d, _)| *d).collect();
    let mut missing = Vec::new();
    let mut refused = Vec::new();
    for o in outs {
        if !have.contains(&o.hash.digest) {
            missing.push((o.path.clone(), o.hash.digest));
            continue;
        }
        if o.hash.is_dir() && !bad.contains(&o.hash.digest) {
            match store.read_manifest(&o.hash.digest) {
                Ok(m) => missing.extend(absent_files(&o.path, &m, &have)),
                Err(e) => refused.push((o.hash.digest, e.to_string())),
            }
        }
    }
    dedup(&mut missing);
    refused.sort();
    refused.dedup();
    Ok(VerifyReport {
        checked: all.len(),
        corrupt,
        missing,
        refused,
        owners: HashMap::new(),
    })
}

/// The files of directory out `path` (listed by `m`) whose objects are not in `have`.
fn absent_files<'a>(
    path: &'a str,
    m: &'a Manifest,
    have: &'a HashSet<Digest>,
) -> impl Iterator<Item = (String, Digest)> + 'a {
    m.entries()
        .iter()
        .filter(|e| !have.contains(&e.digest))
        .map(move |e| (format!("{path}/{}", e.path), e.digest))
}

async fn verify_remote(
    s: &Session,
    remote: &Remote,
    outs: &[sharing::LockedOut],
) -> std::result::Result<VerifyReport, RemoteError> {
    let all = remote.list_all(Kind::Object).await?;
    let have: HashSet<Digest> = all.iter().copied().collect();
    let mut corrupt = Vec::new();
    let mut refused = Vec::new();
    let mut hashed = futures::stream::iter(all.iter().copied())
        .map(|d| async move { (d, remote.rehash(&d).await) })
        .buffer_unordered(remote.jobs());
    while let Some((d, r)) = hashed.next().await {
        match r {
            Ok(Some(actual)) if actual != d => corrupt.push((d, actual)),
            Ok(_) => {}
            Err(e @ RemoteError::Refused { .. }) => refused.push((d, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    drop(hashed);
    corrupt.sort();
    let bad: HashSet<Digest> = corrupt
        .iter()
        .map(|(d, _)| *d)
        .chain(refused.iter().map(|(d, _)| *d))
        .collect();
    let mut missing = Vec::new();
    let mut owners = HashMap::new();
    for o in outs {
        if !have.contains(&o.hash.digest) {
            missing.push((o.path.clone(), o.hash.digest));
            continue;
        }
        if !o.hash.is_dir() || bad.contains(&o.hash.digest) {
            continue;
        }
        // Judged by the one decoder pull and checkout use. The local copy, when it reads,
        // has the very bytes of the remote's (the remote's is not corrupt: `bad`).
        if let Ok(m) = s.ws.store.read_manifest(&o.hash.digest) {
            missing.extend(absent_files(&o.path, &m, &have));
            continue;
        }
        let manifest = match remote.read_object(&o.hash.digest).await {
            Ok(Some(b)) => Manifest::decode(&b).map_err(|e| {
                format!(
                    "manifest {} from remote `{}` is corrupt: it lists what pipe cannot check \
                     out: {e}",
                    o.hash.digest,
                    remote.name()
                )
            }),
            Ok(None) => continue,
            Err(e @ (RemoteError::Refused { .. } | RemoteError::Corrupt { .. })) => {
                Err(e.to_string())
            }
            Err(e) => return Err(e),
        };
        match manifest {
            Ok(m) => {
                missing.extend(absent_files(&o.path, &m, &have));
                name_files(&mut owners, &o.path, &m);
            }
            Err(why) => refused.push((o.hash.digest, why)),
        }
    }
    dedup(&mut missing);
    refused.sort();
    refused.dedup();
    Ok(VerifyReport {
        checked: all.len(),
        corrupt,
        missing,
        refused,
        owners,
    })
}

fn dedup(v: &mut Vec<(String, Digest)>) {
    v.sort();
    v.dedup();
}
