//! A DVC source: its remote (a directory or an object store) laid out by md5; each file
//! read by its key ([`Remote::download_raw`]), checked by md5, stored under blake3.

use std::io::Read;
use std::path::{Path, PathBuf};

use ::md5::{Digest as _, Md5};
use futures::StreamExt;
use pipe_cache::remote::transfer::Progress;
use pipe_cache::remote::{Remote, RemoteError};
use pipe_cache::{Digest, Store, Summary, manifest};

use super::{Cx, Fetched, Part, part, store_manifest};
use crate::import::error::ImportError;

/// Where DVC keeps object `md5` (`<md5>.dir` for a listing) relative to its remote's root:
/// DVC 3's place and DVC 2's, the one the out was written by first.
fn dvc_keys(md5: &str, legacy: bool) -> [String; 2] {
    let (a, b) = md5.split_at(2.min(md5.len()));
    let v3 = format!("files/md5/{a}/{b}");
    let v2 = format!("{a}/{b}");
    if legacy { [v2, v3] } else { [v3, v2] }
}

/// One file of a DVC listing copied (its path, temp file, blake3, size), or why not (its
/// path, md5, what went wrong).
type Copied = Result<(String, PathBuf, Digest, u64), (String, String, Miss)>;

/// Why one DVC object could not be had.
enum Miss {
    Missing,
    Corrupt(String),
    /// This machine failed (the store's temp files).
    Local(pipe_cache::Error),
    /// The remote failed (unreachable, credentials, ...): the whole fetch stops.
    Remote(RemoteError),
}

/// The most a DVC listing is read into memory.
const LISTING_MAX: u64 = pipe_cache::remote::dir::READ_WHOLE_MAX;

fn valid_md5(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A remote failure of one object: a refused file is that object's fault (corrupt), the
/// rest the remote's.
fn remote_miss(e: RemoteError) -> Miss {
    match e {
        e @ RemoteError::RefusedRaw { .. } => Miss::Corrupt(e.to_string()),
        RemoteError::Local(e) => Miss::Local(e),
        e => Miss::Remote(e),
    }
}

pub(super) async fn fetch_dvc(
    cx: &Cx<'_>,
    remote: &Remote,
    store: &Store,
    md5: &str,
    legacy: bool,
    sub: Option<&str>,
    progress: &Progress,
) -> Result<Fetched, ImportError> {
    let tmp_dir = store.tmp_dir();
    store.mkdir(&tmp_dir)?;
    let mut out = Fetched {
        hash: Summary::file(Digest::of_bytes(b""), 0, false),
        objects: 0,
        bytes: 0,
    };
    let (files, as_dir) = files_of(cx, remote, md5, legacy, sub, &mut out).await?;
    let (staged, entries) =
        copy_all(cx, remote, &files, legacy, &tmp_dir, progress, &mut out).await?;
    let placed = staged
        .iter()
        .try_for_each(|(t, _)| pipe_cache::fsutil::make_read_only(t))
        .and_then(|()| store.place_durably(&staged));
    if let Err(e) = placed {
        remove_staged(&staged);
        return Err(e.into());
    }
    if as_dir {
        out.hash = store_manifest(store, entries)
            .map_err(|e| cx.corrupt(md5.to_string(), e.to_string()))?;
    } else if let Some(e) = entries.into_iter().next() {
        out.hash = Summary::file(e.digest, e.size, false);
    }
    Ok(out)
}

/// The files object `md5` stands for, as (path in the out, md5), and whether they make a
/// directory: the object itself, or the files of its listing (read and checked here,
/// counted in `out`) under `sub`.
async fn files_of(
    cx: &Cx<'_>,
    remote: &Remote,
    md5: &str,
    legacy: bool,
    sub: Option<&str>,
    out: &mut Fetched,
) -> Result<(Vec<(String, String)>, bool), ImportError> {
    let Some(hex) = md5.strip_suffix(".dir") else {
        if sub.is_some() || !valid_md5(md5) {
            return Err(cx.not_tracked());
        }
        return Ok((vec![(String::new(), md5.to_string())], false));
    };
    if !valid_md5(hex) {
        return Err(cx.corrupt(md5.to_string(), "is not an md5".into()));
    }
    let bytes = read_listing(remote, md5, legacy)
        .await
        .map_err(|m| miss(cx, md5, m))?;
    out.objects += 1;
    out.bytes += bytes.len() as u64;
    if crate::dvc::md5::bytes_md5(&bytes) != hex {
        return Err(cx.corrupt(
            md5.to_string(),
            "its listing does not hash to its name".into(),
        ));
    }
    let listing = crate::dvc::md5::parse_listing(&bytes)
        .ok_or_else(|| cx.corrupt(md5.to_string(), "is not a DVC directory listing".into()))?;
    let (files, as_dir) = match part(listing.into_iter().map(|e| (e.relpath, e.md5)), sub) {
        Part::Nothing => return Err(cx.not_tracked()),
        Part::File(m) => (vec![(String::new(), m)], false),
        Part::Dir(v) => (v, true),
    };
    if let Some((p, m)) = files.iter().find(|(_, m)| !valid_md5(m)) {
        return Err(cx.corrupt(m.clone(), format!("`{p}` has no md5 name")));
    }
    Ok((files, as_dir))
}

/// Copies `files` from the remote into temp files of the store, `remote.jobs()` at a time,
/// each checked by md5: the staged temp files with their blake3, and the manifest entries.
/// Any failure removes what was staged; missing objects are all named.
async fn copy_all(
    cx: &Cx<'_>,
    remote: &Remote,
    files: &[(String, String)],
    legacy: bool,
    tmp_dir: &Path,
    progress: &Progress,
    out: &mut Fetched,
) -> Result<(Vec<(PathBuf, Digest)>, Vec<manifest::Entry>), ImportError> {
    let copies = futures::stream::iter(files.iter())
        .map(|(p, m)| async move {
            copy_dvc(remote, m, legacy, tmp_dir, progress)
                .await
                .map(|(tmp, d, n)| (p.clone(), tmp, d, n))
                .map_err(|e| (p.clone(), m.clone(), e))
        })
        .buffer_unordered(remote.jobs());
    let mut copies = std::pin::pin!(copies);
    let mut staged = Vec::new();
    let mut entries = Vec::new();
    let mut missing = Vec::new();
    let mut failed = None;
    while let Some(r) = copies.next().await {
        let r: Copied = r;
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
            Err((_, _, Miss::Remote(e))) => {
                // Nothing else will work either: returning drops the copies in flight (a
                // temp one leaves is named by our pid: a later command sweeps it).
                remove_staged(&staged);
                return Err(cx.remote_err(e));
            }
            Err((p, m, e)) => {
                failed.get_or_insert_with(|| miss(cx, &named(cx, &p, &m), e));
            }
        }
    }
    if !missing.is_empty() {
        remove_staged(&staged);
        missing.sort();
        return Err(cx.missing(missing));
    }
    if let Some(e) = failed {
        remove_staged(&staged);
        return Err(e);
    }
    Ok((staged, entries))
}

