//! Bringing a tracked path's objects from the source's remote into a local store, every
//! byte verified, and what the imported path is then (a file or a directory manifest,
//! blake3, as any out of ours).
//!
//! - A pipe source: its remote has our layout; the out's manifest is fetched (checked by
//!   `Manifest::decode`), then only the files under the asked part of it
//!   (`remote::transfer`, sized and hashed as they arrive). The part of a directory is a
//!   new manifest of the files below it, stored beside them.
//! - A DVC source: its remote (a directory, or a bucket on S3 and the like) is laid out by
//!   md5 (`files/md5/ab/cdef…`, DVC 2: `ab/cdef…`; a directory's listing is `<md5>.dir`),
//!   read by key (`remote::raw`). The listing is read and checked against its md5, then
//!   each file wanted is copied to the store's `tmp/` (hashed with blake3 on the way),
//!   its md5 computed and compared, and only then placed under its blake3 name.
//!
//! Objects already intact in the store are not asked for: a second import of the same
//! data transfers nothing. Missing or corrupt objects fail the whole fetch with the first
//! named; what was verified stays in the cache (it is correct), the workspace is
//! untouched.

mod dvc;
mod pipe;

use pipe_cache::remote::transfer::{self, Progress};
use pipe_cache::remote::{Remote, RemoteError};
use pipe_cache::{Digest, Manifest, Store, Summary, manifest};

use super::error::ImportError;
use super::source::{Object, SourceRemote, Tracked};
use dvc::fetch_dvc;
use pipe::fetch_pipe;

/// What a fetch brought, and what the path is now.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub hash: Summary,
    /// Objects transferred (0 when the store had them all).
    pub objects: usize,
    pub bytes: u64,
}

/// The part of a listing under `sub` (all of it for `None`): one file, or the files below
/// it with their paths relative to it.
enum Part<T> {
    File(T),
    Dir(Vec<(String, T)>),
    Nothing,
}

fn part<T>(entries: impl Iterator<Item = (String, T)>, sub: Option<&str>) -> Part<T> {
    let Some(sub) = sub else {
        return Part::Dir(entries.collect());
    };
    let mut below = Vec::new();
    for (p, t) in entries {
        if p == sub {
            return Part::File(t);
        }
        if let Some(rest) = p.strip_prefix(sub).and_then(|r| r.strip_prefix('/')) {
            below.push((rest.to_string(), t));
        }
    }
    if below.is_empty() {
        Part::Nothing
    } else {
        Part::Dir(below)
    }
}

/// Context for the errors of one fetch.
struct Cx<'a> {
    repo: &'a str,
    remote: &'a str,
    path: String,
}

impl Cx<'_> {
    fn remote_err(&self, err: RemoteError) -> ImportError {
        ImportError::Remote {
            repo: self.repo.to_string(),
            remote: self.remote.to_string(),
            err: Box::new(err),
        }
    }

    fn missing(&self, objects: Vec<String>) -> ImportError {
        ImportError::Missing {
            repo: self.repo.to_string(),
            remote: self.remote.to_string(),
            path: self.path.clone(),
            objects,
        }
    }

    fn corrupt(&self, object: String, why: String) -> ImportError {
        ImportError::Corrupt {
            repo: self.repo.to_string(),
            remote: self.remote.to_string(),
            object,
            why,
        }
    }

    fn not_tracked(&self) -> ImportError {
        ImportError::BadArgument(format!(
            "`{}` is not in the directory `{}` that `{}` tracks",
            self.path,
            self.path.rsplit_once('/').map_or("", |(d, _)| d),
            self.repo
        ))
    }

    fn check(
        &self,
        got: transfer::Fetched,
        named: &dyn Fn(&Digest) -> String,
    ) -> Result<(), ImportError> {
        if !got.missing.is_empty() {
            return Err(self.missing(got.missing.iter().map(named).collect()));
        }
        if let Some(e) = got.corrupt.into_iter().next() {
            let object = match &e {
                RemoteError::Corrupt { digest, .. } | RemoteError::Refused { digest, .. } => {
                    named(digest)
                }
                _ => "?".to_string(),
            };
            return Err(self.corrupt(object, e.to_string()));
        }
        Ok(())
    }
}

/// Fetches what `tracked` needs into `store` from `remote` (`repo`: the source, for
/// messages).
pub async fn fetch(
    repo: &str,
    tracked: &Tracked,
    remote: &SourceRemote,
    store: &Store,
    jobs: Option<usize>,
    progress: &Progress,
) -> Result<Fetched, ImportError> {
    let cx = Cx {
        repo,
        remote: &remote.spec.name,
        path: tracked.path(),
    };
    match &tracked.object {
        Object::Pipe(h) => {
            let r = Remote::open(&remote.spec, jobs).map_err(|e| cx.remote_err(e))?;
            fetch_pipe(&cx, &r, store, h, tracked.sub.as_deref(), progress).await
        }
        Object::Dvc { md5, legacy } => {
            let r = Remote::open(&remote.spec, jobs).map_err(|e| cx.remote_err(e))?;
            fetch_dvc(
                &cx,
                &r,
                store,
                md5,
                *legacy,
                tracked.sub.as_deref(),
                progress,
            )
            .await
        }
    }
}

/// Why the manifest of what was fetched could not be stored.
#[derive(Debug, thiserror::Error)]
enum StoreManifestError {
    /// The entries do not make a manifest (a path twice, a path that is not relative).
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Store(#[from] pipe_cache::Error),
}

/// Stores the manifest of `entries`; its hash.
fn store_manifest(
    store: &Store,
    entries: Vec<manifest::Entry>,
) -> Result<Summary, StoreManifestError> {
    let m = Manifest::new(entries)?;
    let d = m.digest();
    let mut b = store.batch();
    b.add_bytes(m.encode(), d);
    b.commit()?;
    Ok(Summary::dir(d, m.total_size(), m.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_one_file_or_the_files_below_it() {
        let all = || {
            ["cam07/a", "cam07/b", "cam070/c", "cam08/a"]
                .into_iter()
                .map(|p| (p.to_string(), p))
        };
        let Part::Dir(v) = part(all(), Some("cam07")) else {
            panic!("a directory");
        };
        assert_eq!(
            v,
            vec![("a".to_string(), "cam07/a"), ("b".to_string(), "cam07/b")]
        );
        assert!(matches!(
            part(all(), Some("cam07/b")),
            Part::File("cam07/b")
        ));
        assert!(matches!(part(all(), Some("cam09")), Part::Nothing));
        assert!(matches!(part(all(), None), Part::Dir(v) if v.len() == 4));
    }
}
