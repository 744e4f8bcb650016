//! The content-addressed store: file contents and directory manifests by digest, plus
//! small keyed records (the run cache) that point at them.
//!
//! ```text
//! <cache>/
//!   objects/ab/cdef…   a file's bytes or a manifest, named by the blake3 of its bytes;
//!                      read-only (0444, or 0555 for an executable's content)
//!   runs/ab/cdef…      a run-cache record, named by its key (a digest of what a run read)
//!   tmp/               files being written; renamed into objects/ or runs/ when whole;
//!                      a dead process's are swept by the next (see `lease`)
//!   trusted            objects' stats when last hashed (see `trust`)
//!   quarantine/        corrupt objects, moved out of the way; freed by `pipe gc`
//!   roots/<id>         the workspaces that use this cache (see the engine's `workspace::roots`)
//!   CACHEDIR.TAG, pipe-cache-version   the mark of a pipe cache (see `marker`)
//! ```
//!
//! With [`StoreOptions::shared_group`], every directory and file made here gets the mode a
//! group of users needs to store, read and collect (`fsutil`'s table: directories 2775,
//! objects 0444/0555, records and the rest 0664).
//!
//! Checking out into a workspace goes through its [`RootDir`]: an out's directory is
//! opened beneath the workspace root, so a link that leads out of it is refused, and each
//! file is made under a journaled temp name beside the out and put in place by a rename
//! (a tree: by `RENAME_EXCHANGE`, so the out is never missing). Storing links a workspace
//! file into `objects/` only when nothing else links it (see `Store::put_one`).
//!
//! Writing: a `Batch` first creates every new object under `tmp/` (by the first of the
//! configured link kinds that works: a hard link or reflink of the source, else a copy,
//! whose write-back is started as soon as it is whole), then makes it durable and places
//! it (`Store::place_durably`, which pulls use too):
//!
//! 1. `fdatasync` of each temp file, many at once on threads of their own (off the async
//!    runtime and off rayon's per-core pool: these calls wait on the disk). For a hard
//!    link the temp is the workspace file's inode, so the stage's own bytes are flushed;
//!    a reflink shares extents the clone call already wrote back, and the flush makes the
//!    new file's references to them durable.
//! 2. `rename` of each temp to `objects/ab/cdef…`.
//! 3. `fsync` of each directory a rename or a `mkdir` changed, once each.
//!
//! Only what this batch wrote is flushed: the cost of a commit does not depend on what
//! other processes have written to the same filesystem (a `syncfs` would wait for all of
//! it; `PIPE_BENCH_SYNCFS=1` selects that old order, for `bench/commit.sh` only). Why this
//! order is durable, by where a crash (a kill, or a power loss) stops it:
//!
//! - before 1 ends: the data may be partly on disk, but it only has a `tmp/` name; no
//!   object name points at it. Stray temps are all a crash leaves.
//! - between 1 and 3: every rename that survives points at data already on disk, so an
//!   object that exists is whole. A rename may be lost: the object is absent, never half.
//! - after 3: the objects and their names are on disk before the caller goes on to write
//!   the run-cache record and then the lock entry (the lock and its journal keep their own
//!   `fsync` of a temp + rename), so a lock never names an object a crash could lose.
//!
//! Two processes writing the same object race harmlessly: the rename of identical content
//! over identical content.
//!
//! Reading back (checkout): every object is checked first ([`Store::check`]: rehashed
//! unless its stat is the one it had when last hashed; a corrupt one is quarantined and
//! never handed out), then placed by the configured link kinds in order, reflink,
//! hardlink, symlink, copy; a kind the filesystem refuses (EXDEV, EOPNOTSUPP, …) is
//! skipped and not tried again by this process.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::lease::{self, Lease, Swept};
use crate::manifest::Manifest;
use crate::rootdir::RootDir;
use crate::trust::{self, Trust};
use crate::walk::Stat;

/// How a file gets from one place to another without (or with) copying its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    Reflink,
    Hardlink,
    Symlink,
    Copy,
}

impl LinkKind {
    /// Reflink, else copy: an out never shares its bytes with the cached object, so no
    /// write to the out (a `chmod u+w` and an edit, a stage still running, a root user
    /// ignoring read-only bits) can reach the cache. Hard links and symlinks are a choice
    /// a user makes in the config, knowing that risk.
    pub const DEFAULT_ORDER: [LinkKind; 2] = [LinkKind::Reflink, LinkKind::Copy];
    const ALL: [LinkKind; 4] = [
        LinkKind::Reflink,
        LinkKind::Hardlink,
        LinkKind::Symlink,
        LinkKind::Copy,
    ];

    fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Reflink => "reflink",
            LinkKind::Hardlink => "hardlink",
            LinkKind::Symlink => "symlink",
            LinkKind::Copy => "copy",
        }
    }
}

impl FromStr for LinkKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LinkKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown link kind `{s}` (expected reflink, hardlink, symlink or copy)")
            })
    }
}

