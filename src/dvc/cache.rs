//! DVC's local cache (`.dvc/cache/files/md5/ab/cdef...`, DVC 2: `.dvc/cache/ab/cdef...`).
//!
//! Where a workspace out is missing but DVC's cache holds it, the importer copies it back
//! from there (each object verified by md5 on the way), so the out is restorable without
//! rerunning its stage; it is then hashed and cached by pipe like any out.

use std::path::{Path, PathBuf};

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

/// Materialises the content DVC recorded as `md5` at `dst` from DVC's cache. Returns
/// `Ok(false)` when the cache lacks an object or holds a corrupt one (nothing is left at
/// `dst` then).
pub fn restore(root: &Path, md5_hex: &str, dst: &Path) -> std::io::Result<bool> {
    if let Some(dir_md5) = md5_hex.strip_suffix(".dir") {
        let Some(listing) = object(root, md5_hex) else {
            return Ok(false);
        };
        let bytes = std::fs::read(&listing)?;
        if md5::bytes_md5(&bytes) != dir_md5 {
            return Ok(false);
        }
        let Some(entries) = md5::parse_listing(&bytes) else {
            return Ok(false);
        };
        let tmp = tmp_beside(dst);
        for e in &entries {
            if e.relpath.split('/').any(|c| c == ".." || c.is_empty()) {
                return Ok(false);
            }
            if !copy_verified(root, &e.md5, &tmp.join(&e.relpath))? {
                let _ = std::fs::remove_dir_all(&tmp);
                return Ok(false);
            }
        }
        std::fs::create_dir_all(&tmp)?;
        std::fs::rename(&tmp, dst)?;
        return Ok(true);
    }
    let tmp = tmp_beside(dst);
    if !copy_verified(root, md5_hex, &tmp)? {
        return Ok(false);
    }
    std::fs::rename(&tmp, dst)?;
    Ok(true)
}

fn tmp_beside(dst: &Path) -> PathBuf {
    let name = dst
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dst.with_file_name(format!(".{name}.pipe-import"))
}

fn copy_verified(root: &Path, md5_hex: &str, dst: &Path) -> std::io::Result<bool> {
    let Some(src) = object(root, md5_hex) else {
        return Ok(false);
    };
    if let Some(d) = dst.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::copy(&src, dst)?;
    let (got, _) = md5::file_md5(dst)?;
    if got != md5_hex {
        let _ = std::fs::remove_file(dst);
        return Ok(false);
    }
    Ok(true)
}
