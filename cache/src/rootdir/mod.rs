//! A directory opened once, through which every file operation on what lies beneath it
//! goes, so that none can leave it whatever links lie in between.
//!
//! pipe writes, moves, removes and links files in the workspace: checkouts, restores, the
//! backups of a run, the temps of those. A path such as `sub/out.txt` is only a name: if
//! `sub` is a symbolic link to `/elsewhere`, `open("ws/sub/out.txt")` writes
//! `/elsewhere/out.txt`. A check before the write (`canonicalize`, then write) is a race and
//! must be repeated by every caller. Instead, a [`RootDir`] holds a file descriptor of the
//! directory and resolves every path *beneath it* in the kernel:
//!
//! 1. The directory holding the entry (`sub` of `sub/out.txt`) is opened with
//!    `openat2(root, "sub", RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the kernel follows
//!    links only while they stay beneath the root; a link that leads out (`sub ->
//!    /elsewhere`, `sub -> ../..`), an absolute link, and `/proc` magic links fail with
//!    `EXDEV`, atomically with the lookup (no window between a check and the use).
//! 2. The operation acts on the last name relative to that descriptor, never following a
//!    link there: `openat(O_NOFOLLOW | O_EXCL)`, `renameat`, `renameat2(RENAME_EXCHANGE)`,
//!    `unlinkat`, `mkdirat`, `linkat` without `AT_SYMLINK_FOLLOW`, `symlinkat`. A mode is
//!    changed with `fchmod` on a descriptor pipe opened itself (never a path-based chmod,
//!    which follows links), and a tree is removed through descriptors, so a link inside
//!    it is removed as a link.
//!
//! An `EXDEV` is diagnosed by walking the path again one name at a time, which names the
//! link and its target in the error ([`Error::Escapes`]).
//!
//! ## Links inside the root
//!
//! A relative link that stays beneath the root (`sub -> data`) is followed: that is how
//! a workspace keeps a big directory elsewhere in itself, and storing an out already
//! follows such links (`walk`), so a checkout that refused them would write nothing a run
//! could not. An absolute link is refused even when it names a place inside: the workspace
//! moves (a clone, a CI checkout), and an absolute link then leads somewhere else.
//!
//! ## `openat2` or a capability crate
//!
//! Two ways give this guarantee in Rust. `cap-std` (a `Dir` type with `std::fs`'s methods)
//! does on Linux what this module does: `openat2` with `RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS`, and on a kernel without it a walk one name at a time in user
//! space. It is portable (macOS, Windows), but it adds nine crates (cap-std 4.0.3,
//! cap-primitives, ambient-authority, fs-set-times, io-extras, io-lifetimes in two
//! versions, maybe-owned, rustix-linux-procfs), and lacks what pipe needs on top: reflinks
//! (`FICLONE`) into the root, hard links from a cache outside it, `RENAME_EXCHANGE`, temp
//! names pipe can prove it made. pipe runs on Linux only (its executors, `flock` leases and
//! reflinks are Linux's), so this module makes the same syscalls through rustix, already a
//! dependency.
//!
//! | | `openat2` + `RESOLVE_BENEATH` (this module) | `cap-std` |
//! |---|---|---|
//! | this kernel (6.18) | one `openat2` per directory opened; the operation on the last name relative to it | the same |
//! | a kernel without `openat2` (< 5.6, or a seccomp filter answering `ENOSYS`/`EPERM`; probed once per process) | a walk one name at a time: `fstatat` + `openat(O_NOFOLLOW)` per name, a link read and its target walked the same way, `..` popped from the walk's own stack | the same kind of walk |
//! | opening `a/b/c` (release build, 4 runs) | 2.0-3.8 µs; a plain, unconfined `openat`: 1.8-4.4 µs | `Dir::open_dir`: 2.1-4.2 µs |
//! | the walk (debug build) | 27-32 µs, 6-8 times `openat2` | not measured |
//! | dependencies | none new (rustix's `fs` feature) | 9 crates |
//!
//! (The three are one cost within the spread, which is the noise of a shared machine.
//! Measured on it, 200 000 opens each, by
//! `cargo test -p pipe-cache --lib rootdir::tests::open_cost -- --ignored --nocapture` and
//! a scratch crate timing cap-std's `Dir::open_dir` the same way. A checkout opens one
//! directory per out (a tree: one per directory in it), so the cost is lost in the copy or
//! link of the file itself.)
//!
//! ## Temps and their journal
//!
//! A checkout writes a temp beside its destination (`.pipe-tmp-<pid>-<n>-<tag>`, on the
//! same filesystem, so a rename puts it in place) and swaps it in. A process killed
//! meanwhile leaves the temp; the next command removes it. So that it removes only what pipe
//! made, a root opened [`RootDir::with_journal`] writes the directory of each temp (once
//! per directory and process) to `<journal dir>/temps-<pid>` before creating the temp. The
//! lease of that pid (see `lease`) tells whether the process is alive; a dead one's journal
//! is read by [`RootDir::sweep_journal`], and in each directory it names only entries
//! named `.pipe-tmp-<pid>-…` are removed (through this handle: a directory that became a
//! link out of the root is not entered).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

