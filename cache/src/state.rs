//! The state db: (path, inode, size, mtime, ctime) -> digest, so an unchanged file is never
//! rehashed. The ctime is part of the key as in git's index: `touch -d` puts an mtime back,
//! but nothing short of changing the system clock puts a ctime back, so a same-size rewrite
//! is always seen.
//!
//! Layout: one binary file (`.pipe/state`), loaded whole at the start of a command (20,000
//! entries load in a few milliseconds) and written back by temp file + rename when the
//! command learned something. Several processes may use it at once: a save takes an
//! exclusive lock on `<state>.lk`, re-reads the file, applies only this process's changes
//! on top and renames the result into place, so no process loses another's entries.
//!
//! Racy entries. A file rewritten with the same size within one tick of the filesystem's
//! clock after it was hashed keeps its stat; git calls such an index entry "racily clean".
//! Every entry records `verified_before`, the filesystem's own clock read (by touching a
//! file under `.pipe/tmp`) before the hash was taken; an entry is trusted only when the
//! file's mtime and ctime are strictly older than that. A file modified in the same tick as its hashing
//! is therefore hashed again the next time it is looked at, and recorded with a later
//! clock, after which it is trusted.
//!
//! Directories get entries too: the digest of a tree under a fingerprint of every file's
//! (path, inode, size, mtime, ctime, exec bit). A warm status of an unchanged 20,000-file tree is
//! then a walk (stat only) and one lookup; the per-file section of the db is not even
//! parsed unless some file must be looked up.
//!
//! Keys are workspace-relative paths, never absolute ones: moving the workspace keeps the
//! entries (their inodes survive a rename).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::Digest;
use crate::error::{Error, IoContext, Result};
use crate::walk::Stat;

/// Version 4 added the ctime; an older db is dropped (it is only a cache of hashes).
const MAGIC: &[u8; 10] = b"PIPESTATE4";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    verified_before_ns: i64,
    digest: Digest,
}

/// A directory's digest under the fingerprint of its files' stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeEntry {
    pub fingerprint: Digest,
    pub digest: Digest,
    pub size: u64,
    pub files: u64,
    /// The newest mtime or ctime among the files: the entry is racy unless it is older than
    /// `verified_before_ns`.
    pub max_mtime_ns: i64,
    pub verified_before_ns: i64,
}

#[derive(Default)]
struct Inner {
    /// Per-file entries, parsed from `raw_files` on first use.
    entries: Option<BTreeMap<String, Entry>>,
    raw_files: Vec<u8>,
    trees: BTreeMap<String, TreeEntry>,
    /// This process's writes since load: `None` is a removal.
    changes: BTreeMap<String, Option<Entry>>,
    tree_changes: BTreeMap<String, TreeEntry>,
}

impl Inner {
    fn files(&mut self) -> &mut BTreeMap<String, Entry> {
        if self.entries.is_none() {
            let raw = std::mem::take(&mut self.raw_files);
            self.entries = Some(decode_files(&raw).unwrap_or_default());
        }
        self.entries.get_or_insert_with(BTreeMap::new)
    }
}

pub struct StateDb {
    path: PathBuf,
    tmp_dir: PathBuf,
    inner: Mutex<Inner>,
    /// (inode, size, mtime) of the file when it was read: unchanged at save time, no other
    /// process wrote it, and this process's copy is the base to write.
    loaded: Mutex<Option<Stat>>,
}

