//! Small filesystem helpers with paths in their errors: atomic writes, flushing what was
//! written (and only that), unique temp names, read-only marking, and the modes of a cache
//! shared by a group.
//!
//! Flushing many new files: `flush_files` runs `fdatasync` on each, `FLUSH_THREADS` at a
//! time on threads of its own (the calls wait on the disk, not the CPU, so more of them in
//! flight than there are cores lets the filesystem group their journal commits; never on
//! the async runtime's threads or rayon's). `start_writeback` asks the kernel to begin
//! writing a file's pages early, so a batch's data is in flight before its first flush
//! waits. `sync_dirs` then makes renames durable. Nothing here flushes what other
//! processes wrote: `syncfs` remains only as the old path a benchmark can select
//! (`PIPE_BENCH_SYNCFS=1`), to measure against.
//!
//! ## A cache shared by a group (`cache.shared = "group"`)
//!
//! Several users of one Unix group store in, read from and collect one cache. Everything
//! pipe creates there gets its mode set explicitly (never left to the creating user's
//! umask, which is usually 022 and would shut the group out):
//!
//! | what | mode | why |
//! |---|---|---|
//! | every directory (`objects/`, `objects/ab/`, `runs/…`, `tmp/`, `quarantine/`, `roots/`) | 2775 | the group creates and removes entries; setgid, so what is made in it belongs to the group |
//! | an object | 0444, 0555 for an executable's content | read-only for everyone, readable by the group |
//! | a run-cache record, `trusted` and its lock, a lease, the gate, a workspace's entry in `roots/`, the mark | 0664 | read, locked or replaced by any user of the group |
//!
//! A mode is set only on what this process created (changing another user's file is not
//! allowed, and not needed: each was given its mode by its creator). Without sharing,
//! modes are as before: directories and files by the umask, records private (0600).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::error::{Error, IoContext, Result};

/// Directory mode in a cache shared by a group: setgid, group-writable.
pub const SHARED_DIR_MODE: u32 = 0o2775;
/// Mode of a file in a cache shared by a group that the group reads, locks or replaces.
pub const SHARED_FILE_MODE: u32 = 0o664;

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, so a
/// reader sees the old content or the new, never half. With `durable`, the data is on disk
/// before the rename.
pub fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    write_atomic_mode(path, bytes, durable, None)
}

/// As [`write_atomic`]; with `mode`, the file gets it (whatever the umask) before it is
/// renamed into place, so no reader ever sees it with another.
pub fn write_atomic_mode(
    path: &Path,
    bytes: &[u8],
    durable: bool,
    mode: Option<u32>,
) -> Result<()> {
    write_atomic_as(
        path,
        bytes,
        durable,
        mode.map_or(Perm::Private, Perm::Exact),
    )
}

/// As [`write_atomic`], for a file that is the user's as much as pipe's (a lock file, an
/// experiment record: read by other tools, other users of a shared cache): a new one gets
/// the mode the umask gives any new file (0644 under the usual 022), a replaced one keeps
/// its mode. ([`write_atomic`] makes files private, 0600: right for a config that may hold
/// credentials, wrong for a committed lock file.)
pub fn write_file_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let perm = match fs::metadata(path) {
        Ok(m) if m.is_file() => Perm::Exact(m.permissions().mode() & 0o7777),
        _ => Perm::Umask,
    };
    write_atomic_as(path, bytes, durable, perm)
}

/// The mode of a file written atomically.
enum Perm {
    /// 0600.
    Private,
    /// 0666 less the umask.
    Umask,
    Exact(u32),
}

fn write_atomic_as(path: &Path, bytes: &[u8], durable: bool, perm: Perm) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).at("create directory", dir)?;
    let mut b = tempfile::Builder::new();
    b.prefix(".pipe-tmp-");
    if matches!(perm, Perm::Umask) {
        // Given to open(2), which applies the umask.
        b.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut tmp = b.tempfile_in(dir).at("create a temp file in", dir)?;
    let mode = match perm {
        Perm::Exact(m) => Some(m),
        _ => None,
    };
    tmp.write_all(bytes).at("write", tmp.path())?;
    if let Some(m) = mode {
        crate::rootdir::set_mode(tmp.as_file(), m).at("chmod", tmp.path())?;
    }
    if durable {
        tmp.as_file().sync_data().at("sync", tmp.path())?;
    }
    tmp.persist(path)
        .map_err(|e| Error::io("replace", path, e.error))?;
    Ok(())
}

/// Creates directory `dir` and its missing parents. With `shared_group`, each directory
/// this call made gets [`SHARED_DIR_MODE`] (see the module docs); one another process made
/// meanwhile is left as its maker set it.
pub fn create_dirs(dir: &Path, shared_group: bool) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dirs(parent, shared_group)?;
    }
    match fs::create_dir(dir) {
        Ok(()) if shared_group => {
            fs::set_permissions(dir, fs::Permissions::from_mode(SHARED_DIR_MODE)).at("chmod", dir)
        }
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io("create directory", dir, e)),
    }
}

/// Gives the file `f` (at `path`, which this process created) the mode a group needs when
/// `shared_group` ([`SHARED_FILE_MODE`]); nothing otherwise.
pub fn share_file(f: &File, path: &Path, shared_group: bool) -> Result<()> {
    if !shared_group {
        return Ok(());
    }
    crate::rootdir::set_mode(f, SHARED_FILE_MODE).at("chmod", path)
}

/// The mode of an object stored from a file of mode `mode`: its write bits cleared (the
/// exec bits kept, so an executable's content checks out executable); in a cache shared by
/// a group, readable by all: 0444, or 0555 for an executable's content.
pub fn object_mode(mode: u32, shared_group: bool) -> u32 {
    if !shared_group {
        return mode & 0o7777 & !0o222;
    }
    if mode & 0o111 != 0 { 0o555 } else { 0o444 }
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
    set_object_mode(path, false)
}

/// Gives the file at `path` its mode as an object ([`object_mode`]), through a descriptor
/// opened without following a link, as [`make_read_only`] does.
pub fn set_object_mode(path: &Path, shared_group: bool) -> Result<()> {
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
    let ro = object_mode(mode, shared_group);
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