mod journal;
mod resolve;

pub use journal::journal_name;
use journal::{Journal, list_fd};
use resolve::{Fail, open_beneath, openat2_works};

/// Prefix of every temp name pipe makes beside a destination.
pub const TEMP_PREFIX: &str = ".pipe-tmp-";

/// A directory, opened; every path given to its methods is resolved beneath it (see the
/// module docs). Paths are relative, `/`-separated, without `.` or `..`.
#[derive(Debug, Clone)]
pub struct RootDir {
    fd: Arc<OwnedFd>,
    /// Its path, for messages only (never opened again).
    path: PathBuf,
    /// The directory it was opened beneath first ([`RootDir::open`]), for messages, and
    /// this one's path relative to it (`""` for that one).
    top: Arc<PathBuf>,
    prefix: String,
    journal: Option<Arc<Journal>>,
    /// Walk names one at a time instead of `openat2` (a kernel without it; tests).
    manual: bool,
}

/// What a path is, not following a link at its end.
#[derive(Debug, Clone)]
pub struct Entry {
    pub meta: std::fs::Metadata,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.meta.is_dir()
    }
    pub fn is_file(&self) -> bool {
        self.meta.is_file()
    }
    pub fn is_symlink(&self) -> bool {
        self.meta.file_type().is_symlink()
    }
}

