//! Hashing a workspace path, file or directory, through the state db.
//!
//! A file: stat, look up the state db, hash only on a miss. A directory: walk it (stat only),
//! look every file up under one lock, hash the misses in parallel, record them, forget
//! entries of files that are gone, and build the manifest whose digest is the directory's.
//! Warm (nothing changed) [`digest_path`] costs a walk and one lookup: the directory's
//! digest is recorded under a fingerprint of its files' stats. [`hash_path`] always builds
//! the manifest (a map lookup per file), for storing a directory in the cache. After one
//! change, one file's hash more.

use std::path::Path;

use rayon::prelude::*;

use crate::Digest;
use crate::error::{Error, Result};
use crate::hash::hash_file;
use crate::manifest::{Entry, Manifest};
use crate::state::{StateDb, TreeEntry};
use crate::walk::{self, PathStat};

/// What a path held when it was hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hashed {
    File {
        digest: Digest,
        size: u64,
        exec: bool,
    },
    Dir {
        digest: Digest,
        manifest: Manifest,
    },
}

impl Hashed {
    pub fn digest(&self) -> Digest {
        match self {
            Hashed::File { digest, .. } | Hashed::Dir { digest, .. } => *digest,
        }
    }

    pub fn size(&self) -> u64 {
        match self {
            Hashed::File { size, .. } => *size,
            Hashed::Dir { manifest, .. } => manifest.total_size(),
        }
    }

    /// Number of files: 1 for a file.
    pub fn files(&self) -> u64 {
        match self {
            Hashed::File { .. } => 1,
            Hashed::Dir { manifest, .. } => manifest.len() as u64,
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self, Hashed::Dir { .. })
    }
}

/// A path's content as pipe records it (the lock's deps and outs, run-cache records): its
/// digest and size, and what it is, without a directory's manifest. One type for the cache
/// and the lock: a file has no count of its own ([`Summary::files`] says 1, as
/// [`Hashed::files`] does), a directory has no exec bit; the lock decides how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub digest: Digest,
    pub size: u64,
    pub shape: Shape,
}

/// What a summarised path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    File {
        exec: bool,
    },
    /// A directory of this many files (at any depth).
    Dir {
        files: u64,
    },
}

impl Summary {
    pub fn file(digest: Digest, size: u64, exec: bool) -> Summary {
        Summary {
            digest,
            size,
            shape: Shape::File { exec },
        }
    }

    pub fn dir(digest: Digest, size: u64, files: u64) -> Summary {
        Summary {
            digest,
            size,
            shape: Shape::Dir { files },
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.shape, Shape::Dir { .. })
    }

    /// Number of files: 1 for a file.
    pub fn files(&self) -> u64 {
        match self.shape {
            Shape::File { .. } => 1,
            Shape::Dir { files } => files,
        }
    }

    /// A file's exec bit (never set for a directory).
    pub fn exec(&self) -> bool {
        matches!(self.shape, Shape::File { exec: true })
    }
}

impl Hashed {
    pub fn summary(&self) -> Summary {
        match self {
            Hashed::File { digest, size, exec } => Summary::file(*digest, *size, *exec),
            Hashed::Dir { digest, manifest } => {
                Summary::dir(*digest, manifest.total_size(), manifest.len() as u64)
            }
        }
    }
}

/// The digest of `root/rel`, from the state db's tree entry when the directory's files all
/// kept their stats; `None` when the path does not exist.
pub fn digest_path(root: &Path, rel: &str, state: &StateDb, clock: i64) -> Result<Option<Summary>> {
    let abs = root.join(rel);
    if !matches!(walk::stat_path(&abs)?, PathStat::Dir) {
        return Ok(hash_path(root, rel, state, clock)?.map(|h| h.summary()));
    }
    let files = walk::walk_dir(&abs)?;
    let (fp, _) = fingerprint(&files);
    if let Some(t) = state.lookup_tree(rel, &fp) {
        return Ok(Some(Summary::dir(t.digest, t.size, t.files)));
    }
    hash_walked(&abs, rel, files, state, clock).map(|h| Some(h.summary()))
}

