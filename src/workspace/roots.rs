//! The workspaces that use a cache, so that `pipe gc` in one of them keeps what the others
//! need.
//!
//! Several workspaces may share one cache (`cache.dir`: checkouts of one project on one
//! disk, or a team's cache with `shared = "group"`). An object one of them refers to may
//! be referred to by nothing in the others, and gc, run in any of them, must keep it. So
//! each workspace that opens a cache registers there, as nix registers its gc roots:
//!
//! ```text
//! <cache>/roots/<id>    {"path": "/abs/path/of/ws", "locks": ["other.lock", "pipe.lock"]}
//! <ws>/.pipe/id         <id>: 32 random hex digits, made when the workspace is first opened
//! ```
//!
//! `.pipe/` is not committed, so a clone is a workspace of its own, with an id of its own.
//! `locks` are the lock files of the pipelines the workspace was opened with (`pipe -f
//! other.toml` adds `other.lock`): only these are read, so a `Cargo.lock` beside them is
//! never mistaken for one.
//!
//! **Registering** ([`register`]), by every command, after it took its lease on the
//! cache's `tmp/` (so that a gc either sees the lease and refuses, or is done before this
//! registers, see `pipe_cache::lease`): the entry is read, and written (atomically) only
//! when it is missing or says something else: a new pipeline's lock, a workspace that
//! moved. The read-modify-write holds an exclusive flock on `.pipe/id`, so that two
//! commands of one workspace never lose each other's lock. A copy of a workspace (`cp
//! -r`) carries the original's id: when the entry names another directory that still holds
//! a workspace with this id, the copy takes a new id.
//!
//! **Collecting** ([`survey`]): each entry's workspace is looked at where the entry says.
//! It is *gone*, and its entry dropped, when that path no longer holds it: no `.pipe/id`
//! there, another id there (it moved or was deleted; a moved one registers again with its
//! next command), or its config names another cache now. It is *unreadable* when its
//! `.pipe/id`, a lock or its journal, or an experiment record cannot be read (permissions,
//! a lock that does not parse): gc then refuses, naming it, rather than delete what it
//! might need.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::workspace::WorkspaceError;

/// The cache's directory of registered workspaces.
pub const DIR: &str = "roots";
/// The workspace's id, in `.pipe/`.
pub const ID_FILE: &str = "id";

/// What a workspace's entry in `<cache>/roots/` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// The workspace root, absolute and canonical.
    pub path: PathBuf,
    /// Its lock files (names in the root), sorted.
    pub locks: Vec<String>,
}

/// A registered workspace that gc must keep the objects of.
#[derive(Debug, Clone)]
pub struct Live {
    pub id: String,
    pub root: Root,
}

/// An entry whose workspace is no longer where it says: its file and why.
#[derive(Debug, Clone)]
pub struct Gone {
    pub file: PathBuf,
    pub path: PathBuf,
    pub why: String,
}

/// The other workspaces registered in a cache.
#[derive(Debug, Default)]
pub struct Survey {
    pub live: Vec<Live>,
    pub gone: Vec<Gone>,
}

/// A 32-hex-digit id from the kernel's random source (else from the time, the pid and
/// `salt`, hashed: unique enough for the few workspaces of one cache).
pub fn new_id(salt: &Path) -> String {
    let mut b = [0u8; 16];
    let random = fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !random {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = format!("{now}-{}-{}", std::process::id(), salt.display());
        b.copy_from_slice(&pipe_cache::Digest::of_bytes(seed.as_bytes()).as_bytes()[..16]);
    }
    hex::encode(b)
}

/// Whether `s` is an id this module makes.
pub fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The id kept in `<dot>/id`: `Ok(None)` when there is none (or it is not an id); `Err`
/// when it cannot be read.
pub fn read_id(dot: &Path) -> std::io::Result<Option<String>> {
    match fs::read_to_string(dot.join(ID_FILE)) {
        Ok(t) => Ok(Some(t.trim().to_string()).filter(|t| is_id(t))),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(e),
    }
}