impl RootDir {
    /// Opens directory `path` (following links to it: the root is what the caller chose).
    pub fn open(path: &Path) -> Result<RootDir> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open directory", path, e.into()))?;
        let manual = !openat2_works(fd.as_fd());
        Ok(RootDir {
            fd: Arc::new(fd),
            path: path.to_path_buf(),
            top: Arc::new(path.to_path_buf()),
            prefix: String::new(),
            journal: None,
            manual,
        })
    }

    /// As `open`, walking names one at a time as on a kernel without `openat2` (the tests
    /// run every case both ways; `cache/examples/rootdir_cost.rs` times both).
    pub fn open_walking(path: &Path) -> Result<RootDir> {
        let mut d = RootDir::open(path)?;
        d.manual = true;
        Ok(d)
    }

    /// This root, recording the directory of every temp it creates in `dir` (relative to
    /// it, created if needed), where [`RootDir::sweep_journal`] finds them.
    pub fn with_journal(mut self, dir: &str) -> Result<RootDir> {
        let d = self.subdir(dir, true)?;
        self.journal = Some(Arc::new(Journal::new(
            self.fd.clone(),
            self.manual,
            d.fd,
            d.path,
        )));
        Ok(self)
    }

    /// The directory's path (for messages and for code that only reads).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rel`'s path (for messages).
    pub fn abs(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    /// The directory `rel` beneath this one, as a root of its own (links that stay beneath
    /// this one are followed). With `create`, missing directories are made.
    pub fn subdir(&self, rel: &str, create: bool) -> Result<RootDir> {
        self.check_rel(rel)?;
        self.dir_at(rel, create, if create { "write in" } else { "open" }, rel)
    }

    /// Makes directory `rel` and its missing parents.
    pub fn create_dir_all(&self, rel: &str) -> Result<()> {
        self.subdir(rel, true).map(drop)
    }

    /// The parent directory of `rel` (made with `create`), and `rel`'s last name; for an
    /// operation `op` on `rel` ("write", "move aside"), which an error names when the
    /// directory leads out of this root.
    pub fn parent<'r>(
        &self,
        rel: &'r str,
        create: bool,
        op: &'static str,
    ) -> Result<(RootDir, &'r str)> {
        self.check_rel(rel)?;
        let (dir, name) = split(rel);
        if name.is_empty() {
            return Err(Error::invalid(self.abs(rel), "names no entry"));
        }
        Ok((self.dir_at(dir, create, op, rel)?, name))
    }

    /// Directory `dir` opened beneath this one (made with `create`), for operation `op` on
    /// `rel` (`dir` or a path in it), which an error names.
    fn dir_at(&self, dir: &str, create: bool, op: &'static str, rel: &str) -> Result<RootDir> {
        if dir.is_empty() {
            return Ok(self.clone());
        }
        let fd = match self.open_dir(dir) {
            Ok(fd) => fd,
            Err(f) if create && f.errno() == Some(Errno::NOENT) => self
                .create_dirs(dir)
                .map_err(|f| self.error(op, "create directory", rel, dir, f))?,
            Err(f) => return Err(self.error(op, "open directory", rel, dir, f)),
        };
        Ok(RootDir {
            fd: Arc::new(fd),
            path: self.abs(dir),
            top: self.top.clone(),
            prefix: join(&self.prefix, dir),
            journal: self.journal.clone(),
            manual: self.manual,
        })
    }

    /// What `rel` is (a link at its end not followed); `None` when nothing is there, or a
    /// directory on the way is missing.
    pub fn entry(&self, rel: &str) -> Result<Option<Entry>> {
        let (dir, name) = match self.parent(rel, false, "stat") {
            Ok(x) => x,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        dir.entry_in(name)
            .map_err(|e| Error::io("stat", self.abs(rel), e))
    }

    /// Removes `rel`: a file, a link (not what it points at) or a whole tree (never
    /// following a link inside it). `false` when nothing was there.
    pub fn remove(&self, rel: &str) -> Result<bool> {
        let (dir, name) = match self.parent(rel, false, "remove") {
            Ok(x) => x,
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e),
        };
        match remove_at(dir.fd.as_fd(), OsStr::new(name)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove", self.abs(rel), e)),
        }
    }

    /// Moves `from` to `to` (replacing a file there), both beneath this root; `to`'s
    /// directory must exist.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (fd, fname) = self.parent(from, false, "move")?;
        let (td, tname) = self.parent(to, false, "move")?;
        rustix::fs::renameat(fd.fd.as_fd(), fname, td.fd.as_fd(), tname)
            .map_err(|e| Error::io("move", self.abs(from), e.into()))
    }

    /// Opens `rel` for reading (a link at its end is refused).
    pub fn open_file(&self, rel: &str) -> Result<File> {
        let (dir, name) = self.parent(rel, false, "open")?;
        dir.open_in(name, OFlags::RDONLY, 0)
            .map_err(|e| Error::io("open", self.abs(rel), e))
    }

    /// Writes `bytes` to `rel` through a temp beside it and a rename (as
    /// `fsutil::write_atomic` does), never through a link. A new file gets the mode the
    /// umask gives; a file replaced keeps its mode.
    pub fn write_atomic(&self, rel: &str, bytes: &[u8], durable: bool) -> Result<()> {
        let (dir, name) = self.parent(rel, true, "write")?;
        let tmp = dir.temp_name("w")?;
        let old_mode = dir
            .entry_in(name)
            .ok()
            .flatten()
            .filter(Entry::is_file)
            .map(|e| std::os::unix::fs::PermissionsExt::mode(&e.meta.permissions()) & 0o7777);
        let written = (|| -> io::Result<()> {
            let mut f = dir.open_in(&tmp, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL, 0o666)?;
            if let Some(m) = old_mode {
                set_mode(&f, m)?;
            }
            f.write_all(bytes)?;
            if durable {
                f.sync_data()?;
            }
            Ok(())
        })();
        if let Err(e) = written {
            let _ = dir.remove_in(&tmp);
            return Err(Error::io("write", self.abs(rel), e));
        }
        let r = dir.replace(&tmp, name);
        if r.is_err() {
            let _ = dir.remove_in(&tmp);
        }
        r
    }

    /// Opens `rel` for reading and writing, created (empty) when missing, to hold a flock
    /// on (a link at its end is refused).
    pub fn lock_file(&self, rel: &str) -> Result<File> {
        let (dir, name) = self.parent(rel, true, "write")?;
        dir.open_in(name, OFlags::RDWR | OFlags::CREATE, 0o666)
            .map_err(|e| Error::io("open", self.abs(rel), e))
    }

    /// Writes `bytes` to `rel` only if nothing is there: written whole under a temp name,
    /// then renamed into place without replacing (`RENAME_NOREPLACE`, else a hard link), so
    /// that of two processes creating it at once one wins and the other reads what it
    /// wrote. `false` when `rel` was there (it is left as it is).
    pub fn write_new(&self, rel: &str, bytes: &[u8]) -> Result<bool> {
        let (dir, name) = self.parent(rel, true, "write")?;
        let tmp = dir.temp_name("n")?;
        let written = (|| -> io::Result<()> {
            let mut f = dir.open_in(&tmp, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL, 0o666)?;
            f.write_all(bytes)?;
            f.sync_data()
        })();
        let placed = written.and_then(|()| {
            let fd = dir.fd.as_fd();
            match rustix::fs::renameat_with(fd, &tmp, fd, name, RenameFlags::NOREPLACE) {
                Ok(()) => Ok(true),
                Err(Errno::EXIST) => Ok(false),
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                    match rustix::fs::linkat(fd, &tmp, fd, name, AtFlags::empty()) {
                        Ok(()) => Ok(true),
                        Err(Errno::EXIST) => Ok(false),
                        Err(e) => Err(e.into()),
                    }
                }
                Err(e) => Err(e.into()),
            }
        });
        // Renamed: gone already; linked, or not placed: removed here.
        let _ = dir.remove_in(&tmp);
        placed.map_err(|e| Error::io("write", self.abs(rel), e))
    }

    // ---- operations on one name in this directory (no `/` in `name`) ----

    /// A new temp name in this directory that no other process or thread will pick; with a
    /// journal, this directory is recorded there first (see the module docs).
    pub fn temp_name(&self, tag: &str) -> Result<String> {
        static N: AtomicU64 = AtomicU64::new(0);
        if let Some(j) = &self.journal {
            j.note(&self.prefix)?;
        }
        let n = N.fetch_add(1, Ordering::Relaxed);
        Ok(format!("{TEMP_PREFIX}{}-{n}-{tag}", std::process::id()))
    }

    /// What `name` is, not following a link.
    pub fn entry_in(&self, name: &str) -> io::Result<Option<Entry>> {
        match self.open_in(name, OFlags::PATH, 0) {
            Ok(f) => Ok(Some(Entry {
                meta: f.metadata()?,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens `name` with `flags` (`O_NOFOLLOW` and `O_CLOEXEC` added; `mode` for a new
    /// file).
    pub fn open_in(&self, name: &str, flags: OFlags, mode: u32) -> io::Result<File> {
        check_name(name)?;
        let fd = rustix::fs::openat(
            self.fd.as_fd(),
            name,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )?;
        Ok(File::from(fd))
    }

    /// Makes directory `name` here.
    pub fn mkdir_in(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        rustix::fs::mkdirat(self.fd.as_fd(), name, Mode::from_raw_mode(0o777))?;
        Ok(())
    }

    /// Hard-links file `src` (a path outside this root, e.g. a cache object; a link at its
    /// end is not followed) as `name`.
    pub fn hard_link_in(&self, src: &Path, name: &str) -> io::Result<()> {
        check_name(name)?;
        rustix::fs::linkat(
            rustix::fs::CWD,
            src,
            self.fd.as_fd(),
            name,
            AtFlags::empty(),
        )?;
        Ok(())
    }

    /// Makes `name` a symbolic link to `target`.
    pub fn symlink_in(&self, target: &Path, name: &str) -> io::Result<()> {
        check_name(name)?;
        rustix::fs::symlinkat(target, self.fd.as_fd(), name)?;
        Ok(())
    }

    /// Creates `name` (which must not exist) sharing `src`'s extents (`FICLONE`), with
    /// `mode`. A filesystem that cannot clone answers `EOPNOTSUPP`/`EXDEV`/`EINVAL`.
    pub fn reflink_in(&self, src: &File, name: &str, mode: u32) -> io::Result<File> {
        let dst = self.open_in(name, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL, 0o600)?;
        let cloned = rustix::fs::ioctl_ficlone(&dst, src)
            .map_err(io::Error::from)
            .and_then(|()| set_mode(&dst, mode));
        if let Err(e) = cloned {
            let _ = rustix::fs::unlinkat(self.fd.as_fd(), name, AtFlags::empty());
            return Err(e);
        }
        Ok(dst)
    }

    /// Creates `name` (which must not exist) holding a copy of `src`'s bytes (the kernel
    /// copies: `copy_file_range`), with `mode`. A failed copy removes what it wrote.
    pub fn copy_in(&self, src: &mut File, name: &str, mode: u32) -> io::Result<File> {
        let mut dst = self.open_in(name, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL, 0o600)?;
        let copied = io::copy(src, &mut dst).and_then(|_| set_mode(&dst, mode));
        if let Err(e) = copied {
            let _ = rustix::fs::unlinkat(self.fd.as_fd(), name, AtFlags::empty());
            return Err(e);
        }
        Ok(dst)
    }

    /// Removes `name` here (a tree through descriptors).
    pub fn remove_in(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        remove_at(self.fd.as_fd(), OsStr::new(name))
    }

    /// Puts `tmp` (a file or a tree in this directory) in `name`'s place, and removes what
    /// was there. `name` is never missing on the way: the two are exchanged atomically
    /// (`RENAME_EXCHANGE`), or a file renamed over a file; a filesystem without the
    /// exchange gets two renames, the first undone when the second fails. On an error
    /// `name` holds what it held and `tmp` is left to the caller.
    pub fn replace(&self, tmp: &str, name: &str) -> Result<()> {
        check_name(tmp)
            .and_then(|()| check_name(name))
            .map_err(|e| Error::io("replace", self.abs(name), e))?;
        let fd = self.fd.as_fd();
        let is_dir = |n: &str| {
            rustix::fs::statat(fd, n, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
            })
        };
        if !is_dir(tmp) && !is_dir(name) {
            match rustix::fs::renameat(fd, tmp, fd, name) {
                Ok(()) => return Ok(()),
                // A directory appeared in the way meanwhile: exchange below.
                Err(Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST | Errno::NOTDIR) => {}
                Err(e) => return Err(Error::io("replace", self.abs(name), e.into())),
            }
        }
        match rustix::fs::renameat_with(fd, tmp, fd, name, RenameFlags::EXCHANGE) {
            Ok(()) => {
                // `tmp` holds the old content now.
                if let Err(e) = remove_at(fd, OsStr::new(tmp)) {
                    tracing::debug!(
                        "cannot remove the old content of {} ({e}); the next command sweeps it",
                        self.abs(name).display()
                    );
                }
                Ok(())
            }
            Err(Errno::NOENT) if self.entry_in(name).ok().flatten().is_none() => {
                rustix::fs::renameat(fd, tmp, fd, name)
                    .map_err(|e| Error::io("replace", self.abs(name), e.into()))
            }
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => self.replace_in_two(tmp, name),
            Err(e) => Err(Error::io("replace", self.abs(name), e.into())),
        }
    }

    /// `replace` without `RENAME_EXCHANGE`: `name` moves aside, `tmp` takes its place;
    /// when that fails, `name` is moved back.
    fn replace_in_two(&self, tmp: &str, name: &str) -> Result<()> {
        let fd = self.fd.as_fd();
        let old = self.temp_name("old")?;
        let had_old = match rustix::fs::renameat(fd, name, fd, &old) {
            Ok(()) => true,
            Err(Errno::NOENT) => false,
            Err(e) => return Err(Error::io("move aside", self.abs(name), e.into())),
        };
        if let Err(e) = rustix::fs::renameat(fd, tmp, fd, name) {
            if had_old && let Err(back) = rustix::fs::renameat(fd, &old, fd, name) {
                return Err(Error::invalid(
                    self.abs(name),
                    format!(
                        "cannot be replaced ({e}), and its old content cannot be put back from {} ({back})",
                        self.abs(&old).display()
                    ),
                ));
            }
            return Err(Error::io("replace", self.abs(name), e.into()));
        }
        if had_old && let Err(e) = remove_at(fd, OsStr::new(&old)) {
            tracing::debug!(
                "cannot remove {} ({e}); the next command sweeps it",
                self.abs(&old).display()
            );
        }
        Ok(())
    }

    // ---- resolution ----

    /// Opens directory `rel` beneath the root, following links that stay beneath it.
    fn open_dir(&self, rel: &str) -> Result<OwnedFd, Fail> {
        open_beneath(self.fd.as_fd(), rel, self.manual)
    }

    /// Makes the missing directories of `rel`, each opened beneath the root after it is
    /// made (a link put in its place meanwhile is resolved like any other).
    fn create_dirs(&self, rel: &str) -> Result<OwnedFd, Fail> {
        let names: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        // The deepest directory that is there.
        let mut have = 0;
        let mut fd = self.fd.try_clone()?;
        for i in (1..=names.len()).rev() {
            match self.open_dir(&names[..i].join("/")) {
                Ok(f) => {
                    fd = f;
                    have = i;
                    break;
                }
                Err(f) if f.errno() == Some(Errno::NOENT) => {}
                Err(f) => return Err(f),
            }
        }
        for i in have..names.len() {
            match rustix::fs::mkdirat(&fd, names[i], Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            fd = self.open_dir(&names[..=i].join("/"))?;
        }
        Ok(fd)
    }

    /// The error of operation `op` on `rel`, which failed resolving `at` (`rel` or a
    /// directory above it) while doing `io_op`.
    fn error(&self, op: &'static str, io_op: &'static str, rel: &str, at: &str, f: Fail) -> Error {
        match f {
            Fail::Io(e) => Error::io(io_op, self.abs(at), e),
            Fail::Escape { link, target } => Error::Escapes {
                op,
                path: join(&self.prefix, rel),
                link: join(&self.prefix, &link),
                target,
                root: (*self.top).clone(),
            },
        }
    }

    fn check_rel(&self, rel: &str) -> Result<()> {
        if rel.starts_with('/') || rel.split('/').any(|c| c == ".." || c == ".") {
            return Err(Error::invalid(
                self.abs(rel.trim_start_matches('/')),
                format!("`{rel}` is not a path beneath {}", self.path.display()),
            ));
        }
        Ok(())
    }

    /// The names in this directory.
    pub fn list(&self) -> io::Result<Vec<String>> {
        list_fd(self.fd.as_fd())
    }
}

/// Removes `name` in `dir`: unlinked if it is no directory, else emptied through
/// descriptors (a link inside is removed as a link, never followed) and removed.
fn remove_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(e.into()),
    }
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for e in rustix::fs::Dir::read_from(&fd)? {
        let e = e?;
        let b = e.file_name().to_bytes();
        if b == b"." || b == b".." {
            continue;
        }
        match remove_at(fd.as_fd(), OsStr::from_bytes(b)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// Sets the mode of the file pipe opened (never a path: a path-based chmod follows links).
pub fn set_mode(f: &File, mode: u32) -> io::Result<()> {
    rustix::fs::fchmod(f, Mode::from_raw_mode(mode))?;
    Ok(())
}

fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a name in a directory"),
        ));
    }
    Ok(())
}

/// `dir/name` split at the last `/`.
fn split(rel: &str) -> (&str, &str) {
    match rel.trim_end_matches('/').rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", rel.trim_end_matches('/')),
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

#[cfg(test)]
mod tests;