/// Options of a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Link kinds to try, in order, for checkout (and, minus symlink, for storing).
    pub links: Vec<LinkKind>,
    /// Group-writable directories (setgid), for a cache shared by several users.
    pub shared_group: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            links: LinkKind::DEFAULT_ORDER.to_vec(),
            shared_group: false,
        }
    }
}

pub struct Store {
    root: PathBuf,
    opts: StoreOptions,
    /// Link kinds this filesystem refused; not tried again.
    refused: [AtomicBool; 4],
    trust: Trust,
    /// This process's lease on its files in `tmp/`, taken before the first is written.
    lease: std::sync::OnceLock<Option<Lease>>,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.trust.save(self.opts.shared_group);
    }
}

impl Store {
    pub fn open(root: &Path, opts: StoreOptions) -> Self {
        Store {
            root: root.to_path_buf(),
            opts,
            refused: Default::default(),
            trust: Trust::new(root),
            lease: std::sync::OnceLock::new(),
        }
    }

    /// Opens the cache at `root` after making sure it is pipe's (see `marker`): a missing
    /// or empty folder is marked, an older pipe's cache adopted, any other refused. Every
    /// command opens its cache this way, so that nothing pipe deletes there is the user's.
    pub fn open_marked(root: &Path, opts: StoreOptions) -> Result<Self, crate::marker::Refusal> {
        crate::marker::claim(root, opts.shared_group)?;
        Ok(Store::open(root, opts))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn options(&self) -> &StoreOptions {
        &self.opts
    }

    pub fn object_path(&self, d: &Digest) -> PathBuf {
        let hex = d.to_hex();
        self.root.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    pub fn record_path(&self, key: &Digest) -> PathBuf {
        let hex = key.to_hex();
        self.root.join("runs").join(&hex[..2]).join(&hex[2..])
    }

    /// Where files are written before they are renamed into place. Asking for it takes
    /// this process's lease there, so that no other process sweeps its files.
    pub fn tmp_dir(&self) -> PathBuf {
        let tmp = self.root.join("tmp");
        self.lease.get_or_init(|| {
            Lease::take(&tmp, self.opts.shared_group)
                .map_err(|e| tracing::debug!("no lease on {}: {e}", tmp.display()))
                .ok()
        });
        tmp
    }

    /// The other processes using this store now (see [`lease::holders`]): what they are
    /// writing may not be referenced by any lock or record yet.
    pub fn users(&self) -> Result<Vec<u32>> {
        lease::holders(&self.root.join("tmp"))
    }

    /// Keeps processes that have not used this store yet from starting to while the
    /// returned gate is held (`pipe gc`; see `lease`).
    pub fn close_gate(&self) -> Result<lease::Gate> {
        lease::Gate::close(&self.root.join("tmp"), self.opts.shared_group)
    }

    /// Removes what dead processes left in `tmp/`.
    pub fn sweep_tmp(&self) -> Result<Swept> {
        let tmp = self.tmp_dir();
        lease::sweep(&tmp, std::slice::from_ref(&tmp))
    }

    /// The corrupt objects set aside by [`Store::check`]: their number and bytes, removed
    /// unless `dry`.
    pub fn clear_quarantine(&self, dry: bool) -> Result<Swept> {
        let dir = self.root.join(trust::QUARANTINE);
        let mut swept = Swept::default();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(swept),
            Err(e) => return Err(Error::io("list", dir, e)),
        };
        for e in rd {
            let e = e.at("list", &dir)?;
            // Only what `quarantine` put there: an object's name.
            let name = e.file_name();
            let ours = name.len() == 64
                && name
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
            if !ours {
                continue;
            }
            swept.entries += 1;
            swept.bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            if !dry {
                fsutil::remove_path(&e.path())?;
            }
        }
        Ok(swept)
    }

    /// Whether the object is there (unchecked: see [`Store::check`]).
    pub fn has(&self, d: &Digest) -> bool {
        self.object_path(d).is_file()
    }

    /// Checks that object `d` is there and whole: trusted without reading when its stat is
    /// the one recorded the last time it was hashed, hashed again otherwise. A corrupt
    /// object is moved to `quarantine/` and reported as [`Error::Quarantined`].
    pub fn check(&self, d: &Digest) -> Result<()> {
        let p = self.object_path(d);
        let meta = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Error::Missing(*d)),
            Err(e) => return Err(Error::io("stat", p, e)),
        };
        if !meta.is_file() {
            return Err(self.quarantine(d, "it is not a regular file".into()));
        }
        let stat = Stat::from_metadata(&meta);
        if self.trust.trusted(d, &stat) {
            return Ok(());
        }
        let clock = self.trust.clock()?;
        let actual = crate::hash::hash_file(&p, meta.len())?;
        if actual != *d {
            return Err(self.quarantine(d, format!("its content hashes to {actual}")));
        }
        self.trust.record(d, &stat, clock);
        Ok(())
    }

    /// [`Store::check`] as a yes or no: a missing, corrupt or unreadable object is no.
    pub fn intact(&self, d: &Digest) -> bool {
        self.check(d).is_ok()
    }

    /// Moves a corrupt object to `quarantine/` (where `pipe gc` frees it); the error that
    /// says so, or why it could not be moved.
    fn quarantine(&self, d: &Digest, why: String) -> Error {
        let from = self.object_path(d);
        let dir = self.root.join(trust::QUARANTINE);
        let to = dir.join(d.to_hex());
        if let Err(e) = self.mkdir(&dir) {
            return e;
        }
        if let Err(e) = fs::rename(&from, &to) {
            return Error::io("quarantine", from, e);
        }
        tracing::warn!(
            "cache object {d} is corrupt ({why}); moved to {}",
            to.display()
        );
        Error::Quarantined {
            digest: *d,
            why,
            to,
            file: None,
        }
    }

    pub fn read_object(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.object_path(d);
        match fs::read(&p) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::Missing(*d)),
            Err(e) => Err(Error::io("read", p, e)),
        }
    }

    /// Loads and checks a directory manifest (a corrupt one is quarantined).
    pub fn read_manifest(&self, d: &Digest) -> Result<Manifest> {
        let bytes = self.read_object(d)?;
        let actual = Digest::of_bytes(&bytes);
        if actual != *d {
            return Err(self.quarantine(d, format!("its content hashes to {actual}")));
        }
        Manifest::decode(&bytes).map_err(|e| Error::invalid(self.object_path(d), e.to_string()))
    }

    pub fn batch(&self) -> Batch<'_> {
        Batch {
            store: self,
            files: Vec::new(),
            blobs: Vec::new(),
        }
    }

    /// Makes `dir` (in the cache) and its missing parents, each with the group's mode in a
    /// shared cache (not only the last: `objects/` as well as `objects/ab/`).
    pub fn mkdir(&self, dir: &Path) -> Result<()> {
        fsutil::create_dirs(dir, self.opts.shared_group)
    }

    fn is_refused(&self, k: LinkKind) -> bool {
        self.refused[k.index()].load(Ordering::Relaxed)
    }

    fn refuse(&self, k: LinkKind, why: &std::io::Error) {
        if !self.refused[k.index()].swap(true, Ordering::Relaxed) {
            tracing::debug!(
                "{} not possible here ({why}); trying the next link kind",
                k.name()
            );
        }
    }

    /// Creates `dst` (which must not exist) holding `src`'s bytes, by the first store link
    /// kind that works (a copy when `copy`). Returns the kind used.
    ///
    /// Only a regular file is stored (a link would be stored as whatever it points at,
    /// maybe outside the workspace). A hard link makes the workspace file and the object one
    /// inode, marked read-only: that is done only to a file with no other link (`nlink` 1),
    /// which only the stage can have made. A file with other links (`ln /elsewhere/f out/f`)
    /// shares its inode with files that are not pipe's to link or chmod: it is copied.
    fn put_one(&self, src: &Path, dst: &Path, copy: bool) -> Result<LinkKind> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let mut file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(src)
        {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(Error::invalid(src, "is not a regular file; not stored"));
            }
            Err(e) => return Err(Error::io("open", src, e)),
        };
        let meta = file.metadata().at("stat", src)?;
        if !meta.is_file() {
            return Err(Error::invalid(src, "is not a regular file; not stored"));
        }
        let ro_mode = fsutil::object_mode(meta.mode(), self.opts.shared_group);
        let links: &[LinkKind] = if copy { &[] } else { &self.opts.links };
        for &k in links {
            if k == LinkKind::Symlink || k == LinkKind::Copy || self.is_refused(k) {
                continue;
            }
            if k == LinkKind::Hardlink && meta.nlink() > 1 {
                tracing::debug!(
                    "{} has {} links: stored as a copy, never linked",
                    src.display(),
                    meta.nlink()
                );
                continue;
            }
            let r = match k {
                LinkKind::Hardlink => fs::hard_link(src, dst),
                _ => fsutil::clone_file(&file, dst, ro_mode),
            };
            match r {
                Ok(()) if k == LinkKind::Hardlink => {
                    // Linked is what was opened and checked, and nothing else links it: else
                    // (a file swapped or linked meanwhile) the link is undone and a copy made.
                    let linked = fs::symlink_metadata(dst).at("stat", dst)?;
                    if linked.ino() != meta.ino()
                        || linked.dev() != meta.dev()
                        || linked.nlink() != 2
                    {
                        fs::remove_file(dst).at("remove", dst)?;
                        continue;
                    }
                    // The workspace file and the object are one inode now: protect both.
                    fsutil::set_object_mode(dst, self.opts.shared_group)?;
                    return Ok(k);
                }
                Ok(()) => return Ok(k),
                Err(e) if is_unsupported(&e) => self.refuse(k, &e),
                Err(e) => return Err(Error::io("store", src, e)),
            }
        }
        copy_file(&mut file, src, dst, ro_mode, true)?;
        Ok(LinkKind::Copy)
    }

    /// Makes `rel` (beneath `dir`, the workspace) hold the object `d`, replacing whatever
    /// is there, by the first link kind that works. Returns the kind used.
    pub fn checkout_file(
        &self,
        d: &Digest,
        dir: &RootDir,
        rel: &str,
        exec: bool,
    ) -> Result<LinkKind> {
        self.checkout_file_as(d, dir, rel, exec, false)
    }

    /// As `checkout_file`; with `copy`, always an independent, writable copy.
    ///
    /// Written beside `rel` under a temp name (journaled, see `rootdir`), then put in its
    /// place: `rel`'s directory is opened beneath `dir`, so a link that leads out of it
    /// is refused (`Error::Escapes`) before anything is written.
    pub fn checkout_file_as(
        &self,
        d: &Digest,
        dir: &RootDir,
        rel: &str,
        exec: bool,
        copy: bool,
    ) -> Result<LinkKind> {
        self.check(d)?;
        let obj = self.object_path(d);
        let meta = match fs::metadata(&obj) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Error::Missing(*d)),
            Err(e) => return Err(Error::io("stat", obj, e)),
        };
        let (parent, name) = dir.parent(rel, true, "write")?;
        let tmp = parent.temp_name(&d.short())?;
        let obj_exec = meta.permissions().mode() & 0o111 != 0;
        let kind = self.link_into(&obj, &parent, &tmp, exec, obj_exec, copy)?;
        if let Err(e) = parent.replace(&tmp, name) {
            let _ = parent.remove_in(&tmp);
            return Err(e);
        }
        // Renaming a link over another link to the same inode does nothing: the temp
        // name is still there.
        if let Ok(Some(_)) = parent.entry_in(&tmp) {
            let _ = parent.remove_in(&tmp);
        }
        Ok(kind)
    }

    /// Creates `name` in `dir` holding object `obj`, by the first link kind that works.
    fn link_into(
        &self,
        obj: &Path,
        dir: &RootDir,
        name: &str,
        exec: bool,
        obj_exec: bool,
        copy: bool,
    ) -> Result<LinkKind> {
        let mode = if exec { 0o755 } else { 0o644 };
        let links: &[LinkKind] = if copy { &[] } else { &self.opts.links };
        let open = || fs::File::open(obj).at("open", obj);
        for &k in links {
            if self.is_refused(k) {
                continue;
            }
            let r = match k {
                // One inode cannot carry two modes: content shared by an executable and a
                // plain file gets a copy.
                LinkKind::Hardlink if exec != obj_exec => continue,
                LinkKind::Hardlink => dir.hard_link_in(obj, name),
                LinkKind::Reflink => dir.reflink_in(&open()?, name, mode).map(drop),
                LinkKind::Symlink => dir.symlink_in(obj, name),
                LinkKind::Copy => break,
            };
            match r {
                Ok(()) => return Ok(k),
                Err(e) if is_unsupported(&e) => self.refuse(k, &e),
                Err(e) => return Err(Error::io("link", dir.abs(name), e)),
            }
        }
        dir.copy_in(&mut open()?, name, mode)
            .map_err(|e| copy_error(obj, &dir.abs(name), e))?;
        Ok(LinkKind::Copy)
    }

    /// Makes directory `rel` (beneath `dir`, the workspace) hold exactly the files of
    /// `manifest`: built beside it under a temp name and exchanged with it, so a failure
    /// leaves `rel` as it was (see `RootDir::replace`).
    pub fn checkout_tree(&self, manifest: &Manifest, dir: &RootDir, rel: &str) -> Result<()> {
        self.checkout_tree_as(manifest, dir, rel, false)
    }

    /// As `checkout_tree`; with `copy`, every file an independent, writable copy.
    pub fn checkout_tree_as(
        &self,
        manifest: &Manifest,
        dir: &RootDir,
        rel: &str,
        copy: bool,
    ) -> Result<()> {
        let (parent, name) = dir.parent(rel, true, "write")?;
        let tmp = parent.temp_name("tree")?;
        parent
            .mkdir_in(&tmp)
            .map_err(|e| Error::io("create directory", parent.abs(&tmp), e))?;
        let r = parent
            .subdir(&tmp, false)
            .and_then(|tree| self.fill_tree(manifest, &tree, copy))
            .and_then(|()| parent.replace(&tmp, name));
        if r.is_err() {
            let _ = parent.remove_in(&tmp);
        }
        r
    }

    /// Fills the empty directory `tree` with the files of `manifest` (their directories
    /// opened beneath it: a manifest naming `..` cannot write outside it).
    fn fill_tree(&self, manifest: &Manifest, tree: &RootDir, copy: bool) -> Result<()> {
        let mut subdirs: Vec<&str> = manifest
            .entries()
            .iter()
            .filter_map(|e| e.path.rsplit_once('/').map(|(d, _)| d))
            .collect();
        subdirs.dedup();
        let mut dirs = std::collections::HashMap::new();
        for s in subdirs {
            if !dirs.contains_key(s) {
                dirs.insert(s, tree.subdir(s, true)?);
            }
        }
        manifest.entries().par_iter().try_for_each(|e| {
            self.check(&e.digest).map_err(|err| err.within(&e.path))?;
            let obj = self.object_path(&e.digest);
            let (d, name) = match e.path.rsplit_once('/') {
                Some((d, n)) => (dirs.get(d), n),
                None => (Some(tree), e.path.as_str()),
            };
            let Some(d) = d else {
                return Err(Error::invalid(tree.abs(&e.path), "has no directory"));
            };
            let obj_exec = match fs::metadata(&obj) {
                Ok(m) => m.permissions().mode() & 0o111 != 0,
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    return Err(Error::Missing(e.digest));
                }
                Err(err) => return Err(Error::io("stat", obj, err)),
            };
            self.link_into(&obj, d, name, e.exec, obj_exec, copy)
                .map(|_| ())
        })
    }

    /// Rehashes an object and checks it against its name.
    pub fn verify(&self, d: &Digest) -> Result<()> {
        let p = self.object_path(d);
        let meta = match fs::metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Error::Missing(*d)),
            Err(e) => return Err(Error::io("stat", p, e)),
        };
        let actual = crate::hash::hash_file(&p, meta.len())?;
        if actual != *d {
            return Err(Error::Corrupt { digest: *d, actual });
        }
        Ok(())
    }

    /// Every object in the store.
    pub fn list_objects(&self) -> Result<Vec<Digest>> {
        list_two_level(&self.root.join("objects"))
    }

    /// Every run-cache record key in the store.
    pub fn list_records(&self) -> Result<Vec<Digest>> {
        list_two_level(&self.root.join("runs"))
    }

    pub fn remove_object(&self, d: &Digest) -> Result<()> {
        fsutil::remove_path(&self.object_path(d))
    }

    pub fn remove_record(&self, key: &Digest) -> Result<()> {
        fsutil::remove_path(&self.record_path(key))
    }

    pub fn get_record(&self, key: &Digest) -> Result<Option<Vec<u8>>> {
        let p = self.record_path(key);
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", p, e)),
        }
    }

    /// Writes a run-cache record: private to the user (0600), or, in a cache shared by a
    /// group, readable and replaceable by it (0664).
    pub fn put_record(&self, key: &Digest, bytes: &[u8]) -> Result<()> {
        let p = self.record_path(key);
        if let Some(dir) = p.parent() {
            self.mkdir(dir)?;
        }
        let mode = self.opts.shared_group.then_some(fsutil::SHARED_FILE_MODE);
        fsutil::write_atomic_mode(&p, bytes, true, mode)
    }
}

