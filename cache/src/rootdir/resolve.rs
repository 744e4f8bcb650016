//! Resolving a path beneath a root: `openat2`, or a walk one name at a time (see the
//! parent module's docs).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::join;

/// The longest chain of links a walk follows (the kernel's limit, `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Why a path could not be resolved beneath the root.
#[derive(Debug)]
pub(super) enum Fail {
    Io(io::Error),
    /// Through the link `link` (relative to the directory walked from) to `target`, the
    /// path leads out.
    Escape {
        link: String,
        target: PathBuf,
    },
}

impl From<Errno> for Fail {
    fn from(e: Errno) -> Self {
        Fail::Io(e.into())
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

impl Fail {
    pub(super) fn errno(&self) -> Option<Errno> {
        match self {
            Fail::Io(e) => e.raw_os_error().map(Errno::from_raw_os_error),
            Fail::Escape { .. } => None,
        }
    }
}

/// Opens directory `rel` beneath `root` (see the module docs): `openat2`, or the walk.
pub(super) fn open_beneath(root: BorrowedFd<'_>, rel: &str, manual: bool) -> Result<OwnedFd, Fail> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if rel.is_empty() {
        return Ok(rustix::fs::openat(root, ".", flags, Mode::empty())?);
    }
    if manual {
        return walk(root, rel, flags);
    }
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(
            root,
            rel,
            flags,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => return Ok(fd),
            // A rename somewhere on the machine raced the lookup: the kernel asks to look
            // again.
            Err(Errno::AGAIN) if tries < 8 => tries += 1,
            // Out of the root, or a loop: the walk says through which link.
            Err(Errno::XDEV | Errno::LOOP) => return walk(root, rel, flags),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether `openat2` works here (Linux 5.6 and later, not hidden by a seccomp filter):
/// probed once per process.
pub(super) fn openat2_works(fd: BorrowedFd<'_>) -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        match rustix::fs::openat2(
            fd,
            ".",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH,
        ) {
            Err(e @ (Errno::NOSYS | Errno::PERM)) => {
                tracing::debug!("openat2 unavailable ({e}): paths are walked one name at a time");
                false
            }
            _ => true,
        }
    })
}

/// Opens `rel` beneath `root` one name at a time: each name opened with `O_NOFOLLOW`
/// relative to the directory before it; a link read and its target walked the same way (an
/// absolute target, or a `..` above the root, is an escape); `..` goes back to the
/// directory this walk came from, never to the kernel's parent.
fn walk(root: BorrowedFd<'_>, rel: &str, flags: OFlags) -> Result<OwnedFd, Fail> {
    // Names still to walk, last first; each with the link it came from, if any.
    let mut todo: Vec<(String, Option<usize>)> = rel
        .split('/')
        .rev()
        .map(|c| (c.to_string(), None))
        .collect();
    // The directories walked so far (below the root), with their names.
    let mut dirs: Vec<(OwnedFd, String)> = Vec::new();
    // Links followed: (path relative to the root, target).
    let mut links: Vec<(String, PathBuf)> = Vec::new();
    let here = |dirs: &[(OwnedFd, String)]| -> String {
        dirs.iter()
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>()
            .join("/")
    };
    while let Some((c, from)) = todo.pop() {
        let cur = dirs.last().map_or(root, |(fd, _)| fd.as_fd());
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                if dirs.pop().is_none() {
                    let (link, target) = from
                        .and_then(|i| links.get(i).cloned())
                        .unwrap_or_else(|| (rel.to_string(), PathBuf::from("..")));
                    return Err(Fail::Escape { link, target });
                }
                continue;
            }
            _ => {}
        }
        let st = rustix::fs::statat(cur, c.as_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
        if kind == rustix::fs::FileType::Symlink {
            if links.len() >= MAX_LINKS {
                return Err(Errno::LOOP.into());
            }
            let target = rustix::fs::readlinkat(cur, c.as_str(), Vec::new())?;
            let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
            let at = join(&here(&dirs), &c);
            if target.is_absolute() {
                return Err(Fail::Escape { link: at, target });
            }
            let i = links.len();
            let parts: Vec<String> = target
                .to_string_lossy()
                .split('/')
                .map(str::to_string)
                .collect();
            links.push((at, target));
            todo.extend(parts.into_iter().rev().map(|p| (p, Some(i))));
            continue;
        }
        if kind != rustix::fs::FileType::Directory {
            return Err(Errno::NOTDIR.into());
        }
        let fd = rustix::fs::openat(
            cur,
            c.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        dirs.push((fd, c));
    }
    let cur = dirs.last().map_or(root, |(fd, _)| fd.as_fd());
    Ok(rustix::fs::openat(cur, ".", flags, Mode::empty())?)
}