fn remove_staged(staged: &[(PathBuf, Digest)]) {
    for (t, _) in staged {
        let _ = std::fs::remove_file(t);
    }
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
        Miss::Local(e) => ImportError::Local(e),
        Miss::Remote(e) => cx.remote_err(e),
    }
}

async fn read_listing(remote: &Remote, md5: &str, legacy: bool) -> Result<Vec<u8>, Miss> {
    for key in dvc_keys(md5, legacy) {
        if let Some(b) = remote
            .read_raw(&key, LISTING_MAX)
            .await
            .map_err(remote_miss)?
        {
            return Ok(b);
        }
    }
    Err(Miss::Missing)
}

/// Copies DVC object `md5` to a new temp file in `tmp_dir` and checks its md5 (`legacy`:
/// DVC 2's text hash is accepted too); its blake3 and size.
async fn copy_dvc(
    remote: &Remote,
    md5: &str,
    legacy: bool,
    tmp_dir: &Path,
    progress: &Progress,
) -> Result<(PathBuf, Digest, u64), Miss> {
    let tmp = pipe_cache::fsutil::unique_path(tmp_dir, &md5[..8]);
    let fail = |tmp: &Path, m: Miss| {
        let _ = std::fs::remove_file(tmp);
        m
    };
    let bytes = |n: u64| progress(n, 0);
    let mut got = None;
    let mut at = String::new();
    for key in dvc_keys(md5, legacy) {
        match remote.download_raw(&key, &tmp, &bytes).await {
            Ok(Some(x)) => {
                got = Some(x);
                at = key;
                break;
            }
            Ok(None) => {}
            Err(e) => return Err(fail(&tmp, remote_miss(e))),
        }
    }
    let Some((d, n)) = got else {
        return Err(Miss::Missing);
    };
    let (t, m) = (tmp.clone(), md5.to_string());
    let checked = tokio::task::spawn_blocking(move || check_md5(&t, &m, legacy))
        .await
        .map_err(|e| {
            Miss::Local(pipe_cache::Error::io(
                "check",
                &tmp,
                std::io::Error::other(e),
            ))
        })
        .and_then(|r| r);
    match checked {
        Ok(true) => {}
        Ok(false) => {
            return Err(fail(
                &tmp,
                Miss::Corrupt(format!(
                    "`{at}` on remote `{}` does not hash to md5 {md5}",
                    remote.name()
                )),
            ));
        }
        Err(m) => return Err(fail(&tmp, m)),
    }
    progress(0, 1);
    Ok((tmp, d, n))
}

/// Whether the file at `tmp` hashes to `md5` (`legacy`: or to DVC 2's text hash of it).
fn check_md5(tmp: &Path, md5: &str, legacy: bool) -> Result<bool, Miss> {
    let mut f =
        std::fs::File::open(tmp).map_err(|e| Miss::Local(pipe_cache::Error::io("open", tmp, e)))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => h.update(&buf[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Miss::Local(pipe_cache::Error::io("read", tmp, e))),
        }
    }
    if hex::encode(h.finalize()) == md5 {
        return Ok(true);
    }
    Ok(legacy
        && crate::dvc::md5::file_md5(tmp)
            .ok()
            .and_then(|(_, u)| u)
            .as_deref()
            == Some(md5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_looked_for_where_their_dvc_version_put_them_first() {
        let m = "d41d8cd98f00b204e9800998ecf8427e";
        assert_eq!(
            dvc_keys(m, false),
            [
                "files/md5/d4/1d8cd98f00b204e9800998ecf8427e".to_string(),
                "d4/1d8cd98f00b204e9800998ecf8427e".to_string()
            ]
        );
        assert_eq!(dvc_keys(m, true)[0], "d4/1d8cd98f00b204e9800998ecf8427e");
    }
}
