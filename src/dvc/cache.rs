//! DVC's local cache (`.dvc/cache/files/md5/ab/cdef...`, DVC 2: `.dvc/cache/ab/cdef...`).
//!
//! Where a workspace out is missing but DVC's cache holds it, the importer copies it back
//! from there (each object verified by md5 on the way), so the out is restorable without
//! rerunning its stage; it is then hashed and cached by pipe like any out. The copy is
//! written through the workspace's root (`Workspace::dir`): an out whose directory is a
//! link out of the project is refused, never written through.

use std::path::{Path, PathBuf};

use pipe_cache::RootDir;

use super::md5;

/// The path of an object in DVC's cache, if it is there.
pub fn object(root: &Path, md5: &str) -> Option<PathBuf> {
    if md5.len() < 3 {
        return None;
    }
    let (a, b) = md5.split_at(2);
    [
        root.join(".dvc/cache/files/md5").join(a).join(b),
        root.join(".dvc/cache").join(a).join(b),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Materialises the content DVC recorded as `md5` at `rel` (beneath `dir`, the project
/// root `root` opened) from DVC's cache. Returns `Ok(false)` when the cache lacks an object
/// or holds a corrupt one (nothing is left at `rel` then).
///
/// Written through `dir` (a link that leads out of the project is refused) under a
/// journaled temp name beside `rel` (a killed import's is swept by the next command), and
/// put in place only when every file copied hashes to what DVC recorded.
pub fn restore(
    dir: &RootDir,
    root: &Path,
    md5_hex: &str,
    rel: &str,
) -> Result<bool, pipe_cache::Error> {
    let (parent, name) = dir.parent(rel, true, "write")?;
    let tmp = parent.temp_name("dvc")?;
    let filled = if let Some(dir_md5) = md5_hex.strip_suffix(".dir") {
        restore_dir(root, &parent, &tmp, md5_hex, dir_md5)
    } else {
        copy_verified(root, md5_hex, &parent, &tmp)
    };
    let placed = match filled {
        Ok(true) => parent.replace(&tmp, name).map(|()| true),
        other => other,
    };
    if !matches!(placed, Ok(true)) {
        let _ = parent.remove_in(&tmp);
    }
    placed
}

/// Fills the new directory `tmp` (in `parent`) with the files DVC's listing `md5_hex`
/// names.
fn restore_dir(
    root: &Path,
    parent: &RootDir,
    tmp: &str,
    md5_hex: &str,
    dir_md5: &str,
) -> Result<bool, pipe_cache::Error> {
    let Some(listing) = object(root, md5_hex) else {
        return Ok(false);
    };
    let bytes = std::fs::read(&listing).map_err(|e| pipe_cache::Error::io("read", &listing, e))?;
    if md5::bytes_md5(&bytes) != dir_md5 {
        return Ok(false);
    }
    let Some(entries) = md5::parse_listing(&bytes) else {
        return Ok(false);
    };
    parent
        .mkdir_in(tmp)
        .map_err(|e| pipe_cache::Error::io("create directory", parent.abs(tmp), e))?;
    let tree = parent.subdir(tmp, false)?;
    for e in &entries {
        if e.relpath
            .split('/')
            .any(|c| c == ".." || c == "." || c.is_empty())
        {
            return Ok(false);
        }
        let (d, file) = tree.parent(&e.relpath, true, "write")?;
        if !copy_verified(root, &e.md5, &d, file)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Copies DVC's object `md5_hex` to the new file `name` in `dir`; `false` (and nothing
/// left) when the object is missing or its copy does not hash to `md5_hex`.
fn copy_verified(
    root: &Path,
    md5_hex: &str,
    dir: &RootDir,
    name: &str,
) -> Result<bool, pipe_cache::Error> {
    let Some(src) = object(root, md5_hex) else {
        return Ok(false);
    };
    let mut from = std::fs::File::open(&src).map_err(|e| pipe_cache::Error::io("open", &src, e))?;
    dir.copy_in(&mut from, name, 0o644)
        .map_err(|e| pipe_cache::Error::io("write", dir.abs(name), e))?;
    let copied = dir.abs(name);
    let (got, _) = md5::file_md5(&copied).map_err(|e| pipe_cache::Error::io("read", &copied, e))?;
    if got != md5_hex {
        let _ = dir.remove_in(name);
        return Ok(false);
    }
    Ok(true)
}
