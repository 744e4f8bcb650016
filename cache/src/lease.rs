//! Leftovers of dead processes, and how a live process keeps its own from being swept.
//!
//! pipe names its temp files by its pid: `<cache>/tmp/.pipe-tmp-<pid>-…` (objects being
//! written), `.pipe/tmp/backup/<pid>-<n>/` (outs moved aside during a run),
//! `<dir>/clock-<pid>` (the filesystem-clock probe), `.pipe/tmp/temps-<pid>` (the
//! directories of its temps in the workspace, see `rootdir`). Only these exact shapes are
//! ever swept: a name that merely starts with digits (`12345-notes.txt`) is not pipe's. A process killed with `kill -9`
//! leaves them behind; the next command removes them, and must never remove a live
//! process's, even one whose pid is a dead one's reused.
//!
//! Every process holds a *lease* in each directory it leaves such files in: a shared
//! `flock` on `<dir>/live-<pid>`, taken before its first temp file and held until it exits
//! (the kernel drops it however the process ends). A sweep lists the entries that carry a
//! pid and, per pid, tries an exclusive lock on that pid's lease file without waiting. It
//! gets the lock only when no process holds the lease: the files' owner is gone. Holding
//! that lock it removes the files listed and the lease file. A new process that got the
//! dead one's pid waits for the sweep (its shared lock blocks), then finds its lease file
//! gone and takes a fresh one; a live process, whatever its pid's history, is never swept.
//! flock works across machines on NFS, so a cache shared over NFS is swept safely too.
//!
//! `pipe gc` needs the opposite guarantee: that no process it did not see is storing
//! objects. It closes a gate first (creates `<dir>/gate` and holds an exclusive flock on
//! it), then lists the live leases. A process takes its lease, then, if the gate exists,
//! waits for a shared flock on it: one whose lease gc listed is refused by gc, one whose
//! lease came after the listing finds the gate (it was closed before) and waits until gc is
//! done. gc removes the gate when it is done ([`Gate`]).
//!
//! ```text
//! <dir>/live-<pid>     a lease (empty file), held by a shared flock
//! <dir>/gate           only while gc works, held by its exclusive flock
//! ```
//!
//! In a cache shared by a group, the directory is made 2775 and both files 0664 (see
//! `fsutil`), so that another user's pipe can sweep a dead process's lease and wait at a
//! gate that a killed gc left; a lease file made by an older pipe without sharing is
//! locked through a read-only descriptor (a flock needs no write access).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

const LEASE_PREFIX: &str = "live-";
const GATE: &str = "gate";

/// The gate of a directory's leases, closed: a process that takes a lease there waits
/// until it is dropped (see the module docs).
#[derive(Debug)]
pub struct Gate {
    file: File,
    path: PathBuf,
}

impl Gate {
    /// Closes the gate of `dir` (waiting for another gc's); with `shared_group`, what it
    /// creates is the group's too.
    pub fn close(dir: &Path, shared_group: bool) -> Result<Gate> {
        crate::fsutil::create_dirs(dir, shared_group)?;
        let path = dir.join(GATE);
        loop {
            let f = open(&path, shared_group)?;
            f.lock().at("lock", &path)?;
            // The gc before removed it between our open and our lock: open it afresh.
            if same_file(&f, &path) {
                return Ok(Gate { file: f, path });
            }
        }
    }
}

impl Drop for Gate {
    /// Opens the gate: the name goes first (a process arriving now does not wait), then the
    /// lock (the ones waiting go on).
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// This process's lease on the temp files it names by its pid in one directory; dropped,
/// it removes its file (unless a process on another machine sharing the directory holds
/// the same name).
#[derive(Debug)]
pub struct Lease {
    file: File,
    path: PathBuf,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.file.try_lock().is_ok() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Lease {
    /// Takes this process's lease in `dir` (created if needed); with `shared_group`, what
    /// it creates is the group's too.
    pub fn take(dir: &Path, shared_group: bool) -> Result<Lease> {
        crate::fsutil::create_dirs(dir, shared_group)?;
        let path = lease_path(dir, std::process::id());
        let lease = loop {
            let f = open(&path, shared_group)?;
            f.lock_shared().at("lock", &path)?;
            // A sweep may have removed the name between our open and our lock: the lock
            // is then on a file no one else will find. Take a fresh one.
            if same_file(&f, &path) {
                break Lease { file: f, path };
            }
        };
        // gc at work (it may not have seen this lease): wait until it is done.
        let gate = dir.join(GATE);
        match File::open(&gate) {
            Ok(g) => g.lock_shared().at("lock", &gate)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("open", &gate, e)),
        }
        Ok(lease)
    }
}

/// What a sweep removed: entries (files or directories) and their bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub entries: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for Swept {
    fn add_assign(&mut self, o: Swept) {
        self.entries += o.entries;
        self.bytes += o.bytes;
    }
}

