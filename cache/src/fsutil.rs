//! Small filesystem helpers with paths in their errors: atomic writes, flushing what was
//! written (and only that), unique temp names, read-only marking.
//!
//! Flushing many new files: `flush_files` runs `fdatasync` on each, `FLUSH_THREADS` at a
//! time on threads of its own (the calls wait on the disk, not the CPU, so more of them in
//! flight than there are cores lets the filesystem group their journal commits; never on
//! the async runtime's threads or rayon's). `start_writeback` asks the kernel to begin
//! writing a file's pages early, so a batch's data is in flight before its first flush
//! waits. `sync_dirs` then makes renames durable. Nothing here flushes what other
//! processes wrote: `syncfs` remains only as the old path a benchmark can select
//! (`PIPE_BENCH_SYNCFS=1`), to measure against.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// Writes `bytes` to the new file `path`; a failed write (a full disk) removes what it
/// wrote, so that a partial temp file takes no space from the next write.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|e| {
        let _ = fs::remove_file(path);
        Error::io("write", path, e)
    })
}

/// Flushes every dirty page of the filesystem holding `path`, whoever wrote it. Not used
/// by pipe itself (its cost is everything the machine has written); kept for
/// `bench/commit.sh`, which measures it against `flush_files` (see `bench_syncfs`).
pub fn syncfs(path: &Path) -> Result<()> {
    let f = File::open(path).at("open", path)?;
    rustix::fs::syncfs(&f).map_err(|e| Error::io("sync", path, e.into()))
}

/// Whether this process was asked (by `PIPE_BENCH_SYNCFS=1`, for `bench/commit.sh` only)
/// to flush a commit the old way: one `syncfs` of the whole filesystem before the renames,
/// instead of a flush of each new file and directory.
pub fn bench_syncfs() -> bool {
    static OLD: OnceLock<bool> = OnceLock::new();
    *OLD.get_or_init(|| std::env::var_os("PIPE_BENCH_SYNCFS").is_some_and(|v| v == "1"))
}

/// At most this many flushes in flight at once.
const FLUSH_THREADS: usize = 64;

/// Asks the kernel to start writing `file`'s dirty pages now, without waiting, so that the
/// `fdatasync` that follows finds them written or under way. (It is `POSIX_FADV_DONTNEED`,
/// the one safe call that starts write-back: pages that are dirty or being written stay
/// cached; a page written back earlier may be dropped and read again from disk if needed.)
/// Best effort: an error here only means the flush does the writing.
pub fn start_writeback(file: &File) {
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
}

/// Makes the data of every file in `paths` durable (`fdatasync`: the bytes and what is
/// needed to read them back, such as the size). Runs up to `FLUSH_THREADS` at once on
/// threads of its own; the first error is returned after the others finished. With more
/// files than that, write-back of all of them is started first (`start_writeback`), so
/// the disk sees the whole batch at once instead of `FLUSH_THREADS` files at a time.
pub fn flush_files(paths: &[PathBuf]) -> Result<()> {
    if paths.len() > FLUSH_THREADS {
        run_wide(paths, |p| {
            if let Ok(f) = File::open(p) {
                start_writeback(&f);
            }
            Ok(())
        })?;
    }
    run_wide(paths, |p| {
        let f = File::open(p).at("open", p)?;
        f.sync_data().at("sync", p)
    })
}

/// Makes the entries of each directory in `dirs` durable (`fsync` on the directory): a
/// rename into it, a file or subdirectory created in it.
pub fn sync_dirs(dirs: &BTreeSet<PathBuf>) -> Result<()> {
    let dirs: Vec<PathBuf> = dirs.iter().cloned().collect();
    run_wide(&dirs, |d| {
        let f = File::open(d).at("open", d)?;
        f.sync_all().at("sync directory", d)
    })
}

/// Runs `f` on every path, on up to `FLUSH_THREADS` scoped threads (one path: on this
/// thread). Returns the first error.
fn run_wide(paths: &[PathBuf], f: impl Fn(&Path) -> Result<()> + Sync) -> Result<()> {
    if paths.len() <= 1 {
        return paths.iter().try_for_each(|p| f(p));
    }
    let next = AtomicUsize::new(0);
    let first_err: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(p) = paths.get(i) else { break };
            if let Err(e) = f(p)
                && let Ok(mut slot) = first_err.lock()
            {
                slot.get_or_insert(e);
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..paths.len().min(FLUSH_THREADS) {
            s.spawn(work);
        }
        work();
    });
    match first_err.into_inner() {
        Ok(Some(e)) => Err(e),
        Ok(None) => Ok(()),
        Err(poisoned) => poisoned.into_inner().map_or(Ok(()), Err),
    }
}

/// A name no other process or thread will pick, under `dir`.
pub fn unique_path(dir: &Path, tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".pipe-tmp-{}-{n}-{tag}", std::process::id()))
}

/// Clears the write bits of a file (keeping exec bits as they are), through a descriptor
/// opened without following a link: a link put at `path` is refused, never what it
/// points at chmodded.
pub fn make_read_only(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .at("open", path)?;
    let meta = f.metadata().at("stat", path)?;
    if !meta.is_file() {
        return Err(Error::invalid(path, "is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o7777;
    let ro = mode & !0o222;
    if ro != mode {
        crate::rootdir::set_mode(&f, ro).at("chmod", path)?;
    }
    Ok(())
}

/// Creates `dst` (which must not exist) sharing the extents of the open file `src`
/// (`FICLONE`: a reflink), with `mode`. A filesystem that cannot clone answers
/// `EOPNOTSUPP`, `EXDEV` or `EINVAL`; nothing is left at `dst` on an error.
pub fn clone_file(src: &File, dst: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)?;
    let r = rustix::fs::ioctl_ficlone(&to, src)
        .map_err(std::io::Error::from)
        .and_then(|()| crate::rootdir::set_mode(&to, mode));
    if r.is_err() {
        let _ = fs::remove_file(dst);
    }
    r
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushing_many_files_reports_the_one_that_failed() {
        let d = tempfile::tempdir().unwrap();
        // More files than flush threads, so write-back is started first.
        let mut paths: Vec<PathBuf> = (0..FLUSH_THREADS * 2 + 1)
            .map(|i| {
                let p = d.path().join(format!("f{i}"));
                fs::write(&p, i.to_string()).unwrap();
                p
            })
            .collect();
        flush_files(&paths).unwrap();
        let dirs: BTreeSet<PathBuf> = [d.path().to_path_buf()].into();
        sync_dirs(&dirs).unwrap();
        let gone = d.path().join("gone");
        paths.insert(FLUSH_THREADS, gone.clone());
        let e = flush_files(&paths).unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(e.to_string().contains(&*gone.to_string_lossy()), "{e}");
        let e = sync_dirs(&[gone.clone()].into()).unwrap_err();
        assert!(e.to_string().contains("gone"), "{e}");
    }
}
