//! The content-addressed store: file contents and directory manifests by digest, plus
//! small keyed records (the run cache) that point at them.
//!
//! ```text
//! <cache>/
//!   objects/ab/cdef…   a file's bytes or a manifest, named by the blake3 of its bytes;
//!                      read-only (0444, or 0555 for an executable's content)
//!   runs/ab/cdef…      a run-cache record, named by its key (a digest of what a run read)
//!   tmp/               files being written; renamed into objects/ or runs/ when whole
//! ```
//!
//! Writing: a `Batch` first creates every new object under `tmp/` (by the first of the
//! configured link kinds that works: a hard link or reflink of the source, else a copy),
//! then flushes the filesystem once (`syncfs`, not an fsync per file), then renames each
//! into place. A crash leaves at worst stray files in `tmp/`, never a partial object, and an
//! object that exists is always whole. Two processes writing the same object race
//! harmlessly: the rename of identical content over identical content.
//!
//! Reading back (checkout): the configured link kinds in order, reflink, hardlink,
//! symlink, copy; a kind the filesystem refuses (EXDEV, EOPNOTSUPP, …) is skipped and
//! not tried again by this process.

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
use crate::manifest::Manifest;

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
    pub const DEFAULT_ORDER: [LinkKind; 3] =
        [LinkKind::Reflink, LinkKind::Hardlink, LinkKind::Copy];
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
}