/// The pids of the other processes that hold a lease in `dir` now (alive, and using the
/// directory: every pipe process that opened the store holds one in its `tmp/`).
pub fn holders(dir: &Path) -> Result<Vec<u32>> {
    let own = std::process::id();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let mut live = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(LEASE_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        // Held (shared) by a live process: an exclusive try fails. A dead one's lease is
        // left for the next sweep.
        let Ok(f) = File::open(e.path()) else {
            continue;
        };
        if matches!(f.try_lock(), Err(TryLockError::WouldBlock)) {
            live.push(pid);
        }
    }
    live.sort_unstable();
    Ok(live)
}

/// Removes from each of `dirs` the entries named by the pid of a process that holds no
/// lease in `lease_dir` (see the module docs), and the stale lease files themselves.
pub fn sweep(lease_dir: &Path, dirs: &[PathBuf]) -> Result<Swept> {
    sweep_with(lease_dir, dirs, |_| Swept::default())
}

/// As `sweep`; `on_dead(pid)` is called for each process found dead, while its lease is
/// held and before its files are removed (a journal of its temps elsewhere is read then:
/// `RootDir::sweep_journal`); what it removed is counted in.
pub fn sweep_with(
    lease_dir: &Path,
    dirs: &[PathBuf],
    mut on_dead: impl FnMut(u32) -> Swept,
) -> Result<Swept> {
    let own = std::process::id();
    let mut by_pid: std::collections::BTreeMap<u32, Vec<PathBuf>> = Default::default();
    let swept_too = dirs.iter().any(|d| d == lease_dir);
    let others = dirs
        .iter()
        .map(PathBuf::as_path)
        .filter(|d| *d != lease_dir);
    for dir in std::iter::once(lease_dir).chain(others) {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("list", dir, e)),
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_lease = dir == lease_dir && name.starts_with(LEASE_PREFIX);
            let pid = if is_lease {
                name[LEASE_PREFIX.len()..].parse().ok()
            } else if dir == lease_dir && !swept_too {
                None
            } else {
                pid_of(name)
            };
            if let Some(pid) = pid.filter(|&p| p != own) {
                let files = by_pid.entry(pid).or_default();
                if !is_lease {
                    files.push(e.path());
                }
            }
        }
    }
    let mut swept = Swept::default();
    for (pid, files) in by_pid {
        let path = lease_path(lease_dir, pid);
        // Made if missing (files of a process that took no lease): it is removed below.
        let f = open(&path, false)?;
        match f.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
        }
        if !same_file(&f, &path) {
            continue;
        }
        swept += on_dead(pid);
        for p in files {
            // `on_dead` may have removed it (a journal).
            if fs::symlink_metadata(&p).is_err() {
                continue;
            }
            let bytes = size_of(&p);
            match crate::fsutil::remove_path(&p) {
                Ok(()) => {
                    swept.entries += 1;
                    swept.bytes += bytes;
                }
                Err(e) => tracing::debug!("cannot remove a dead process's leftover: {e}"),
            }
        }
        let _ = fs::remove_file(&path);
    }
    if swept.entries > 0 {
        tracing::debug!(
            entries = swept.entries,
            bytes = swept.bytes,
            "removed leftovers of dead processes"
        );
    }
    Ok(swept)
}

/// The pid a leftover's name carries, when it is one of the names pipe makes:
/// `.pipe-tmp-<pid>-…` (a temp), `clock-<pid>` (a clock probe), `temps-<pid>` (a journal of
/// temps, see `rootdir`) or `<pid>-<n>` (a backup). Nothing else is ever swept: a user's
/// `12345-notes.txt` or `2024-results/` is not pipe's.
fn pid_of(name: &str) -> Option<u32> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (pid, ok) = if let Some(rest) = name.strip_prefix(crate::rootdir::TEMP_PREFIX) {
        let (pid, tail) = rest.split_once('-')?;
        (pid, !tail.is_empty())
    } else if let Some(pid) = name
        .strip_prefix("clock-")
        .or_else(|| name.strip_prefix("temps-"))
    {
        (pid, true)
    } else {
        let (pid, n) = name.split_once('-')?;
        (pid, digits(n))
    };
    if !ok || !digits(pid) {
        return None;
    }
    pid.parse().ok()
}

