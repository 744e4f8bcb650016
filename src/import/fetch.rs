//! Bringing a tracked path's objects from the source's remote into a local store, every
//! byte verified, and what the imported path is then (a file or a directory manifest,
//! blake3, as any out of ours).
//!
//! - A pipe source: its remote has our layout; the out's manifest is fetched (checked by
//!   `Manifest::decode`), then only the files under the asked part of it
//!   (`remote::transfer`, sized and hashed as they arrive). The part of a directory is a
//!   new manifest of the files below it, stored beside them.
//! - A DVC source: its remote is laid out by md5 (`files/md5/ab/cdef…`, DVC 2:
//!   `ab/cdef…`; a directory's listing is `<md5>.dir`). The listing is read and checked
//!   against its md5, then each file wanted is copied to the store's `tmp/` with its md5
//!   computed on the way, compared, hashed with blake3 and placed under that name.
//!
//! Objects already intact in the store are not asked for: a second import of the same
//! data transfers nothing. Missing or corrupt objects fail the whole fetch with the first
//! named; what was verified stays in the cache (it is correct), the workspace is
//! untouched.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ::md5::{Digest as _, Md5};
use pipe_cache::remote::transfer::{self, Progress};
use pipe_cache::remote::{Location, Remote, RemoteError};
use pipe_cache::{Digest, Manifest, Store, manifest};
use rayon::prelude::*;

use super::error::ImportError;
use super::source::{Object, SourceRemote, Tracked};
use pipe_cache::Summary;

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
            let Location::Dir(root) = &remote.spec.location else {
                return Err(ImportError::RemoteUrl {
                    repo: repo.to_string(),
                    url: remote.spec.url.clone(),
                    why: "pipe reads a DVC project's data from a directory remote only".into(),
                });
            };
            let (root, md5, legacy, sub) =
                (root.clone(), md5.clone(), *legacy, tracked.sub.clone());
            let store_root = store.root().to_path_buf();
            let opts = store.options().clone();
            let cx = OwnedCx {
                repo: repo.to_string(),
                remote: remote.spec.name.clone(),
                path: tracked.path(),
            };
            let progress = progress.clone();
            tokio::task::spawn_blocking(move || {
                let store = Store::open(&store_root, opts);
                fetch_dvc(
                    &cx.cx(),
                    &root,
                    &store,
                    &md5,
                    legacy,
                    sub.as_deref(),
                    &progress,
                )
            })
            .await
            .map_err(|e| ImportError::Git {
                repo: repo.to_string(),
                why: format!("internal error: {e}"),
            })?
        }
    }
}

struct OwnedCx {
    repo: String,
    remote: String,
    path: String,
}

impl OwnedCx {
    fn cx(&self) -> Cx<'_> {
        Cx {
            repo: &self.repo,
            remote: &self.remote,
            path: self.path.clone(),
        }
    }
}

async fn fetch_pipe(
    cx: &Cx<'_>,
    remote: &Remote,
    store: &Store,
    h: &Summary,
    sub: Option<&str>,
    progress: &Progress,
) -> Result<Fetched, ImportError> {
    let mut out = Fetched {
        hash: *h,
        objects: 0,
        bytes: 0,
    };
    let short = |d: &Digest| format!("{} ({})", cx.path, d.short());
    if !h.is_dir() {
        if !store.intact(&h.digest) {
            let got =
                transfer::download_sized(remote, store, vec![(h.digest, Some(h.size))], progress)
                    .await
                    .map_err(|e| cx.remote_err(e))?;
            out.objects += got.objects;
            out.bytes += got.bytes;
            cx.check(got, &short)?;
        }
        return Ok(out);
    }
    if !store.intact(&h.digest) {
        let got = transfer::download_manifests(remote, store, vec![h.digest], &transfer::quiet())
            .await
            .map_err(|e| cx.remote_err(e))?;
        out.objects += got.objects;
        out.bytes += got.bytes;
        cx.check(got, &|d| {
            format!("the manifest of `{}` ({})", cx.path, d.short())
        })?;
    }
    let m = store
        .read_manifest(&h.digest)
        .map_err(|e| cx.corrupt(h.digest.short(), e.to_string()))?;
    let entries = m.entries().iter().map(|e| (e.path.clone(), e.clone()));
    let chosen: Vec<manifest::Entry> = match part(entries, sub) {
        Part::Nothing => return Err(cx.not_tracked()),
        Part::File(e) => {
            out.hash = Summary::file(e.digest, e.size, e.exec);
            vec![e]
        }
        Part::Dir(v) => v
            .into_iter()
            .map(|(path, e)| manifest::Entry { path, ..e })
            .collect(),
    };
    let mut seen = std::collections::HashSet::new();
    let wanted: Vec<(Digest, Option<u64>)> = chosen
        .iter()
        .filter(|e| seen.insert(e.digest) && !store.intact(&e.digest))
        .map(|e| (e.digest, Some(e.size)))
        .collect();
    let names: std::collections::HashMap<Digest, String> =
        chosen.iter().map(|e| (e.digest, e.path.clone())).collect();
    let got = transfer::download_sized(remote, store, wanted, progress)
        .await
        .map_err(|e| cx.remote_err(e))?;
    out.objects += got.objects;
    out.bytes += got.bytes;
    cx.check(got, &|d| {
        names
            .get(d)
            .map(|p| format!("`{}/{p}`", cx.path))
            .unwrap_or_else(|| d.short())
    })?;
    if sub.is_some() && !out.hash.is_dir() {
        return Ok(out);
    }
    if sub.is_some() {
        out.hash = store_manifest(store, chosen).map_err(|e| cx.corrupt(cx.path.clone(), e))?;
    }
    Ok(out)
}