/// A digest of every file's (path, inode, size, mtime, ctime, exec bit), and the newest
/// of their mtimes and ctimes.
fn fingerprint(files: &[walk::WalkedFile]) -> (Digest, i64) {
    let mut buf = Vec::with_capacity(files.len() * 64);
    let mut newest = i64::MIN;
    for f in files {
        buf.extend_from_slice(f.rel.as_bytes());
        buf.push(0);
        buf.extend_from_slice(&f.stat.ino.to_le_bytes());
        buf.extend_from_slice(&f.stat.size.to_le_bytes());
        buf.extend_from_slice(&f.stat.mtime_ns.to_le_bytes());
        buf.extend_from_slice(&f.stat.ctime_ns.to_le_bytes());
        buf.push(u8::from(f.stat.exec));
        newest = newest.max(f.stat.mtime_ns).max(f.stat.ctime_ns);
    }
    (Digest::of_bytes(&buf), newest)
}

/// Hashes `root/rel`; `None` when it does not exist. `clock` is `state.clock()` read before
/// this call.
pub fn hash_path(root: &Path, rel: &str, state: &StateDb, clock: i64) -> Result<Option<Hashed>> {
    let abs = root.join(rel);
    match walk::stat_path(&abs)? {
        PathStat::Missing => Ok(None),
        PathStat::File(stat) => {
            let digest = match state.lookup(rel, &stat) {
                Some(d) => d,
                None => {
                    let d = hash_file(&abs, stat.size)?;
                    state.record(rel, &stat, d, clock);
                    d
                }
            };
            Ok(Some(Hashed::File {
                digest,
                size: stat.size,
                exec: stat.exec,
            }))
        }
        PathStat::Dir => hash_dir(&abs, rel, state, clock).map(Some),
    }
}

fn hash_dir(abs: &Path, rel: &str, state: &StateDb, clock: i64) -> Result<Hashed> {
    let files = walk::walk_dir(abs)?;
    hash_walked(abs, rel, files, state, clock)
}