fn lease_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{LEASE_PREFIX}{pid}"))
}

/// Opens (creating) a lease or gate file; with `shared_group`, one this process creates
/// is made group-writable (see the module docs).
fn open(path: &Path, shared_group: bool) -> Result<File> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(f) => {
            crate::fsutil::share_file(&f, path, shared_group)?;
            return Ok(f);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("open", path, e)),
    }
    match open_existing(path) {
        // Removed between the two opens (a gate dropped, a lease swept): make it afresh.
        Err(e) if e.is_not_found() => open(path, shared_group),
        other => other,
    }
}

/// Opens an existing lease or gate file to lock it: for writing when this user may, else
/// for reading (another user's file in a cache made without sharing; a flock needs no
/// write access).
fn open_existing(path: &Path) -> Result<File> {
    match OpenOptions::new().read(true).write(true).open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            File::open(path).at("open", path)
        }
        other => other.at("open", path),
    }
}

/// Whether the open file `f` is still the one named `path`.
fn same_file(f: &File, path: &Path) -> bool {
    match (f.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Bytes held by a file or a tree (not following links).
fn size_of(p: &Path) -> u64 {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| size_of(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_taken_while_gc_holds_the_gate_waits_for_it() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_path_buf();
        let gate = Gate::close(&dir, false).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let taker = std::thread::spawn(move || {
            let lease = Lease::take(&dir, false);
            tx.send(lease.is_ok()).unwrap();
            lease
        });
        let wait = std::time::Duration::from_millis(300);
        assert!(rx.recv_timeout(wait).is_err(), "it waits at the gate");
        drop(gate);
        assert!(rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap());
        assert!(!d.path().join(GATE).exists(), "gc removed its gate");
        let _lease = taker.join().unwrap().unwrap();
        // With no gc at work, a lease is taken at once, and no gate file is made.
        let _again = Lease::take(d.path(), false).unwrap();
        assert!(!d.path().join(GATE).exists());
    }

    #[test]
    fn names_carry_pids() {
        assert_eq!(pid_of(".pipe-tmp-123-4-abcd"), Some(123));
        assert_eq!(pid_of("clock-77"), Some(77));
        assert_eq!(pid_of("4567-0"), Some(4567));
        assert_eq!(pid_of(".pipe-tmp-12ab34"), None, "a random temp name");
        assert_eq!(pid_of("params"), None);
        assert_eq!(pid_of("live"), None);
        assert_eq!(pid_of("temps-88"), Some(88));
        // A user's names that look like a pid's are not pipe's.
        assert_eq!(pid_of("12345-other.tmp"), None);
        assert_eq!(pid_of("2024-results"), None);
        assert_eq!(pid_of("clock-12x"), None);
        assert_eq!(pid_of(".pipe-tmp-12-"), None);
    }

    #[test]
    fn a_dead_pid_is_swept_and_a_leased_one_is_not() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        // A pid that no process holds a lease for: its files go.
        fs::write(dir.join(".pipe-tmp-999999999-0-x"), "12345").unwrap();
        fs::create_dir_all(dir.join("999999999-1")).unwrap();
        fs::write(dir.join("999999999-1/f"), "abc").unwrap();
        fs::write(dir.join("live-999999998"), "").unwrap();
        // This process's own files stay, and so do a leased pid's.
        let _own = Lease::take(dir, false).unwrap();
        let own = std::process::id();
        fs::write(dir.join(format!(".pipe-tmp-{own}-0-y")), "1").unwrap();
        let other = lease_path(dir, 999999997);
        let held = open(&other, false).unwrap();
        held.lock_shared().unwrap();
        fs::write(dir.join("clock-999999997"), "c").unwrap();
        fs::write(dir.join("unrelated"), "u").unwrap();
        let swept = sweep(dir, &[dir.to_path_buf()]).unwrap();
        assert_eq!(
            swept,
            Swept {
                entries: 2,
                bytes: 8
            }
        );
        let mut left: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            format!(".pipe-tmp-{own}-0-y"),
            "clock-999999997".to_string(),
            format!("live-{own}"),
            "live-999999997".to_string(),
            "unrelated".to_string(),
        ];
        want.sort();
        assert_eq!(left, want);
        drop(held);
        let swept = sweep(dir, &[dir.to_path_buf()]).unwrap();
        assert_eq!(
            swept.entries, 1,
            "the clock file of a pid whose lease was dropped"
        );
        assert!(!other.exists());
    }
}
