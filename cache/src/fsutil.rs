//! Small filesystem helpers with paths in their errors: atomic writes, syncfs, unique
//! temp names, read-only marking.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, IoContext, Result};

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, so a
/// reader sees the old content or the new, never half. With `durable`, the data is on disk
/// before the rename.
pub fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).at("create directory", dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".pipe-tmp-")
        .tempfile_in(dir)
        .at("create a temp file in", dir)?;
    tmp.write_all(bytes).at("write", tmp.path())?;
    if durable {
        tmp.as_file().sync_data().at("sync", tmp.path())?;
    }
    tmp.persist(path)
        .map_err(|e| Error::io("replace", path, e.error))?;
    Ok(())
}

/// Flushes every dirty page of the filesystem holding `path` to disk: one call instead of
/// an fsync per file when many files were written.
pub fn syncfs(path: &Path) -> Result<()> {
    let f = File::open(path).at("open", path)?;
    rustix::fs::syncfs(&f).map_err(|e| Error::io("sync", path, e.into()))
}

/// A name no other process or thread will pick, under `dir`.
pub fn unique_path(dir: &Path, tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".pipe-tmp-{}-{n}-{tag}", std::process::id()))
}

/// Clears the write bits of a file (keeping exec bits as they are).
pub fn make_read_only(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).at("stat", path)?;
    let mode = meta.permissions().mode() & 0o7777;
    let ro = mode & !0o222;
    if ro != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(ro)).at("chmod", path)?;
    }
    Ok(())
}

/// Sets a file's mode to 0644, or 0755 when `exec`.
pub fn set_writable_mode(path: &Path, exec: bool) -> Result<()> {
    let mode = if exec { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).at("chmod", path)
}

/// Removes a file or a directory tree; a missing path is not an error. Read-only files
/// (hard links into the cache) are removed too: removal needs write access to the parent
/// directory only.
pub fn remove_path(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).at("remove", path),
        Ok(_) => fs::remove_file(path).at("remove", path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}
