//! `pipe.lock`: per stage instance, what it last ran with (command, params, env, the hash
//! of every dep and out). Committed by users; the base of every staleness decision.
//!
//! Cheap at thousands of stage instances. A finished stage does not rewrite the lock: it
//! appends one JSON line to a journal (`.pipe/journal/<lock name>.jsonl`) under a short
//! flock. Readers see the lock with the journal replayed on top. At the end of a command
//! (or at the start of the next one, after a crash) the journal is folded into the lock in
//! one atomic rewrite. So a run of N stages costs O(N) appends and one O(N) rewrite,
//! never N rewrites, and two `pipe repro` in one workspace interleave their appends
//! safely.
//!
//! A run that reuses what it observed earlier (see `crate::run::observe::Seen`) asks
//! whether anyone else recorded since: [`LockStore::stamp`] is the identity, size and
//! times of the lock's files, and [`LockStore::record`] says how its own append moved it.
//! What writes workspace paths without recording anything (`pipe checkout`, a stage whose
//! command failed) calls [`LockStore::mark`] when it is done: an empty journal line, which
//! moves the stamp and which replay skips.
//!
//! Merge-friendly: see `format` (one line per fact, sorted) and `merge` (a git merge driver
//! that merges by stage).

pub mod entry;
pub mod format;
pub mod merge;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use entry::LockEntry;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot {op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("{}: {e}", path.display())]
    Parse {
        path: PathBuf,
        e: format::ParseError,
    },
    /// A journal line that cannot be encoded.
    #[error("{}: {e}", path.display())]
    Encode { path: PathBuf, e: serde_json::Error },
    /// The folded lock could not be written (boxed: a lock error travels in every
    /// `Result`).
    #[error("{}: {e}", path.display())]
    Write {
        path: PathBuf,
        e: Box<pipe_cache::Error>,
    },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LockError {
    let path = path.to_path_buf();
    move |err| LockError::Io { op, path, err }
}

#[derive(Serialize, Deserialize)]
struct JournalLine {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entry: Option<LockEntry>,
}

