//! The journal of a root's temps: where a dead process's are found (see the parent
//! module's docs).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustix::fs::{AtFlags, Mode, OFlags};

use super::{RootDir, TEMP_PREFIX, open_beneath, remove_at};
use crate::error::{Error, Result};
use crate::lease::Swept;

impl RootDir {
    /// Removes what the dead process `pid` left beneath this root: every entry named
    /// `.pipe-tmp-<pid>-…` in each directory its journal names, then the journal. Call it
    /// only while holding that pid's lease (see `lease::sweep_with`).
    pub fn sweep_journal(&self, pid: u32) -> Swept {
        let mut swept = Swept::default();
        let Some(j) = &self.journal else {
            return swept;
        };
        let name = journal_name(pid);
        let mut text = String::new();
        let read = rustix::fs::openat(
            j.dir.as_fd(),
            name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)
        .and_then(|fd| File::from(fd).read_to_string(&mut text));
        if read.is_err() {
            return swept;
        }
        let prefix = format!("{TEMP_PREFIX}{pid}-");
        let dirs: HashSet<&str> = text.lines().collect();
        for rel in dirs {
            // A directory gone, or one that became a link out of the root: nothing to do.
            let Ok(dir) = self.subdir(rel, false) else {
                continue;
            };
            let Ok(list) = dir.list() else { continue };
            for n in list.into_iter().filter(|n| n.starts_with(&prefix)) {
                let bytes = dir.entry_in(&n).ok().flatten().map_or(0, |e| e.meta.len());
                match remove_at(dir.fd.as_fd(), OsStr::new(&n)) {
                    Ok(()) => {
                        swept.entries += 1;
                        swept.bytes += bytes;
                    }
                    Err(e) => tracing::debug!(
                        "cannot remove a dead process's temp {}: {e}",
                        dir.abs(&n).display()
                    ),
                }
            }
        }
        let _ = rustix::fs::unlinkat(j.dir.as_fd(), name.as_str(), AtFlags::empty());
        swept
    }
}

/// The names in directory `dir` (lossy UTF-8).
pub(super) fn list_fd(dir: BorrowedFd<'_>) -> io::Result<Vec<String>> {
    let fd = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut out = Vec::new();
    for e in rustix::fs::Dir::new(fd)? {
        let e = e?;
        let b = e.file_name().to_bytes();
        if b != b"." && b != b".." {
            out.push(String::from_utf8_lossy(b).into_owned());
        }
    }
    Ok(out)
}

/// The journal file of process `pid`.
pub fn journal_name(pid: u32) -> String {
    format!("temps-{pid}")
}

/// This process's record of the directories it made temps in.
#[derive(Debug)]
pub(super) struct Journal {
    /// The root the directories it names are relative to.
    root: Arc<OwnedFd>,
    manual: bool,
    /// The directory of the journal file.
    dir: Arc<OwnedFd>,
    path: PathBuf,
    /// The journal file (opened on first use) and the directories written to it.
    noted: Mutex<(Option<File>, HashSet<String>)>,
}

impl Journal {
    pub(super) fn new(root: Arc<OwnedFd>, manual: bool, dir: Arc<OwnedFd>, path: PathBuf) -> Self {
        Journal {
            root,
            manual,
            dir,
            path,
            noted: Mutex::new((None, HashSet::new())),
        }
    }

    /// Records `dir` (relative to the root) once, before the first temp there.
    pub(super) fn note(&self, dir: &str) -> Result<()> {
        let mut g = self.noted.lock().unwrap_or_else(|p| p.into_inner());
        if g.1.contains(dir) {
            return Ok(());
        }
        let name = journal_name(std::process::id());
        let path = self.path.join(&name);
        if g.0.is_none() {
            let fd = rustix::fs::openat(
                self.dir.as_fd(),
                name.as_str(),
                OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::APPEND
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map_err(|e| Error::io("open", &path, e.into()))?;
            g.0 = Some(File::from(fd));
        }
        if let Some(f) = g.0.as_mut() {
            f.write_all(format!("{dir}\n").as_bytes())
                .map_err(|e| Error::io("write", &path, e))?;
        }
        g.1.insert(dir.to_string());
        Ok(())
    }
}

impl Drop for Journal {
    /// A process ending with none of its temps left removes its journal; one that left some
    /// (a removal that failed) keeps it for the next command's sweep.
    fn drop(&mut self) {
        let g = self.noted.get_mut().unwrap_or_else(|p| p.into_inner());
        if g.0.is_none() {
            return;
        }
        let prefix = format!("{TEMP_PREFIX}{}-", std::process::id());
        let left = g.1.iter().any(|d| {
            open_beneath(self.root.as_fd(), d, self.manual)
                .ok()
                .and_then(|fd| list_fd(fd.as_fd()).ok())
                .is_some_and(|names| names.iter().any(|n| n.starts_with(&prefix)))
        });
        if !left {
            let name = journal_name(std::process::id());
            let _ = rustix::fs::unlinkat(self.dir.as_fd(), name.as_str(), AtFlags::empty());
        }
    }
}
