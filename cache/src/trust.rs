//! Which objects are known to be whole, so that a restore checks what it hands out without
//! rehashing every object every time.
//!
//! An object can change after it was written: a hard-linked out edited in place, a byte
//! flipped on disk, a careless `chmod u+w` and an edit in the cache itself. Before any
//! object is checked out (checkout, run-cache restore, pull) the store looks it up here:
//!
//! ```text
//! <cache>/trusted      object (hex digest) -> (inode, size, mtime, ctime) when last hashed
//! <cache>/quarantine/  objects whose content no longer matches their name
//! ```
//!
//! The table is a [`StateDb`] keyed by digest instead of path: an object whose stat is the
//! one recorded when it was last hashed (and not racy) is trusted; any other is hashed again
//! (once, then recorded). Nothing but a change of the system clock puts a ctime back, so an
//! edit of the object (or of a file sharing its inode) is always seen. An object that hashes
//! to something else is moved to `quarantine/` (never checked out, never found by `has`),
//! and the caller reruns its stage, fetches it again, or says what to do.
//!
//! The table is only a cache of hashes: unreadable, it starts empty (every object is hashed
//! on its first use); it is written back when the store is dropped.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::Digest;
use crate::state::StateDb;
use crate::walk::Stat;

pub(crate) const FILE: &str = "trusted";
pub(crate) const QUARANTINE: &str = "quarantine";

pub(crate) struct Trust {
    path: PathBuf,
    tmp: PathBuf,
    db: OnceLock<StateDb>,
    /// The filesystem's clock, read once before this process hashed its first object: an
    /// earlier reading is as good for every later hash (it only makes more entries racy).
    clock: OnceLock<i64>,
}

impl Trust {
    pub(crate) fn new(root: &Path) -> Self {
        Trust {
            path: root.join(FILE),
            tmp: root.join("tmp"),
            db: OnceLock::new(),
            clock: OnceLock::new(),
        }
    }

    fn db(&self) -> &StateDb {
        self.db.get_or_init(|| {
            StateDb::open(&self.path, &self.tmp).unwrap_or_else(|e| {
                tracing::debug!("{e}; every object will be hashed before use");
                StateDb::in_memory(&self.tmp)
            })
        })
    }

    /// Whether `d` was hashed when its object last had `stat`.
    pub(crate) fn trusted(&self, d: &Digest, stat: &Stat) -> bool {
        self.db().lookup(&d.to_hex(), stat) == Some(*d)
    }

    /// The filesystem's clock, read before hashing an object.
    pub(crate) fn clock(&self) -> crate::Result<i64> {
        if let Some(c) = self.clock.get() {
            return Ok(*c);
        }
        let c = self.db().clock()?;
        Ok(*self.clock.get_or_init(|| c))
    }

    pub(crate) fn record(&self, d: &Digest, stat: &Stat, clock: i64) {
        self.db().record(&d.to_hex(), stat, *d, clock);
    }

    /// Writes what was learned back (best effort: a lost entry costs one hash later). In a
    /// cache shared by a group, the table and its lock are the group's to read and lock
    /// (0664): the lock is made so before the save would make it the user's alone.
    pub(crate) fn save(&self, shared_group: bool) {
        let Some(db) = self.db.get() else { return };
        if shared_group {
            let lk = self.path.with_extension("lk");
            if let Ok(f) = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lk)
            {
                let _ = crate::fsutil::share_file(&f, &lk, true);
            }
        }
        match db.save() {
            Ok(()) if shared_group => {
                use std::os::unix::fs::PermissionsExt;
                let _ =
                    std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o664));
            }
            Ok(()) => {}
            Err(e) => tracing::debug!("cannot save {}: {e}", self.path.display()),
        }
    }
}