/// One of the lock's files as it stands; `None` in a [`Stamp`]: the file does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// `Err`: the file exists but cannot be looked at.
    fn of(path: &Path) -> Result<Option<FileStamp>, LockError> {
        match fs::symlink_metadata(path) {
            Ok(m) => Ok(Some(FileStamp {
                ino: m.ino(),
                len: m.len(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("look at", path)(e)),
        }
    }
}

/// The lock's files (lock file and journal, then the side store's) as they stand: two equal
/// stamps mean no process recorded, forgot or folded in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp(Vec<Option<FileStamp>>);

impl Stamp {
    /// Takes this process's own append into account: true when the journal was as this
    /// stamp says just before the append (nobody else wrote in between), and the stamp now
    /// says how the append left it; false (the stamp unchanged) otherwise.
    pub fn advance(&mut self, r: &Recorded) -> bool {
        match self.0.get_mut(r.at) {
            Some(part) if *part == r.before => {
                *part = r.after;
                true
            }
            _ => false,
        }
    }
}

/// How one [`LockStore::record`] changed the journal it appended to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Which part of a [`Stamp`] the journal is.
    at: usize,
    before: Option<FileStamp>,
    after: Option<FileStamp>,
}

/// The lock file of one pipeline, with its journal.
#[derive(Debug, Clone)]
pub struct LockStore {
    path: PathBuf,
    journal: PathBuf,
    guard: PathBuf,
    /// A second store for the stage ids it claims (experiments keep theirs out of
    /// `pipe.lock`): reads see both, records go to the one that owns the id.
    side: Option<Side>,
}

/// A second store and which ids it owns.
type Side = (Box<LockStore>, fn(&str) -> bool);

pub type Entries = BTreeMap<String, LockEntry>;

impl LockStore {
    /// `lock_path`: e.g. `<root>/pipe.lock`; `journal_dir`: `<root>/.pipe/journal`.
    pub fn new(lock_path: &Path, journal_dir: &Path) -> Self {
        let name = lock_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pipe.lock".into());
        LockStore {
            path: lock_path.to_path_buf(),
            journal: journal_dir.join(format!("{name}.jsonl")),
            guard: journal_dir.join(format!("{name}.lk")),
            side: None,
        }
    }

    /// This store, with the ids `owns` claims kept in `side` instead.
    pub fn with_side(mut self, side: LockStore, owns: fn(&str) -> bool) -> Self {
        self.side = Some((Box::new(side), owns));
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock's files as they stand now (see [`Stamp`]).
    pub fn stamp(&self) -> Result<Stamp, LockError> {
        let mut parts = vec![FileStamp::of(&self.path)?, FileStamp::of(&self.journal)?];
        if let Some((side, _)) = &self.side {
            parts.extend(side.stamp()?.0);
        }
        Ok(Stamp(parts))
    }

    /// The lock as it stands: the file, with any journal replayed on top. Takes no lock.
    pub fn read(&self) -> Result<Entries, LockError> {
        let mut entries = self.read_file()?;
        self.replay(&mut entries)?;
        if let Some((side, _)) = &self.side {
            entries.extend(side.read()?);
        }
        Ok(entries)
    }

    fn read_file(&self) -> Result<Entries, LockError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => format::parse(&text).map_err(|e| LockError::Parse {
                path: self.path.clone(),
                e,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Entries::new()),
            Err(e) => Err(io("read", &self.path)(e)),
        }
    }

    fn replay(&self, entries: &mut Entries) -> Result<bool, LockError> {
        let text = match fs::read_to_string(&self.journal) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io("read", &self.journal)(e)),
        };
        let mut any = false;
        // A torn last line (a crash mid-append) is skipped: its stage simply reruns.
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(j) = serde_json::from_str::<JournalLine>(line) else {
                continue;
            };
            any = true;
            match j.entry {
                Some(e) => entries.insert(j.id, e),
                None => entries.remove(&j.id),
            };
        }
        Ok(any)
    }

    fn lock_guard(&self) -> Result<File, LockError> {
        if let Some(dir) = self.guard.parent() {
            fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        }
        let f = File::create(&self.guard).map_err(io("create", &self.guard))?;
        f.lock().map_err(io("lock", &self.guard))?;
        Ok(f)
    }

    /// Records a stage's successful run (or, with `None`, forgets the stage). Returns how
    /// the append moved the journal (for [`Stamp::advance`]).
    pub fn record(&self, id: &str, entry: Option<&LockEntry>) -> Result<Recorded, LockError> {
        if let Some((side, owns)) = &self.side
            && owns(id)
        {
            // The side store's parts come after this store's two in a stamp.
            let r = side.record(id, entry)?;
            return Ok(Recorded { at: r.at + 2, ..r });
        }
        let line = serde_json::to_string(&JournalLine {
            id: id.to_string(),
            entry: entry.cloned(),
        })
        .map_err(|e| LockError::Encode {
            path: self.journal.clone(),
            e,
        })?;
        self.append(format!("{line}\n").as_bytes())
    }

    /// Appends `bytes` to the journal under its guard: how that moved it.
    fn append(&self, bytes: &[u8]) -> Result<Recorded, LockError> {
        let _guard = self.lock_guard()?;
        let before = FileStamp::of(&self.journal)?;
        OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.journal)
            .and_then(|mut f| {
                // A crash mid-append leaves a torn last line: end it first, so that this
                // line is not glued onto it (replay skips the torn one, not this one too).
                let len = f.metadata()?.len();
                let mut last = [b'\n'];
                if len > 0 {
                    f.read_exact_at(&mut last, len - 1)?;
                }
                if last[0] != b'\n' {
                    f.write_all(b"\n")?;
                }
                f.write_all(bytes)
            })
            .map_err(io("append to", &self.journal))?;
        Ok(Recorded {
            at: 1,
            before,
            after: FileStamp::of(&self.journal)?,
        })
    }

    /// Tells runs in progress that tracked paths were written outside any stage's record
    /// (see the module's header): appends an empty line to the journal. Returns how that
    /// moved it (for [`Stamp::advance`]).
    pub fn mark(&self) -> Result<Recorded, LockError> {
        self.append(b"\n")
    }

    /// Folds the journal into the lock file: one atomic rewrite of the file as it stands
    /// (read under the guard, never an in-memory copy of the caller's). `keep` filters
    /// which stage ids survive (stages no longer in the pipeline are dropped); `None`
    /// keeps all. `keep` is asked under the guard, after every record that came before
    /// this fold: whatever a recorder wrote before recording (the pipeline file that
    /// `pipe add` extended) is there for it to see (see `ops::Session::fold_lock`).
    pub fn fold(&self, keep: Option<&dyn Fn(&str) -> bool>) -> Result<(), LockError> {
        if let Some((side, _)) = &self.side {
            // The side store holds what other sessions own too: it keeps everything.
            side.fold(None)?;
        }
        let _guard = self.lock_guard()?;
        let mut entries = self.read_file()?;
        let replayed = self.replay(&mut entries)?;
        let before = entries.len();
        if let Some(keep) = keep {
            entries.retain(|id, _| keep(id));
        }
        if !replayed && entries.len() == before {
            return Ok(());
        }
        let text = format::render(&entries);
        let unchanged = fs::read_to_string(&self.path).is_ok_and(|old| old == text);
        if !unchanged && (!entries.is_empty() || self.path.exists()) {
            pipe_cache::fsutil::write_file_atomic(&self.path, text.as_bytes(), true).map_err(
                |e| LockError::Write {
                    path: self.path.clone(),
                    e: Box::new(e),
                },
            )?;
        }
        if replayed {
            File::create(&self.journal).map_err(io("truncate", &self.journal))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipe_cache::Digest;

    fn entry(cmd: &str) -> LockEntry {
        let mut e = LockEntry {
            cmd: cmd.into(),
            params: BTreeMap::new(),
            env: BTreeMap::new(),
            deps: BTreeMap::new(),
            outs: BTreeMap::new(),
            changed_during_run: Vec::new(),
            key: None,
        };
        e.outs.insert(
            crate::wspath::WsPath::parse("o").unwrap(),
            pipe_cache::Summary::file(Digest::of_bytes(cmd.as_bytes()), 1, false),
        );
        e
    }

    #[test]
    fn journal_is_visible_before_and_after_folding() {
        let d = tempfile::tempdir().unwrap();
        let store = LockStore::new(&d.path().join("pipe.lock"), &d.path().join(".pipe/journal"));
        assert!(store.read().unwrap().is_empty());
        store.record("a", Some(&entry("1"))).unwrap();
        store.record("b", Some(&entry("2"))).unwrap();
        store.record("a", Some(&entry("3"))).unwrap();
        assert!(
            !d.path().join("pipe.lock").exists(),
            "appends do not rewrite the lock"
        );
        let seen = store.read().unwrap();
        assert_eq!(seen["a"].cmd, "3");
        store.fold(None).unwrap();
        assert_eq!(store.read().unwrap(), seen);
        assert_eq!(fs::read_to_string(&store.journal).unwrap(), "");
        store.record("b", None).unwrap();
        store.fold(Some(&|id| id != "zzz")).unwrap();
        assert_eq!(store.read().unwrap().keys().collect::<Vec<_>>(), vec!["a"]);
    }

    #[test]
    fn a_stamp_follows_own_appends_and_sees_anyone_elses() {
        let d = tempfile::tempdir().unwrap();
        let store = LockStore::new(&d.path().join("pipe.lock"), &d.path().join("j"));
        let mut stamp = store.stamp().unwrap();
        let mine = store.record("a", Some(&entry("1"))).unwrap();
        assert_ne!(store.stamp().unwrap(), stamp, "an append changes the stamp");
        assert!(stamp.advance(&mine));
        assert_eq!(
            store.stamp().unwrap(),
            stamp,
            "advanced past its own append"
        );
        // Another process (here: another handle) appends, then this one does.
        let other = LockStore::new(&d.path().join("pipe.lock"), &d.path().join("j"));
        other.record("b", Some(&entry("2"))).unwrap();
        let mine = store.record("a", Some(&entry("3"))).unwrap();
        assert!(!stamp.advance(&mine), "someone else wrote in between");
        assert_ne!(store.stamp().unwrap(), stamp);
        // A fold rewrites the lock file and empties the journal.
        let mut stamp = store.stamp().unwrap();
        store.fold(None).unwrap();
        assert_ne!(store.stamp().unwrap(), stamp);
        let mine = store.record("a", None).unwrap();
        assert!(!stamp.advance(&mine));
        // A mark moves the stamp and leaves the entries as they were.
        let (stamp, entries) = (store.stamp().unwrap(), store.read().unwrap());
        other.mark().unwrap();
        assert_ne!(store.stamp().unwrap(), stamp);
        assert_eq!(store.read().unwrap(), entries);
    }

    #[test]
    fn a_stamp_follows_own_appends_to_the_side_store() {
        let d = tempfile::tempdir().unwrap();
        let j = d.path().join("j");
        let store = LockStore::new(&d.path().join("pipe.lock"), &j)
            .with_side(LockStore::new(&d.path().join("exps.lock"), &j), |id| {
                id.starts_with("exp:")
            });
        store.record("a", Some(&entry("1"))).unwrap();
        let mut stamp = store.stamp().unwrap();
        let mine = store.record("exp:a", Some(&entry("2"))).unwrap();
        assert!(stamp.advance(&mine));
        assert_eq!(store.stamp().unwrap(), stamp);
        assert_eq!(store.read().unwrap()["exp:a"].cmd, "2");
        // Another process's append to the side store moves the stamp.
        let side = LockStore::new(&d.path().join("exps.lock"), &j);
        side.record("exp:b", None).unwrap();
        assert_ne!(store.stamp().unwrap(), stamp);
    }

    #[test]
    fn a_torn_journal_line_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let store = LockStore::new(&d.path().join("pipe.lock"), &d.path().join("j"));
        store.record("a", Some(&entry("1"))).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(&store.journal)
            .unwrap();
        f.write_all(b"{\"id\":\"b\",\"ent").unwrap();
        let seen = store.read().unwrap();
        assert_eq!(seen.len(), 1);
        // The next append (after the crash) is not glued onto the torn line.
        store.record("c", Some(&entry("3"))).unwrap();
        let seen = store.read().unwrap();
        assert_eq!(seen.keys().collect::<Vec<_>>(), vec!["a", "c"]);
    }

    #[test]
    fn fold_drops_stages_no_longer_in_the_pipeline() {
        let d = tempfile::tempdir().unwrap();
        let store = LockStore::new(&d.path().join("pipe.lock"), &d.path().join("j"));
        store.record("a", Some(&entry("1"))).unwrap();
        store.record("gone", Some(&entry("2"))).unwrap();
        store.fold(Some(&|id| id == "a")).unwrap();
        assert_eq!(store.read().unwrap().keys().collect::<Vec<_>>(), vec!["a"]);
    }
}
