//! Locks on workspace paths, so that two `pipe` processes in one workspace never run the
//! same stage or write what the other reads.
//!
//! A stage holds an exclusive lock on each of its outs and a shared lock on each dep
//! (on the producing stage's out where a stage makes it, and on every out inside it: a
//! dep `data/` is locked with the `data/x.txt` another stage writes), from before its
//! freshness check until its lock entry is recorded. Locks are `flock`s on files under
//! `.pipe/locks/`, one per path (named by a digest of the path); the holder of an
//! exclusive lock writes its pid and stage into the file for the waiter's message. A set
//! is taken all at once or not at all, so processes waiting for each other's sets cannot
//! deadlock; the caller polls, working on other stages meanwhile. Only the stages run take
//! locks, and `pipe checkout` (so `pull`) and `pipe exp apply`, which take them without
//! waiting and leave alone or refuse what a running stage holds; `status`, `dag` and the
//! like never block. The kernel drops the locks of a process that dies.
//!
//! Lock files do not pile up (one per path ever locked): a holder that can take its lock
//! exclusively when it releases it (nobody else holds or waits on it) removes the file
//! first, and a process killed before it could is swept by the next one ([`sweep`]). A
//! taker checks after locking that the name still leads to the file it locked, and opens
//! it afresh otherwise, so a lock on a removed file never counts.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use pipe_cache::Digest;

use crate::wspath::WsPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// Held locks; released on drop (removing the lock files nobody else holds).
#[derive(Debug)]
pub struct Held {
    files: Vec<(File, PathBuf)>,
}