fn entry_path(cache: &Path, id: &str) -> PathBuf {
    cache.join(DIR).join(id)
}

/// Reads the entry `id` of `cache`; `Ok(None)` when there is none.
fn read_entry(file: &Path) -> Result<Option<Root>> {
    let bad = |why: String| {
        Error::from(WorkspaceError::BadRootEntry {
            file: file.to_path_buf(),
            why,
        })
    };
    match fs::read(file) {
        Ok(b) => {
            let root: Root = serde_json::from_slice(&b).map_err(|e| bad(e.to_string()))?;
            // Lock names are file names in the root, as `lock_path_for` makes them.
            if let Some(l) = root
                .locks
                .iter()
                .find(|l| l.contains('/') || l.starts_with('.') || !l.ends_with(".lock"))
            {
                return Err(bad(format!("`{l}` is no lock file name")));
            }
            if !root.path.is_absolute() {
                return Err(bad(format!(
                    "{} is not an absolute path",
                    root.path.display()
                )));
            }
            Ok(Some(root))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(WorkspaceError::Read {
            path: file.to_path_buf(),
            err,
        }
        .into()),
    }
}

/// Whether two paths are one directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// What registering found (see the module docs).
#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    /// The entry said it all already.
    Current,
    /// Written (new, moved, or a new lock).
    Written,
    /// The entry named another directory holding a workspace with this id: this one is a
    /// copy and must take a new id, then register again.
    Copy,
}

/// Registers the workspace `id` at `root` (canonical) with lock file `lock` in the cache
/// at `cache` (see the module docs). The caller holds the flock on its `.pipe/id`.
pub fn register(
    cache: &Path,
    shared_group: bool,
    id: &str,
    root: &Path,
    lock: &str,
) -> Result<Registered> {
    let file = entry_path(cache, id);
    let old = read_entry(&file).unwrap_or_else(|e| {
        tracing::debug!("{e}: written afresh");
        None
    });
    let mut locks = Vec::new();
    if let Some(o) = &old {
        if o.path != root {
            let there = o.path.join(crate::workspace::DOT);
            let ours = root.join(crate::workspace::DOT);
            if read_id(&there).ok().flatten().as_deref() == Some(id) && !same_dir(&there, &ours) {
                return Ok(Registered::Copy);
            }
            // Moved here: the old place holds it no more. Its locks came with it.
        }
        locks = o.locks.clone();
    }
    if !locks.iter().any(|l| l == lock) {
        locks.push(lock.to_string());
        locks.sort();
    }
    let new = Root {
        path: root.to_path_buf(),
        locks,
    };
    if old.as_ref() == Some(&new) {
        return Ok(Registered::Current);
    }
    let dir = cache.join(DIR);
    pipe_cache::fsutil::create_dirs(&dir, shared_group)?;
    let bytes = serde_json::to_vec(&new).map_err(|err| WorkspaceError::Encode {
        path: file.clone(),
        err,
    })?;
    let mode = shared_group.then_some(pipe_cache::fsutil::SHARED_FILE_MODE);
    pipe_cache::fsutil::write_atomic_mode(&file, &bytes, true, mode)?;
    Ok(Registered::Written)
}