impl Store {
    pub fn open(root: &Path, opts: StoreOptions) -> Self {
        Store {
            root: root.to_path_buf(),
            opts,
            refused: Default::default(),
        }
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

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn has(&self, d: &Digest) -> bool {
        self.object_path(d).is_file()
    }

    pub fn read_object(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.object_path(d);
        match fs::read(&p) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::Missing(*d)),
            Err(e) => Err(Error::io("read", p, e)),
        }
    }

    /// Loads and checks a directory manifest.
    pub fn read_manifest(&self, d: &Digest) -> Result<Manifest> {
        let bytes = self.read_object(d)?;
        let actual = Digest::of_bytes(&bytes);
        if actual != *d {
            return Err(Error::Corrupt { digest: *d, actual });
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

    fn mkdir(&self, dir: &Path) -> Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        fs::create_dir_all(dir).at("create directory", dir)?;
        if self.opts.shared_group {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o2775)).at("chmod", dir)?;
        }
        Ok(())
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
    fn put_one(&self, src: &Path, dst: &Path, copy: bool) -> Result<LinkKind> {
        let links: &[LinkKind] = if copy { &[] } else { &self.opts.links };
        for &k in links {
            if k == LinkKind::Symlink || k == LinkKind::Copy || self.is_refused(k) {
                continue;
            }
            let r = match k {
                LinkKind::Hardlink => fs::hard_link(src, dst),
                _ => reflink_copy::reflink(src, dst),
            };
            match r {
                Ok(()) => {
                    if k == LinkKind::Hardlink {
                        // The workspace file and the object are one inode now: protect both.
                        fsutil::make_read_only(dst)?;
                    }
                    return Ok(k);
                }
                Err(e) if is_unsupported(&e) => self.refuse(k, &e),
                Err(e) => return Err(Error::io("store", src, e)),
            }
        }
        fs::copy(src, dst).map_err(|e| copy_error(src, dst, e))?;
        fsutil::make_read_only(dst)?;
        Ok(LinkKind::Copy)
    }

    /// Makes `dst` hold the object `d` (replacing whatever is there), by the first link
    /// kind that works. Returns the kind used.
    pub fn checkout_file(&self, d: &Digest, dst: &Path, exec: bool) -> Result<LinkKind> {
        self.checkout_file_as(d, dst, exec, false)
    }

    /// As `checkout_file`; with `copy`, always an independent, writable copy.
    pub fn checkout_file_as(
        &self,
        d: &Digest,
        dst: &Path,
        exec: bool,
        copy: bool,
    ) -> Result<LinkKind> {
        let obj = self.object_path(d);
        let meta = match fs::metadata(&obj) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Error::Missing(*d)),
            Err(e) => return Err(Error::io("stat", obj, e)),
        };
        let parent = dst.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).at("create directory", parent)?;
        let tmp = fsutil::unique_path(parent, &d.short());
        let obj_exec = meta.permissions().mode() & 0o111 != 0;
        let kind = self.link_into(&obj, &tmp, exec, obj_exec, copy)?;
        if let Err(e) = fs::rename(&tmp, dst) {
            let _ = fs::remove_file(&tmp);
            // A directory in the way cannot be renamed over.
            if dst.is_dir() {
                fsutil::remove_path(dst)?;
                let tmp2 = fsutil::unique_path(parent, &d.short());
                self.link_into(&obj, &tmp2, exec, obj_exec, copy)?;
                return fs::rename(&tmp2, dst).at("replace", dst).map(|_| kind);
            }
            return Err(Error::io("replace", dst, e));
        }
        Ok(kind)
    }

    fn link_into(
        &self,
        obj: &Path,
        tmp: &Path,
        exec: bool,
        obj_exec: bool,
        copy: bool,
    ) -> Result<LinkKind> {
        let links: &[LinkKind] = if copy { &[] } else { &self.opts.links };
        for &k in links {
            if self.is_refused(k) {
                continue;
            }
            let r = match k {
                // One inode cannot carry two modes: content shared by an executable and a
                // plain file gets a copy.
                LinkKind::Hardlink if exec != obj_exec => continue,
                LinkKind::Hardlink => fs::hard_link(obj, tmp),
                LinkKind::Reflink => reflink_copy::reflink(obj, tmp),
                LinkKind::Symlink => std::os::unix::fs::symlink(obj, tmp),
                LinkKind::Copy => break,
            };
            match r {
                Ok(()) => {
                    if k == LinkKind::Reflink {
                        fsutil::set_writable_mode(tmp, exec)?;
                    }
                    return Ok(k);
                }
                Err(e) if is_unsupported(&e) => self.refuse(k, &e),
                Err(e) => return Err(Error::io("link", tmp, e)),
            }
        }
        fs::copy(obj, tmp).map_err(|e| copy_error(obj, tmp, e))?;
        fsutil::set_writable_mode(tmp, exec)?;
        Ok(LinkKind::Copy)
    }

    /// Makes directory `dst` hold exactly the files of `manifest`: built beside it and
    /// renamed into place, so a failure leaves `dst` as it was.
    pub fn checkout_tree(&self, manifest: &Manifest, dst: &Path) -> Result<()> {
        self.checkout_tree_as(manifest, dst, false)
    }

    /// As `checkout_tree`; with `copy`, every file an independent, writable copy.
    pub fn checkout_tree_as(&self, manifest: &Manifest, dst: &Path, copy: bool) -> Result<()> {
        let parent = dst.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).at("create directory", parent)?;
        let tmp = fsutil::unique_path(parent, "tree");
        let r = self.fill_tree(manifest, &tmp, copy).and_then(|()| {
            let old = fsutil::unique_path(parent, "old");
            let had_old = match fs::rename(dst, &old) {
                Ok(()) => true,
                Err(e) if e.kind() == ErrorKind::NotFound => false,
                Err(e) => return Err(Error::io("move aside", dst, e)),
            };
            fs::rename(&tmp, dst).at("replace", dst)?;
            if had_old {
                fsutil::remove_path(&old)?;
            }
            Ok(())
        });
        if r.is_err() {
            let _ = fsutil::remove_path(&tmp);
        }
        r
    }

    fn fill_tree(&self, manifest: &Manifest, dir: &Path, copy: bool) -> Result<()> {
        fs::create_dir_all(dir).at("create directory", dir)?;
        let mut subdirs: Vec<&str> = manifest
            .entries()
            .iter()
            .filter_map(|e| e.path.rsplit_once('/').map(|(d, _)| d))
            .collect();
        subdirs.dedup();
        for s in subdirs {
            let p = dir.join(s);
            fs::create_dir_all(&p).at("create directory", &p)?;
        }
        manifest.entries().par_iter().try_for_each(|e| {
            let obj = self.object_path(&e.digest);
            let dst = dir.join(&e.path);
            let obj_exec = match fs::metadata(&obj) {
                Ok(m) => m.permissions().mode() & 0o111 != 0,
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    return Err(Error::Missing(e.digest));
                }
                Err(err) => return Err(Error::io("stat", obj, err)),
            };
            self.link_into(&obj, &dst, e.exec, obj_exec, copy)
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

    pub fn put_record(&self, key: &Digest, bytes: &[u8]) -> Result<()> {
        let p = self.record_path(key);
        if let Some(dir) = p.parent() {
            self.mkdir(dir)?;
        }
        fsutil::write_atomic(&p, bytes, true)
    }

    /// Places a file that was written to `tmp` (under this store's tmp dir) and verified
    /// by the caller as object `d`.
    pub fn place_verified(&self, tmp: &Path, d: &Digest) -> Result<()> {
        let dst = self.object_path(d);
        if let Some(dir) = dst.parent() {
            self.mkdir(dir)?;
        }
        fsutil::make_read_only(tmp)?;
        fs::rename(tmp, &dst).at("store", &dst)
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
        let staged: Vec<Result<(PathBuf, Digest)>> = self
            .files
            .par_iter()
            .map(|(src, d, copy)| {
                let tmp = fsutil::unique_path(&tmp_dir, &d.short());
                store.put_one(src, &tmp, *copy).map(|_| (tmp, *d))
            })
            .chain(self.blobs.par_iter().map(|(bytes, d)| {
                let tmp = fsutil::unique_path(&tmp_dir, &d.short());
                fs::write(&tmp, bytes).at("write", &tmp)?;
                fsutil::make_read_only(&tmp)?;
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
        if let Err(e) = fsutil::syncfs(&tmp_dir) {
            cleanup(&ok);
            return Err(e);
        }
        let placed: Result<()> = ok.par_iter().try_for_each(|(tmp, d)| {
            let dst = store.object_path(d);
            if let Some(dir) = dst.parent() {
                store.mkdir(dir)?;
            }
            fs::rename(tmp, &dst).at("store", &dst)
        });
        if placed.is_err() {
            cleanup(&ok);
        }
        placed.map(|()| n)
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
            store.checkout_tree(&manifest, &ws.join("out")).unwrap();
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
    fn missing_and_corrupt_objects_are_reported() {
        let d = tempfile::tempdir().unwrap();
        let store = store_with(d.path(), vec![LinkKind::Copy]);
        let dg = Digest::of_bytes(b"x");
        assert!(matches!(
            store.checkout_file(&dg, &d.path().join("o"), false),
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
        assert_eq!(
            store.checkout_file(&dg, &dst, false).unwrap(),
            LinkKind::Copy
        );
        assert_eq!(fs::read_to_string(&dst).unwrap(), "new");
        assert_ne!(fs::metadata(&dst).unwrap().permissions().mode() & 0o200, 0);
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
