//! A DVC source: its directory remote laid out by md5; each file checked by md5, stored under blake3.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ::md5::{Digest as _, Md5};
use pipe_cache::remote::RemoteError;
use pipe_cache::remote::transfer::Progress;
use pipe_cache::{Digest, Store, Summary, manifest};
use rayon::prelude::*;

use super::{Cx, Fetched, Part, part, store_manifest};
use crate::import::error::ImportError;

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

pub(super) fn fetch_dvc(
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
        out.hash = store_manifest(store, entries)
            .map_err(|e| cx.corrupt(md5.to_string(), e.to_string()))?;
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