/// Objects to add to a store, written all at once: see the module docs.
pub struct Batch<'a> {
    store: &'a Store,
    /// (source, digest, store as a copy)
    files: Vec<(PathBuf, Digest, bool)>,
    blobs: Vec<(Vec<u8>, Digest)>,
}

impl Batch<'_> {
    /// Adds the content of file `src`, which the caller hashed to `d`.
    pub fn add_file(&mut self, src: &Path, d: Digest) {
        self.files.push((src.to_path_buf(), d, false));
    }

    /// Adds a copy of `src`'s content, never linking the source into the store (for files
    /// that must stay independent and writable where they are).
    pub fn add_file_copy(&mut self, src: &Path, d: Digest) {
        self.files.push((src.to_path_buf(), d, true));
    }

    /// Adds bytes (a manifest) that hash to `d`.
    pub fn add_bytes(&mut self, bytes: Vec<u8>, d: Digest) {
        self.blobs.push((bytes, d));
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.blobs.is_empty()
    }

    /// Writes every object that is not in the store yet. Returns how many were new.
    pub fn commit(mut self) -> Result<usize> {
        let store = self.store;
        let mut seen = std::collections::HashSet::new();
        self.files
            .retain(|(_, d, _)| seen.insert(*d) && !store.has(d));
        self.blobs.retain(|(_, d)| seen.insert(*d) && !store.has(d));
        let n = self.files.len() + self.blobs.len();
        if n == 0 {
            return Ok(0);
        }
        let tmp_dir = store.tmp_dir();
        store.mkdir(&tmp_dir)?;
        let started = std::time::Instant::now();
        let staged: Vec<Result<(PathBuf, Digest)>> = self
            .files
            .par_iter()
            .map(|(src, d, copy)| {
                let tmp = fsutil::unique_path(&tmp_dir, &d.short());
                store.put_one(src, &tmp, *copy).map(|_| (tmp, *d))
            })
            .chain(self.blobs.par_iter().map(|(bytes, d)| {
                let tmp = fsutil::unique_path(&tmp_dir, &d.short());
                fsutil::write_new(&tmp, bytes)?;
                fsutil::set_object_mode(&tmp, store.opts.shared_group)?;
                Ok((tmp, *d))
            }))
            .collect();
        let mut ok = Vec::with_capacity(staged.len());
        let mut first_err = None;
        for r in staged {
            match r {
                Ok(x) => ok.push(x),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let cleanup = |items: &[(PathBuf, Digest)]| {
            for (tmp, _) in items {
                let _ = fs::remove_file(tmp);
            }
        };
        if let Some(e) = first_err {
            cleanup(&ok);
            return Err(e);
        }
        tracing::debug!(
            objects = n,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "new objects written to tmp/"
        );
        let placed = store.place_durably(&ok);
        if placed.is_err() {
            cleanup(&ok);
        }
        placed.map(|()| n)
    }
}

impl Store {
    /// Moves whole temp files (under this store's tmp dir) to their object names, durably:
    /// their data first (`fsutil::flush_files`), then the renames, then each directory a
    /// rename or `mkdir` changed (`fsutil::sync_dirs`). See the module docs for why this
    /// order is durable. Temps not placed on an error are left to the caller.
    pub fn place_durably(&self, staged: &[(PathBuf, Digest)]) -> Result<()> {
        if staged.is_empty() {
            return Ok(());
        }
        if self.opts.shared_group {
            // Whoever wrote the temp (a batch, a pull), the group reads the object.
            staged
                .par_iter()
                .try_for_each(|(tmp, _)| fsutil::set_object_mode(tmp, true))?;
        }
        let old_way = fsutil::bench_syncfs();
        let started = std::time::Instant::now();
        if old_way {
            fsutil::syncfs(&self.tmp_dir())?;
        } else {
            let temps: Vec<PathBuf> = staged.iter().map(|(t, _)| t.clone()).collect();
            fsutil::flush_files(&temps)?;
        }
        let flushed = started.elapsed();
        // The fan-out directories, each created once; a new one is an entry of `objects/`
        // (and a new `objects/` one of the root).
        let mut dirs = std::collections::BTreeSet::new();
        for (_, d) in staged {
            if let Some(dir) = self.object_path(d).parent() {
                dirs.insert(dir.to_path_buf());
            }
        }
        let mut changed = dirs.clone();
        for dir in &dirs {
            if !dir.is_dir() {
                self.mkdir(dir)?;
                changed.insert(self.root.join("objects"));
                changed.insert(self.root.clone());
            }
        }
        staged.par_iter().try_for_each(|(tmp, d)| {
            let dst = self.object_path(d);
            fs::rename(tmp, &dst).at("store", &dst)
        })?;
        let renamed = started.elapsed();
        if !old_way {
            fsutil::sync_dirs(&changed)?;
        }
        tracing::debug!(
            objects = staged.len(),
            syncfs = old_way,
            flush_ms = flushed.as_secs_f64() * 1e3,
            rename_ms = (renamed - flushed).as_secs_f64() * 1e3,
            dirs = if old_way { 0 } else { changed.len() },
            dirs_ms = (started.elapsed() - renamed).as_secs_f64() * 1e3,
            "objects placed durably"
        );
        Ok(())
    }
}

fn is_unsupported(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        e.raw_os_error().map(Errno::from_raw_os_error),
        Some(
            Errno::XDEV
                | Errno::OPNOTSUPP
                | Errno::PERM
                | Errno::MLINK
                | Errno::INVAL
                | Errno::NOSYS
                | Errno::TXTBSY
        )
    ) || e.kind() == ErrorKind::Unsupported
}