/// Stores the manifest of `entries`; its hash.
fn store_manifest(store: &Store, entries: Vec<manifest::Entry>) -> Result<Summary, String> {
    let m = Manifest::new(entries).map_err(|e| e.to_string())?;
    let d = m.digest();
    let mut b = store.batch();
    b.add_bytes(m.encode(), d);
    b.commit().map_err(|e| e.to_string())?;
    Ok(Summary::dir(d, m.total_size(), m.len() as u64))
}

/// Where DVC keeps object `md5` on a directory remote: DVC 3's place, then DVC 2's.
fn dvc_paths(root: &Path, md5: &str) -> [PathBuf; 2] {
    let (a, b) = md5.split_at(2.min(md5.len()));
    [root.join("files/md5").join(a).join(b), root.join(a).join(b)]
}

/// One file of a DVC listing copied (its path, temp file, blake3, size), or why not (its
/// path, md5, what went wrong).
type Copied = Result<(String, PathBuf, Digest, u64), (String, String, Miss)>;

/// Why one DVC object could not be had.
enum Miss {
    Missing,
    Corrupt(String),
    Local(String),
}

/// The most a DVC listing is read into memory.
const LISTING_MAX: u64 = pipe_cache::remote::dir::READ_WHOLE_MAX;

fn valid_md5(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn fetch_dvc(
    cx: &Cx<'_>,
    root: &Path,
    store: &Store,
    md5: &str,
    legacy: bool,
    sub: Option<&str>,
    progress: &Progress,
) -> Result<Fetched, ImportError> {
    if !root.is_dir() {
        return Err(cx.remote_err(RemoteError::NoBucket {
            remote: cx.remote.to_string(),
            what: "directory",
            name: root.display().to_string(),
        }));
    }
    let tmp_dir = store.tmp_dir();
    store.mkdir(&tmp_dir).map_err(|e| ImportError::Git {
        repo: cx.repo.to_string(),
        why: e.to_string(),
    })?;
    let mut out = Fetched {
        hash: Summary::file(Digest::of_bytes(b""), 0, false),
        objects: 0,
        bytes: 0,
    };
    let mut as_dir = false;
    let files: Vec<(String, String)> = match md5.strip_suffix(".dir") {
        None => {
            if sub.is_some() || !valid_md5(md5) {
                return Err(cx.not_tracked());
            }
            vec![(String::new(), md5.to_string())]
        }
        Some(hex) => {
            if !valid_md5(hex) {
                return Err(cx.corrupt(md5.to_string(), "is not an md5".into()));
            }
            let bytes = read_listing(root, md5).map_err(|m| miss(cx, md5, m))?;
            out.objects += 1;
            out.bytes += bytes.len() as u64;
            if crate::dvc::md5::bytes_md5(&bytes) != hex {
                return Err(cx.corrupt(
                    md5.to_string(),
                    "its listing does not hash to its name".into(),
                ));
            }
            let listing = crate::dvc::md5::parse_listing(&bytes).ok_or_else(|| {
                cx.corrupt(md5.to_string(), "is not a DVC directory listing".into())
            })?;
            match part(listing.into_iter().map(|e| (e.relpath, e.md5)), sub) {
                Part::Nothing => return Err(cx.not_tracked()),
                Part::File(m) => vec![(String::new(), m)],
                Part::Dir(v) => {
                    as_dir = true;
                    v
                }
            }
        }
    };
    if let Some((p, m)) = files.iter().find(|(_, m)| !valid_md5(m)) {
        return Err(cx.corrupt(m.clone(), format!("`{p}` has no md5 name")));
    }
    let got: Vec<Copied> = files
        .par_iter()
        .map(|(p, m)| {
            copy_dvc(root, m, legacy, &tmp_dir, progress)
                .map(|(tmp, d, n)| (p.clone(), tmp, d, n))
                .map_err(|e| (p.clone(), m.clone(), e))
        })
        .collect();
    let mut staged = Vec::new();
    let mut entries = Vec::new();
    let mut missing = Vec::new();
    let mut failed = None;
    for r in got {
        match r {
            Ok((p, tmp, d, n)) => {
                out.objects += 1;
                out.bytes += n;
                staged.push((tmp, d));
                entries.push(manifest::Entry {
                    path: p,
                    digest: d,
                    size: n,
                    exec: false,
                });
            }
            Err((p, m, Miss::Missing)) => missing.push(named(cx, &p, &m)),
            Err((p, m, e)) => {
                failed.get_or_insert_with(|| miss(cx, &named(cx, &p, &m), e));
            }
        }
    }
    let cleanup = |staged: &[(PathBuf, Digest)]| {
        for (t, _) in staged {
            let _ = std::fs::remove_file(t);
        }
    };
    if !missing.is_empty() {
        cleanup(&staged);
        missing.sort();
        return Err(cx.missing(missing));
    }
    if let Some(e) = failed {
        cleanup(&staged);
        return Err(e);
    }
    let placed = staged
        .iter()
        .try_for_each(|(t, _)| pipe_cache::fsutil::make_read_only(t))
        .and_then(|()| store.place_durably(&staged));
    if let Err(e) = placed {
        cleanup(&staged);
        return Err(ImportError::Git {
            repo: cx.repo.to_string(),
            why: e.to_string(),
        });
    }
    if as_dir {
        out.hash = store_manifest(store, entries).map_err(|e| cx.corrupt(md5.to_string(), e))?;
    } else if let Some(e) = entries.into_iter().next() {
        out.hash = Summary::file(e.digest, e.size, false);
    }
    Ok(out)
}

fn named(cx: &Cx<'_>, p: &str, md5: &str) -> String {
    if p.is_empty() {
        format!("`{}` (md5 {md5})", cx.path)
    } else {
        format!("`{}/{p}` (md5 {md5})", cx.path)
    }
}

fn miss(cx: &Cx<'_>, what: &str, m: Miss) -> ImportError {
    match m {
        Miss::Missing => cx.missing(vec![what.to_string()]),
        Miss::Corrupt(why) => cx.corrupt(what.to_string(), why),
        Miss::Local(why) => ImportError::Git {
            repo: cx.repo.to_string(),
            why,
        },
    }
}

/// The regular file holding DVC object `md5`, opened; a link, FIFO or directory there is
/// refused unopened (as `remote::dir` does for our own layout).
fn open_dvc(root: &Path, md5: &str) -> Result<(std::fs::File, PathBuf, u64), Miss> {
    for p in dvc_paths(root, md5) {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() => {
                let f = std::fs::File::open(&p)
                    .map_err(|e| Miss::Local(format!("cannot open {}: {e}", p.display())))?;
                return Ok((f, p, m.len()));
            }
            Ok(_) => {
                return Err(Miss::Corrupt(format!(
                    "{} is not a regular file",
                    p.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Miss::Local(format!("cannot look at {}: {e}", p.display()))),
        }
    }
    Err(Miss::Missing)
}

fn read_listing(root: &Path, md5: &str) -> Result<Vec<u8>, Miss> {
    let (f, p, n) = open_dvc(root, md5)?;
    if n > LISTING_MAX {
        return Err(Miss::Corrupt(format!(
            "{} is {n} bytes: too large for a listing",
            p.display()
        )));
    }
    let mut bytes = Vec::with_capacity(n as usize);
    f.take(LISTING_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Miss::Local(format!("cannot read {}: {e}", p.display())))?;
    Ok(bytes)
}

/// Copies DVC object `md5` to a new temp file in `tmp_dir`, checking its md5 on the way
/// (`legacy`: DVC 2's text hash is accepted too); its blake3 and size.
fn copy_dvc(
    root: &Path,
    md5: &str,
    legacy: bool,
    tmp_dir: &Path,
    progress: &Progress,
) -> Result<(PathBuf, Digest, u64), Miss> {
    let (mut f, src, _) = open_dvc(root, md5)?;
    let tmp = pipe_cache::fsutil::unique_path(tmp_dir, &md5[..8]);
    let fail = |tmp: &Path, m: Miss| {
        let _ = std::fs::remove_file(tmp);
        m
    };
    let mut dst = std::fs::File::create_new(&tmp)
        .map_err(|e| Miss::Local(format!("cannot create {}: {e}", tmp.display())))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0u64;
    loop {
        let k = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) => {
                return Err(fail(
                    &tmp,
                    Miss::Local(format!("cannot read {}: {e}", src.display())),
                ));
            }
        };
        h.update(&buf[..k]);
        if let Err(e) = dst.write_all(&buf[..k]) {
            return Err(fail(
                &tmp,
                Miss::Local(format!("cannot write {}: {e}", tmp.display())),
            ));
        }
        n += k as u64;
        progress(k as u64, 0);
    }
    drop(dst);
    let got = hex::encode(h.finalize());
    if got != md5 {
        let unix = legacy
            .then(|| crate::dvc::md5::file_md5(&tmp).ok().and_then(|(_, u)| u))
            .flatten();
        if unix.as_deref() != Some(md5) {
            return Err(fail(
                &tmp,
                Miss::Corrupt(format!("{} hashes to md5 {got}", src.display())),
            ));
        }
    }
    progress(0, 1);
    let d =
        pipe_cache::hash::hash_file(&tmp, n).map_err(|e| fail(&tmp, Miss::Local(e.to_string())))?;
    Ok((tmp, d, n))
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