fn hash_walked(
    abs: &Path,
    rel: &str,
    files: Vec<walk::WalkedFile>,
    state: &StateDb,
    clock: i64,
) -> Result<Hashed> {
    let t = std::time::Instant::now();
    let (fp, newest) = fingerprint(&files);
    let keys: Vec<String> = files.iter().map(|f| format!("{rel}/{}", f.rel)).collect();
    let known = state.lookup_many(
        keys.iter()
            .map(String::as_str)
            .zip(files.iter().map(|f| &f.stat)),
    );
    let looked_up = t.elapsed();
    let missing: Vec<usize> = (0..files.len()).filter(|&i| known[i].is_none()).collect();
    let fresh: Vec<(usize, Digest)> = missing
        .par_iter()
        .map(|&i| {
            let f = &files[i];
            hash_file(&abs.join(&f.rel), f.stat.size).map(|d| (i, d))
        })
        .collect::<Result<_>>()?;
    state.record_many(
        fresh
            .iter()
            .map(|&(i, d)| (keys[i].clone(), files[i].stat, d)),
        clock,
    );
    let mut digests = known;
    for (i, d) in fresh {
        digests[i] = Some(d);
    }
    state.prune_below(rel, &keys);
    let entries = files
        .into_iter()
        .zip(digests)
        .map(|(f, d)| Entry {
            path: f.rel,
            digest: d.unwrap_or_else(|| Digest::of_bytes(b"")),
            size: f.stat.size,
            exec: f.stat.exec,
        })
        .collect();
    let manifest = Manifest::new(entries).map_err(|e| Error::invalid(abs, e.to_string()))?;
    let digest = manifest.digest();
    state.record_tree(
        rel,
        TreeEntry {
            fingerprint: fp,
            digest,
            size: manifest.total_size(),
            files: manifest.len() as u64,
            max_mtime_ns: newest,
            verified_before_ns: clock,
        },
    );
    tracing::debug!(
        dir = rel,
        files = manifest.len(),
        hashed = missing.len(),
        lookup_ms = looked_up.as_secs_f64() * 1e3,
        total_ms = t.elapsed().as_secs_f64() * 1e3,
        "hashed directory"
    );
    Ok(Hashed::Dir { digest, manifest })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn directory_digest_follows_content_and_names_only() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let state = StateDb::in_memory(&r.join(".pipe/tmp"));
        fs::create_dir_all(r.join("a/sub")).unwrap();
        fs::write(r.join("a/x"), "1").unwrap();
        fs::write(r.join("a/sub/y"), "2").unwrap();
        let clock = state.clock().unwrap();
        let one = hash_path(r, "a", &state, clock).unwrap().unwrap();
        assert_eq!(one.files(), 2);
        assert_eq!(one.size(), 2);
        // A copy elsewhere hashes the same.
        fs::create_dir_all(r.join("b/sub")).unwrap();
        fs::write(r.join("b/x"), "1").unwrap();
        fs::write(r.join("b/sub/y"), "2").unwrap();
        let two = hash_path(r, "b", &state, clock).unwrap().unwrap();
        assert_eq!(one.digest(), two.digest());
        // A changed byte changes it.
        fs::write(r.join("b/x"), "3").unwrap();
        let clock = state.clock().unwrap();
        let three = hash_path(r, "b", &state, clock).unwrap().unwrap();
        assert_ne!(one.digest(), three.digest());
        assert!(hash_path(r, "nope", &state, clock).unwrap().is_none());
    }

    #[test]
    fn digest_path_agrees_with_hash_path_and_sees_changes() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let state = StateDb::in_memory(&r.join(".pipe/tmp"));
        fs::create_dir_all(r.join("a/b")).unwrap();
        fs::write(r.join("a/x"), "1").unwrap();
        fs::write(r.join("a/b/y"), "22").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let full = hash_path(r, "a", &state, state.clock().unwrap())
            .unwrap()
            .unwrap();
        let quick = digest_path(r, "a", &state, state.clock().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(quick, full.summary());
        assert_eq!((quick.files(), quick.size), (2, 3));
        fs::write(r.join("a/b/y"), "23").unwrap();
        let changed = digest_path(r, "a", &state, state.clock().unwrap())
            .unwrap()
            .unwrap();
        assert_ne!(changed.digest, quick.digest);
    }

    #[test]
    fn a_summary_counts_files_as_its_hash_does() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let state = StateDb::in_memory(&r.join(".pipe/tmp"));
        fs::create_dir_all(r.join("a")).unwrap();
        fs::write(r.join("a/x"), "1").unwrap();
        fs::write(r.join("f"), "22").unwrap();
        let clock = state.clock().unwrap();
        for (p, files, dir) in [("f", 1, false), ("a", 1, true)] {
            let h = hash_path(r, p, &state, clock).unwrap().unwrap();
            let s = digest_path(r, p, &state, clock).unwrap().unwrap();
            assert_eq!(
                (h.files(), s.files(), s.is_dir()),
                (files, files, dir),
                "{p}"
            );
            assert_eq!(h.summary(), s);
        }
    }

    #[test]
    fn warm_lookups_skip_hashing() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let state = StateDb::in_memory(&r.join(".pipe/tmp"));
        fs::create_dir_all(r.join("a")).unwrap();
        fs::write(r.join("a/x"), "1").unwrap();
        // Past the filesystem clock's tick, so the entry is not racy.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let clock = state.clock().unwrap();
        let first = hash_path(r, "a", &state, clock).unwrap().unwrap();
        assert_eq!(state.len(), 1);
        let p = r.join("a/x");
        let f = fs::File::open(&p).unwrap();
        let stat = crate::walk::Stat::from_metadata(&f.metadata().unwrap());
        assert!(state.lookup("a/x", &stat).is_some());
        let again = hash_path(r, "a", &state, state.clock().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(first, again);
    }
}