/// The workspaces registered in `cache` other than `own` (see the module docs): the live
/// ones, and the entries of those gone. `Err` names a workspace (or an entry) that cannot
/// be read.
pub fn survey(cache: &Path, own: &str) -> Result<Survey> {
    let dir = cache.join(DIR);
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Survey::default()),
        Err(err) => return Err(WorkspaceError::List { path: dir, err }.into()),
    };
    let this_cache = fs::canonicalize(cache).ok();
    let mut s = Survey::default();
    let mut ids: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| is_id(n) && n != own)
        .collect();
    ids.sort();
    for id in ids {
        let file = entry_path(cache, &id);
        let Some(root) = read_entry(&file)? else {
            continue; // removed meanwhile
        };
        let unreadable = |why: String| {
            Error::from(WorkspaceError::Unreadable {
                workspace: root.path.clone(),
                roots: dir.clone(),
                entry: file.clone(),
                why,
            })
        };
        let dot = root.path.join(crate::workspace::DOT);
        let gone = |why: &str| Gone {
            file: file.clone(),
            path: root.path.clone(),
            why: why.to_string(),
        };
        match read_id(&dot) {
            Ok(Some(found)) if found == id => {}
            Ok(Some(_)) => {
                s.gone.push(gone("another workspace is there now"));
                continue;
            }
            Ok(None) => {
                s.gone.push(gone("it is no longer there"));
                continue;
            }
            Err(e) => return Err(unreadable(format!("{}: {e}", dot.join(ID_FILE).display()))),
        }
        if let (Some(ours), Ok(cfg)) = (&this_cache, crate::config::Config::load(&dot)) {
            let theirs = cfg.cache_dir.unwrap_or_else(|| dot.join("cache"));
            if fs::canonicalize(&theirs).ok().as_ref() != Some(ours) {
                s.gone.push(gone("it uses another cache now"));
                continue;
            }
        }
        s.live.push(Live { id, root });
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_and_checked() {
        let a = new_id(Path::new("/x"));
        let b = new_id(Path::new("/x"));
        assert!(is_id(&a) && is_id(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!is_id("../../etc"));
        assert!(!is_id(&a.to_uppercase()));
    }

    #[test]
    fn a_registration_is_written_once_and_keeps_every_lock() {
        let d = tempfile::tempdir().unwrap();
        let cache = d.path().join("cache");
        let ws = d.path().join("ws");
        let config = format!("[cache]\ndir = {:?}\n", cache.display().to_string());
        fs::create_dir_all(ws.join(".pipe")).unwrap();
        fs::write(ws.join(".pipe/config.toml"), &config).unwrap();
        let id = new_id(&ws);
        fs::write(ws.join(".pipe/id"), &id).unwrap();
        let r = |lock| register(&cache, false, &id, &ws, lock).unwrap();
        assert_eq!(r("pipe.lock"), Registered::Written);
        assert_eq!(r("pipe.lock"), Registered::Current);
        assert_eq!(r("other.lock"), Registered::Written);
        let e = read_entry(&entry_path(&cache, &id)).unwrap().unwrap();
        assert_eq!(e.locks, ["other.lock", "pipe.lock"]);
        // A copy elsewhere, with the same id: told so.
        let copy = d.path().join("copy");
        fs::create_dir_all(copy.join(".pipe")).unwrap();
        fs::write(copy.join(".pipe/config.toml"), &config).unwrap();
        fs::write(copy.join(".pipe/id"), &id).unwrap();
        assert_eq!(
            register(&cache, false, &id, &copy, "pipe.lock").unwrap(),
            Registered::Copy
        );
        // Moved (the old place is gone): the entry follows, locks kept.
        fs::remove_dir_all(&ws).unwrap();
        assert_eq!(
            register(&cache, false, &id, &copy, "pipe.lock").unwrap(),
            Registered::Written
        );
        let e = read_entry(&entry_path(&cache, &id)).unwrap().unwrap();
        assert_eq!((e.path.as_path(), e.locks.len()), (copy.as_path(), 2));
        // Seen from another workspace: live; gone once its id file is.
        let s = survey(&cache, "0".repeat(32).as_str()).unwrap();
        assert_eq!((s.live.len(), s.gone.len()), (1, 0));
        // Pointed at another cache: gone from this one.
        fs::write(copy.join(".pipe/config.toml"), "").unwrap();
        let s = survey(&cache, "0".repeat(32).as_str()).unwrap();
        assert_eq!((s.live.len(), s.gone.len()), (0, 1));
        assert_eq!(s.gone[0].why, "it uses another cache now");
        fs::write(copy.join(".pipe/config.toml"), &config).unwrap();
        fs::remove_file(copy.join(".pipe/id")).unwrap();
        let s = survey(&cache, "0".repeat(32).as_str()).unwrap();
        assert_eq!((s.live.len(), s.gone.len()), (0, 1));
        // Its own entry is never surveyed.
        assert_eq!(survey(&cache, &id).unwrap().gone.len(), 0);
    }
}