impl StateDb {
    /// Opens the db at `path`; `tmp_dir` (on the same filesystem as the files it describes)
    /// is where the clock file is touched. A missing or unreadable db starts empty: it is
    /// only a cache of hashes.
    pub fn open(path: &Path, tmp_dir: &Path) -> Result<Self> {
        let loaded = fs::metadata(path).ok().map(|m| Stat::from_metadata(&m));
        let (trees, raw_files) = match fs::read(path) {
            Ok(bytes) => split(&bytes).unwrap_or_else(|| {
                tracing::warn!("state db {} is unreadable; starting afresh", path.display());
                (BTreeMap::new(), Vec::new())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (BTreeMap::new(), Vec::new()),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        Ok(StateDb {
            path: path.to_path_buf(),
            tmp_dir: tmp_dir.to_path_buf(),
            inner: Mutex::new(Inner {
                entries: None,
                raw_files,
                trees,
                changes: BTreeMap::new(),
                tree_changes: BTreeMap::new(),
            }),
            loaded: Mutex::new(loaded),
        })
    }

    /// An empty db that is never saved (for tools that hash once).
    pub fn in_memory(tmp_dir: &Path) -> Self {
        StateDb {
            path: PathBuf::new(),
            tmp_dir: tmp_dir.to_path_buf(),
            inner: Mutex::new(Inner::default()),
            loaded: Mutex::new(None),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The filesystem's clock now, in ns since the epoch: the mtime of a file touched
    /// under the tmp dir. Read it before hashing; record the hashes with it.
    pub fn clock(&self) -> Result<i64> {
        fs::create_dir_all(&self.tmp_dir).at("create directory", &self.tmp_dir)?;
        let p = self.tmp_dir.join(format!("clock-{}", std::process::id()));
        let mut f = File::create(&p).at("write", &p)?;
        f.write_all(b"c").at("write", &p)?;
        let m = f.metadata().at("stat", &p)?;
        drop(f);
        let _ = fs::remove_file(&p);
        Ok(Stat::from_metadata(&m).mtime_ns)
    }

    /// The recorded digest of `key`, if the file still has the stat it was hashed with and
    /// that entry is not racy.
    pub fn lookup(&self, key: &str, stat: &Stat) -> Option<Digest> {
        self.inner().files().get(key).and_then(|e| trusted(e, stat))
    }

    /// The recorded tree under `key`, if its fingerprint is `fingerprint` and it is not racy.
    pub fn lookup_tree(&self, key: &str, fingerprint: &Digest) -> Option<TreeEntry> {
        self.inner()
            .trees
            .get(key)
            .filter(|t| t.fingerprint == *fingerprint && t.max_mtime_ns < t.verified_before_ns)
            .copied()
    }

    pub fn record_tree(&self, key: &str, t: TreeEntry) {
        let mut inner = self.inner();
        if inner.trees.get(key) == Some(&t) {
            return;
        }
        inner.trees.insert(key.to_string(), t);
        inner.tree_changes.insert(key.to_string(), t);
    }

    /// Looks up many keys under one lock; `keys` yields (key, stat).
    pub fn lookup_many<'a>(
        &self,
        keys: impl Iterator<Item = (&'a str, &'a Stat)>,
    ) -> Vec<Option<Digest>> {
        let mut inner = self.inner();
        let files = inner.files();
        keys.map(|(k, s)| files.get(k).and_then(|e| trusted(e, s)))
            .collect()
    }

    pub fn record(&self, key: &str, stat: &Stat, digest: Digest, verified_before_ns: i64) {
        self.record_many(
            std::iter::once((key.to_string(), *stat, digest)),
            verified_before_ns,
        );
    }

    pub fn record_many(
        &self,
        items: impl Iterator<Item = (String, Stat, Digest)>,
        verified_before_ns: i64,
    ) {
        let mut inner = self.inner();
        for (key, stat, digest) in items {
            let e = Entry {
                ino: stat.ino,
                size: stat.size,
                mtime_ns: stat.mtime_ns,
                ctime_ns: stat.ctime_ns,
                verified_before_ns,
                digest,
            };
            let files = inner.files();
            if files.get(&key) == Some(&e) {
                continue;
            }
            files.insert(key.clone(), e);
            inner.changes.insert(key, Some(e));
        }
    }

    /// Forgets every entry below directory `prefix` whose key is not in `keep` (sorted):
    /// files that were deleted from a tree that was just walked.
    pub fn prune_below(&self, prefix: &str, keep: &[String]) {
        let mut inner = self.inner();
        let start = format!("{prefix}/");
        let end = format!("{prefix}0"); // '0' is the byte after '/'
        let gone: Vec<String> = inner
            .files()
            .range(start..end)
            .map(|(k, _)| k)
            .filter(|k| keep.binary_search(k).is_err())
            .cloned()
            .collect();
        for k in gone {
            inner.files().remove(&k);
            inner.changes.insert(k, None);
        }
    }

    /// Number of per-file entries.
    pub fn len(&self) -> usize {
        self.inner().files().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes this process's changes back, merged over whatever is on disk now.
    pub fn save(&self) -> Result<()> {
        let mut inner = self.inner();
        if (inner.changes.is_empty() && inner.tree_changes.is_empty())
            || self.path.as_os_str().is_empty()
        {
            return Ok(());
        }
        let lock_path = self.path.with_extension("lk");
        let lock = File::create(&lock_path).at("create", &lock_path)?;
        lock.lock().at("lock", &lock_path)?;
        let now = fs::metadata(&self.path)
            .ok()
            .map(|m| Stat::from_metadata(&m));
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = if now.is_some() && now == *loaded {
            // Nobody wrote the db since it was read: this process's copy is current.
            let files_raw = match &inner.entries {
                None => Some(inner.raw_files.clone()),
                Some(_) => None,
            };
            match files_raw {
                Some(raw) => encode_raw(&inner.trees, &raw),
                None => encode(
                    &inner.trees,
                    inner.entries.as_ref().unwrap_or(&BTreeMap::new()),
                ),
            }
        } else {
            let (mut trees, mut files) = match fs::read(&self.path) {
                Ok(bytes) => split(&bytes)
                    .map(|(t, raw)| (t, decode_files(&raw).unwrap_or_default()))
                    .unwrap_or_default(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
                Err(e) => return Err(Error::io("read", &self.path, e)),
            };
            for (k, v) in &inner.changes {
                match v {
                    Some(e) => files.insert(k.clone(), *e),
                    None => files.remove(k),
                };
            }
            for (k, t) in &inner.tree_changes {
                trees.insert(k.clone(), *t);
            }
            let bytes = encode(&trees, &files);
            inner.entries = Some(files);
            inner.trees = trees;
            bytes
        };
        crate::fsutil::write_atomic(&self.path, &bytes, false)?;
        *loaded = fs::metadata(&self.path)
            .ok()
            .map(|m| Stat::from_metadata(&m));
        inner.changes.clear();
        inner.tree_changes.clear();
        Ok(())
    }
}

fn trusted(e: &Entry, s: &Stat) -> Option<Digest> {
    (e.ino == s.ino
        && e.size == s.size
        && e.mtime_ns == s.mtime_ns
        && e.ctime_ns == s.ctime_ns
        && s.mtime_ns.max(s.ctime_ns) < e.verified_before_ns)
        .then_some(e.digest)
}

fn encode(trees: &BTreeMap<String, TreeEntry>, entries: &BTreeMap<String, Entry>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + trees.len() * 150 + entries.len() * 100);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(trees.len() as u64).to_le_bytes());
    for (k, t) in trees {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(t.fingerprint.as_bytes());
        out.extend_from_slice(t.digest.as_bytes());
        out.extend_from_slice(&t.size.to_le_bytes());
        out.extend_from_slice(&t.files.to_le_bytes());
        out.extend_from_slice(&t.max_mtime_ns.to_le_bytes());
        out.extend_from_slice(&t.verified_before_ns.to_le_bytes());
    }
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (k, e) in entries {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&e.ino.to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&e.mtime_ns.to_le_bytes());
        out.extend_from_slice(&e.ctime_ns.to_le_bytes());
        out.extend_from_slice(&e.verified_before_ns.to_le_bytes());
        out.extend_from_slice(e.digest.as_bytes());
    }
    out
}

/// As `encode`, with the file section still in its encoded form.
fn encode_raw(trees: &BTreeMap<String, TreeEntry>, raw_files: &[u8]) -> Vec<u8> {
    let mut out = encode(trees, &BTreeMap::new());
    if !raw_files.is_empty() {
        // Replace the empty file section (a zero count) with the raw one.
        out.truncate(out.len() - 8);
        out.extend_from_slice(raw_files);
    }
    out
}

/// Parses the header and the tree section; returns the file section unparsed.
fn split(bytes: &[u8]) -> Option<(BTreeMap<String, TreeEntry>, Vec<u8>)> {
    let mut r = bytes;
    let mut magic = [0u8; 10];
    r.read_exact(&mut magic).ok()?;
    if &magic != MAGIC {
        return None;
    }
    let n = u64::from_le_bytes(take(&mut r)?);
    let mut trees = BTreeMap::new();
    for _ in 0..n {
        let key = take_key(&mut r)?;
        let t = TreeEntry {
            fingerprint: Digest::from_bytes(take(&mut r)?),
            digest: Digest::from_bytes(take(&mut r)?),
            size: u64::from_le_bytes(take(&mut r)?),
            files: u64::from_le_bytes(take(&mut r)?),
            max_mtime_ns: i64::from_le_bytes(take(&mut r)?),
            verified_before_ns: i64::from_le_bytes(take(&mut r)?),
        };
        trees.insert(key, t);
    }
    Some((trees, r.to_vec()))
}

fn decode_files(bytes: &[u8]) -> Option<BTreeMap<String, Entry>> {
    if bytes.is_empty() {
        return Some(BTreeMap::new());
    }
    let mut r = bytes;
    let n = u64::from_le_bytes(take(&mut r)?);
    let mut items = Vec::with_capacity(n.min(1 << 24) as usize);
    for _ in 0..n {
        let key = take_key(&mut r)?;
        let e = Entry {
            ino: u64::from_le_bytes(take(&mut r)?),
            size: u64::from_le_bytes(take(&mut r)?),
            mtime_ns: i64::from_le_bytes(take(&mut r)?),
            ctime_ns: i64::from_le_bytes(take(&mut r)?),
            verified_before_ns: i64::from_le_bytes(take(&mut r)?),
            digest: Digest::from_bytes(take(&mut r)?),
        };
        items.push((key, e));
    }
    // Written sorted: collecting builds the map in bulk.
    r.is_empty().then(|| items.into_iter().collect())
}

fn take_key(r: &mut &[u8]) -> Option<String> {
    let len = u32::from_le_bytes(take(r)?) as usize;
    if r.len() < len {
        return None;
    }
    let key = std::str::from_utf8(&r[..len]).ok()?.to_string();
    *r = &r[len..];
    Some(key)
}

fn take<const N: usize>(r: &mut &[u8]) -> Option<[u8; N]> {
    let mut buf = [0u8; N];
    r.read_exact(&mut buf).ok()?;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(ino: u64, size: u64, mtime_ns: i64) -> Stat {
        Stat {
            ino,
            size,
            mtime_ns,
            ctime_ns: mtime_ns,
            exec: false,
        }
    }

    #[test]
    fn lookup_requires_same_stat_and_an_older_mtime_than_the_clock() {
        let d = tempfile::tempdir().unwrap();
        let db = StateDb::open(&d.path().join("state"), d.path()).unwrap();
        let dg = Digest::of_bytes(b"x");
        db.record("a", &stat(1, 10, 100), dg, 200);
        assert_eq!(db.lookup("a", &stat(1, 10, 100)), Some(dg));
        assert_eq!(db.lookup("a", &stat(1, 11, 100)), None, "size changed");
        assert_eq!(db.lookup("a", &stat(2, 10, 100)), None, "inode changed");
        assert_eq!(db.lookup("a", &stat(1, 10, 101)), None, "mtime changed");
        let ctime_moved = Stat {
            ctime_ns: 150,
            ..stat(1, 10, 100)
        };
        assert_eq!(db.lookup("a", &ctime_moved), None, "ctime changed");
        // Hashed in the same tick as its last write: racy, never trusted.
        db.record("b", &stat(1, 10, 200), dg, 200);
        assert_eq!(db.lookup("b", &stat(1, 10, 200)), None);
    }

    #[test]
    fn saves_merge_with_other_processes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state");
        let one = StateDb::open(&p, d.path()).unwrap();
        let two = StateDb::open(&p, d.path()).unwrap();
        let dg = Digest::of_bytes(b"x");
        one.record("a", &stat(1, 1, 1), dg, 9);
        two.record("b", &stat(2, 2, 2), dg, 9);
        one.save().unwrap();
        two.save().unwrap();
        let three = StateDb::open(&p, d.path()).unwrap();
        assert_eq!(three.len(), 2);
        assert_eq!(three.lookup("a", &stat(1, 1, 1)), Some(dg));
        assert_eq!(three.lookup("b", &stat(2, 2, 2)), Some(dg));
    }

    #[test]
    fn prune_forgets_deleted_files_below_a_dir_only() {
        let d = tempfile::tempdir().unwrap();
        let db = StateDb::open(&d.path().join("state"), d.path()).unwrap();
        let dg = Digest::of_bytes(b"x");
        for k in ["d/a", "d/b", "d/sub/c", "d0", "e/a"] {
            db.record(k, &stat(1, 1, 1), dg, 9);
        }
        db.prune_below("d", &["d/b".to_string()]);
        let s = stat(1, 1, 1);
        assert!(db.lookup("d/a", &s).is_none());
        assert!(db.lookup("d/sub/c", &s).is_none());
        assert!(db.lookup("d/b", &s).is_some());
        assert!(db.lookup("d0", &s).is_some());
        assert!(db.lookup("e/a", &s).is_some());
    }

    #[test]
    fn clock_follows_the_filesystem() {
        let d = tempfile::tempdir().unwrap();
        let db = StateDb::in_memory(d.path());
        let before = db.clock().unwrap();
        std::fs::write(d.path().join("f"), "x").unwrap();
        let m = std::fs::metadata(d.path().join("f")).unwrap();
        let after = db.clock().unwrap();
        let f = Stat::from_metadata(&m).mtime_ns;
        assert!(before <= f && f <= after, "{before} {f} {after}");
    }

    #[test]
    fn trees_round_trip_and_racy_trees_are_not_trusted() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state");
        let db = StateDb::open(&p, d.path()).unwrap();
        let fp = Digest::of_bytes(b"fp");
        let t = TreeEntry {
            fingerprint: fp,
            digest: Digest::of_bytes(b"tree"),
            size: 10,
            files: 2,
            max_mtime_ns: 5,
            verified_before_ns: 9,
        };
        db.record_tree("data", t);
        db.record_tree(
            "racy",
            TreeEntry {
                max_mtime_ns: 9,
                ..t
            },
        );
        db.record("data/a", &stat(1, 1, 1), Digest::of_bytes(b"a"), 9);
        db.save().unwrap();
        let again = StateDb::open(&p, d.path()).unwrap();
        assert_eq!(again.lookup_tree("data", &fp), Some(t));
        assert_eq!(again.lookup_tree("data", &Digest::of_bytes(b"other")), None);
        assert_eq!(again.lookup_tree("racy", &fp), None);
        assert!(again.lookup("data/a", &stat(1, 1, 1)).is_some());
    }

    #[test]
    fn a_garbled_db_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state");
        std::fs::write(&p, b"PIPESTATE4\xff\xff").unwrap();
        let db = StateDb::open(&p, d.path()).unwrap();
        assert!(db.is_empty());
    }
}