impl Drop for Held {
    fn drop(&mut self) {
        for (f, path) in self.files.drain(..) {
            // Exclusive now (a shared lock converts when no one else holds it): nobody is
            // using the file, and a taker that opened it before the removal sees that the
            // name leads elsewhere and opens it afresh.
            if f.try_lock().is_ok() {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Removes the lock files in `dir` that no process holds (left by killed processes).
/// Returns how many.
pub fn sweep(dir: &Path) -> usize {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let path = e.path();
        let Ok(f) = OpenOptions::new().read(true).write(true).open(&path) else {
            continue;
        };
        if f.try_lock().is_ok() && same_file(&f, &path) && fs::remove_file(&path).is_ok() {
            n += 1;
        }
    }
    n
}

/// Whether the open file `f` is still the one named `path`.
fn same_file(f: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Why a lock set could not be taken now.
#[derive(Debug)]
pub enum Busy {
    /// Another process holds `path`; `holder` is what it wrote (pid and stage), if known.
    Held {
        path: WsPath,
        holder: Option<String>,
    },
    Io(PathBuf, std::io::Error),
}

pub struct PathLocks {
    dir: PathBuf,
}

impl PathLocks {
    pub fn new(dir: &Path) -> Self {
        PathLocks {
            dir: dir.to_path_buf(),
        }
    }

    fn file_of(&self, p: &WsPath) -> PathBuf {
        let d = Digest::of_bytes(p.as_str().as_bytes());
        self.dir.join(&d.to_hex()[..24])
    }

    /// Takes every lock in `want` or none. `who` is written into exclusive locks.
    pub fn try_acquire(&self, want: &BTreeMap<WsPath, Mode>, who: &str) -> Result<Held, Busy> {
        fs::create_dir_all(&self.dir).map_err(|e| Busy::Io(self.dir.clone(), e))?;
        // Dropped on a busy path: what was taken is released (and its files removed).
        let mut held = Held {
            files: Vec::with_capacity(want.len()),
        };
        for (path, mode) in want {
            let lp = self.file_of(path);
            let (mut f, r) = loop {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&lp)
                    .map_err(|e| Busy::Io(lp.clone(), e))?;
                let r = match mode {
                    Mode::Shared => f.try_lock_shared(),
                    Mode::Exclusive => f.try_lock(),
                };
                // Locked a file its last holder removed on release: open the name again.
                if r.is_ok() && !same_file(&f, &lp) {
                    continue;
                }
                break (f, r);
            };
            match r {
                Ok(()) => {
                    if *mode == Mode::Exclusive {
                        let _ = f.set_len(0);
                        let _ = f.rewind();
                        let _ = write!(f, "pid {} ({who})", std::process::id());
                    }
                    held.files.push((f, lp));
                }
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = f.read_to_string(&mut holder);
                    let holder = Some(holder.trim().to_string()).filter(|h| !h.is_empty());
                    return Err(Busy::Held {
                        path: path.clone(),
                        holder,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Busy::Io(lp, e)),
            }
        }
        Ok(held)
    }
}

/// Adds `path` to a lock set; exclusive wins over shared.
pub fn want(set: &mut BTreeMap<WsPath, Mode>, path: &WsPath, mode: Mode) {
    let e = set.entry(path.clone()).or_insert(mode);
    if mode > *e {
        *e = mode;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_shared_shares() {
        let d = tempfile::tempdir().unwrap();
        let locks = PathLocks::new(d.path());
        let p = WsPath::parse("data/x").unwrap();
        let mut ex = BTreeMap::new();
        want(&mut ex, &p, Mode::Exclusive);
        let mut sh = BTreeMap::new();
        want(&mut sh, &p, Mode::Shared);

        let held = locks.try_acquire(&ex, "stage a").unwrap();
        match locks.try_acquire(&sh, "stage b") {
            Err(Busy::Held { path, holder }) => {
                assert_eq!(path, p);
                assert!(holder.unwrap().contains("stage a"));
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        let s1 = locks.try_acquire(&sh, "b").unwrap();
        let s2 = locks.try_acquire(&sh, "c").unwrap();
        assert!(locks.try_acquire(&ex, "d").is_err());
        drop((s1, s2));
        assert!(locks.try_acquire(&ex, "d").is_ok());
    }

    #[test]
    fn all_or_nothing() {
        let d = tempfile::tempdir().unwrap();
        let locks = PathLocks::new(d.path());
        let a = WsPath::parse("a").unwrap();
        let b = WsPath::parse("b").unwrap();
        let mut only_b = BTreeMap::new();
        want(&mut only_b, &b, Mode::Exclusive);
        let _hb = locks.try_acquire(&only_b, "x").unwrap();
        let mut both = BTreeMap::new();
        want(&mut both, &a, Mode::Exclusive);
        want(&mut both, &b, Mode::Exclusive);
        assert!(locks.try_acquire(&both, "y").is_err());
        // `a` was released when the set failed.
        let mut only_a = BTreeMap::new();
        want(&mut only_a, &a, Mode::Exclusive);
        assert!(locks.try_acquire(&only_a, "z").is_ok());
    }

    #[test]
    fn released_locks_leave_no_files_and_stale_ones_are_swept() {
        let d = tempfile::tempdir().unwrap();
        let locks = PathLocks::new(d.path());
        let mut set = BTreeMap::new();
        for i in 0..20 {
            want(
                &mut set,
                &WsPath::parse(&format!("f{i}")).unwrap(),
                Mode::Shared,
            );
        }
        let one = locks.try_acquire(&set, "a").unwrap();
        let two = locks.try_acquire(&set, "b").unwrap();
        drop(one);
        assert_eq!(count(d.path()), 20, "still held by the other");
        // The other still holds every lock: an exclusive taker is refused.
        let mut ex = BTreeMap::new();
        want(&mut ex, &WsPath::parse("f3").unwrap(), Mode::Exclusive);
        assert!(locks.try_acquire(&ex, "c").is_err());
        drop(two);
        assert_eq!(count(d.path()), 0, "the last holder removes the files");
        // Files nobody holds (a killed holder's) are swept; held ones stay.
        let held = locks.try_acquire(&ex, "c").unwrap();
        std::fs::write(d.path().join("stale"), "pid 1 (x)").unwrap();
        assert_eq!(sweep(d.path()), 1);
        assert_eq!(count(d.path()), 1);
        drop(held);
        assert_eq!(count(d.path()), 0);
    }

    fn count(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }
}