/// Copies the open file `src` (at `src_path`) to `dst` (a new temp name in the cache,
/// created with `mode`; std's copy between two files is `copy_file_range` on Linux, so the
/// kernel moves the bytes); a failed copy (a full disk) removes its partial file, so that
/// it takes no space from the next write. With `to_store`, write-back of the new file is
/// started as soon as it is whole (`fsutil::start_writeback`): the flush before its rename
/// then finds it written or under way, and a batch's bytes go to the disk while the next
/// files are being copied instead of all at the end (measured in the README, "Durable
/// commits").
fn copy_file(
    src: &mut fs::File,
    src_path: &Path,
    dst: &Path,
    mode: u32,
    to_store: bool,
) -> Result<()> {
    let mut copy = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dst)?;
        std::io::copy(src, &mut to)?;
        crate::rootdir::set_mode(&to, mode)?;
        if to_store {
            fsutil::start_writeback(&to);
        }
        Ok(())
    };
    copy().map_err(|e| {
        let _ = fs::remove_file(dst);
        copy_error(src_path, dst, e)
    })
}

fn copy_error(src: &Path, dst: &Path, e: std::io::Error) -> Error {
    // A full disk or a quota is about the destination; a vanished source about the source.
    if e.kind() == ErrorKind::NotFound && !src.exists() {
        Error::io("read", src, e)
    } else {
        Error::io("write", dst, e)
    }
}

fn list_two_level(dir: &Path) -> Result<Vec<Digest>> {
    let mut out = Vec::new();
    let top = match fs::read_dir(dir) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for a in top {
        let a = a.at("list", dir)?;
        let prefix = a.file_name();
        let Some(prefix) = prefix.to_str().filter(|p| p.len() == 2) else {
            continue;
        };
        let sub = a.path();
        for b in fs::read_dir(&sub).at("list", &sub)? {
            let b = b.at("list", &sub)?;
            if let Some(rest) = b.file_name().to_str()
                && let Ok(d) = format!("{prefix}{rest}").parse()
            {
                out.push(d);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateDb;
    use crate::tree::{Hashed, hash_path};

    fn store_with(root: &Path, links: Vec<LinkKind>) -> Store {
        Store::open(
            &root.join("cache"),
            StoreOptions {
                links,
                shared_group: false,
            },
        )
    }

    fn put_tree(store: &Store, ws: &Path, rel: &str) -> Hashed {
        let state = StateDb::in_memory(&ws.join("tmp"));
        let h = hash_path(ws, rel, &state, state.clock().unwrap())
            .unwrap()
            .unwrap();
        let mut b = store.batch();
        if let Hashed::Dir { manifest, digest } = &h {
            for e in manifest.entries() {
                b.add_file(&ws.join(rel).join(&e.path), e.digest);
            }
            b.add_bytes(manifest.encode(), *digest);
        }
        b.commit().unwrap();
        h
    }

    #[test]
    fn tree_round_trips_through_every_link_kind() {
        for kind in [
            LinkKind::Hardlink,
            LinkKind::Symlink,
            LinkKind::Copy,
            LinkKind::Reflink,
        ] {
            let d = tempfile::tempdir().unwrap();
            let ws = d.path();
            fs::create_dir_all(ws.join("out/sub")).unwrap();
            fs::write(ws.join("out/a"), "alpha").unwrap();
            fs::write(ws.join("out/sub/b"), "beta").unwrap();
            fs::set_permissions(ws.join("out/sub/b"), fs::Permissions::from_mode(0o755)).unwrap();
            let store = store_with(ws, vec![kind, LinkKind::Copy]);
            let h = put_tree(&store, ws, "out");
            let Hashed::Dir { manifest, digest } = h else {
                panic!()
            };
            assert_eq!(store.read_manifest(&digest).unwrap(), manifest);
            fsutil::remove_path(&ws.join("out")).unwrap();
            let root = RootDir::open(ws).unwrap();
            store.checkout_tree(&manifest, &root, "out").unwrap();
            assert_eq!(fs::read_to_string(ws.join("out/a")).unwrap(), "alpha");
            assert_eq!(fs::read_to_string(ws.join("out/sub/b")).unwrap(), "beta");
            let mode = fs::metadata(ws.join("out/sub/b"))
                .unwrap()
                .permissions()
                .mode();
            assert_ne!(mode & 0o111, 0, "{kind:?} keeps the exec bit");
            for e in manifest.entries() {
                store.verify(&e.digest).unwrap();
            }
        }
    }

    #[test]
    fn hardlinked_objects_are_read_only_and_shared() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path();
        fs::write(ws.join("f"), "data").unwrap();
        let store = store_with(ws, vec![LinkKind::Hardlink]);
        let dg = Digest::of_bytes(b"data");
        let mut b = store.batch();
        b.add_file(&ws.join("f"), dg);
        assert_eq!(b.commit().unwrap(), 1);
        let obj = fs::metadata(store.object_path(&dg)).unwrap();
        let src = fs::metadata(ws.join("f")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(obj.ino(), src.ino(), "stored without copying");
        assert_eq!(obj.permissions().mode() & 0o222, 0, "read-only");
        // Storing again is a no-op.
        let mut b = store.batch();
        b.add_file(&ws.join("f"), dg);
        assert_eq!(b.commit().unwrap(), 0);
    }

    #[test]
    fn a_file_with_other_links_is_stored_as_a_copy_and_keeps_its_mode() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let ws = d.path();
        fs::write(ws.join("elsewhere"), "data").unwrap();
        fs::set_permissions(ws.join("elsewhere"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::hard_link(ws.join("elsewhere"), ws.join("f")).unwrap();
        let store = store_with(ws, vec![LinkKind::Hardlink, LinkKind::Copy]);
        let dg = Digest::of_bytes(b"data");
        let mut b = store.batch();
        b.add_file(&ws.join("f"), dg);
        assert_eq!(b.commit().unwrap(), 1);
        let obj = fs::metadata(store.object_path(&dg)).unwrap();
        let src = fs::metadata(ws.join("elsewhere")).unwrap();
        assert_ne!(obj.ino(), src.ino(), "a copy");
        assert_eq!(
            obj.permissions().mode() & 0o777,
            0o444,
            "the object is read-only"
        );
        assert_eq!(
            src.permissions().mode() & 0o777,
            0o644,
            "the file is not chmodded"
        );
        assert_eq!(src.nlink(), 2, "nor linked");
    }

    #[test]
    fn missing_and_corrupt_objects_are_reported() {
        let d = tempfile::tempdir().unwrap();
        let store = store_with(d.path(), vec![LinkKind::Copy]);
        let dg = Digest::of_bytes(b"x");
        let root = RootDir::open(d.path()).unwrap();
        assert!(matches!(
            store.checkout_file(&dg, &root, "o", false),
            Err(Error::Missing(_))
        ));
        let mut b = store.batch();
        b.add_bytes(b"x".to_vec(), dg);
        b.commit().unwrap();
        store.verify(&dg).unwrap();
        let p = store.object_path(&dg);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, "y").unwrap();
        assert!(matches!(store.verify(&dg), Err(Error::Corrupt { .. })));
        assert_eq!(store.list_objects().unwrap(), vec![dg]);
    }

    #[test]
    fn checkout_replaces_and_a_copy_is_writable() {
        let d = tempfile::tempdir().unwrap();
        let store = store_with(d.path(), vec![LinkKind::Copy]);
        let dg = Digest::of_bytes(b"new");
        let mut b = store.batch();
        b.add_bytes(b"new".to_vec(), dg);
        b.commit().unwrap();
        let dst = d.path().join("ws/f");
        fs::create_dir_all(d.path().join("ws")).unwrap();
        fs::write(&dst, "old").unwrap();
        let root = RootDir::open(d.path()).unwrap();
        assert_eq!(
            store.checkout_file(&dg, &root, "ws/f", false).unwrap(),
            LinkKind::Copy
        );
        assert_eq!(fs::read_to_string(&dst).unwrap(), "new");
        assert_ne!(fs::metadata(&dst).unwrap().permissions().mode() & 0o200, 0);
    }

    #[test]
    fn a_changed_object_is_rehashed_and_quarantined_and_a_trusted_one_is_not_read() {
        let d = tempfile::tempdir().unwrap();
        let store = store_with(d.path(), vec![LinkKind::Copy]);
        let dg = Digest::of_bytes(b"data");
        let mut b = store.batch();
        b.add_bytes(b"data".to_vec(), dg);
        b.commit().unwrap();
        // Past the filesystem clock's tick: the check's record is then trusted.
        std::thread::sleep(std::time::Duration::from_millis(30));
        store.check(&dg).unwrap();
        let p = store.object_path(&dg);
        let stat = Stat::from_metadata(&fs::symlink_metadata(&p).unwrap());
        assert!(store.trust.trusted(&dg, &stat));
        // Same size, new bytes: the ctime moved, so it is hashed again and set aside.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, "dada").unwrap();
        let dst = d.path().join("out");
        let root = RootDir::open(d.path()).unwrap();
        match store.checkout_file(&dg, &root, "out", false) {
            Err(Error::Quarantined { to, .. }) => {
                assert_eq!(fs::read(&to).unwrap(), b"dada");
            }
            other => panic!("{other:?}"),
        }
        assert!(!dst.exists() && !store.has(&dg));
        assert!(matches!(store.check(&dg), Err(Error::Missing(_))));
        assert_eq!(store.clear_quarantine(false).unwrap().entries, 1);
        assert_eq!(store.clear_quarantine(false).unwrap().entries, 0);
    }

    #[test]
    fn checking_out_over_the_objects_own_inode_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        fs::create_dir_all(&ws).unwrap();
        fs::write(ws.join("f"), "data").unwrap();
        let store = store_with(d.path(), vec![LinkKind::Hardlink]);
        let dg = Digest::of_bytes(b"data");
        let mut b = store.batch();
        b.add_file(&ws.join("f"), dg);
        b.commit().unwrap();
        let root = RootDir::open(&ws).unwrap();
        assert_eq!(
            store.checkout_file(&dg, &root, "f", false).unwrap(),
            LinkKind::Hardlink
        );
        let names: Vec<_> = fs::read_dir(&ws)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"]);
    }

    #[test]
    fn a_symlink_is_never_stored() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        fs::write(&outside, "x").unwrap();
        std::os::unix::fs::symlink(&outside, d.path().join("link")).unwrap();
        let store = store_with(d.path(), vec![LinkKind::Hardlink, LinkKind::Copy]);
        let mut b = store.batch();
        b.add_file(&d.path().join("link"), Digest::of_bytes(b"x"));
        let err = b.commit().unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let m = fs::metadata(&outside).unwrap();
        assert_ne!(
            m.permissions().mode() & 0o200,
            0,
            "the target is not chmodded"
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(m.nlink(), 1);
    }

    #[test]
    fn records_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let store = store_with(d.path(), vec![LinkKind::Copy]);
        let k = Digest::of_bytes(b"key");
        assert_eq!(store.get_record(&k).unwrap(), None);
        store.put_record(&k, b"{}").unwrap();
        assert_eq!(store.get_record(&k).unwrap().as_deref(), Some(&b"{}"[..]));
        assert_eq!(store.list_records().unwrap(), vec![k]);
    }
}
