//! A directory remote: a shared filesystem (an NFS mount, a team disk) laid out like the
//! local cache (see `layout`). Every call here blocks; the transfer driver runs them on the
//! blocking pool.
//!
//! Writing is atomic and safe under concurrent writers: an upload is copied (by
//! `copy_file_range`, so the kernel moves the bytes, and a copy-on-write filesystem may
//! share them) to a uniquely named file under `tmp/` (created with O_EXCL, so writers on
//! other hosts never collide); a group of uploads is made durable by flushing each temp's
//! data (`fdatasync`, many at once), then each is renamed to its name, then the directories
//! the renames changed are flushed: an object whose name survives a crash is whole (as in
//! the local store; see `store`), and a push that returned has everything on disk. Readers
//! see a whole object or none; two writers of one object rename identical bytes over each
//! other. With `shared_group`, directories are
//! created setgid and group-writable (02775) so every member of the group can add objects;
//! objects themselves are read-only (0444). Temp files a killed upload left behind are
//! removed by a later upload once they are a day old.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::error::RemoteError;
use super::layout::{self, Kind};
use crate::Digest;

/// Files from this size up are copied by the kernel and hashed afterwards (mapped, on every
/// core); smaller ones are hashed as they are copied.
const COPY_THEN_HASH_MIN: u64 = 16 << 20;
const BUF: usize = 256 << 10;

#[derive(Debug, Clone)]
pub struct DirRemote {
    pub name: String,
    pub root: PathBuf,
    pub shared_group: bool,
}

impl DirRemote {
    fn io(&self, op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RemoteError {
        let (remote, path) = (self.name.clone(), path.to_path_buf());
        move |err| RemoteError::Io {
            remote,
            op,
            path,
            err,
        }
    }

    pub fn path(&self, kind: Kind, d: &Digest) -> PathBuf {
        self.root.join(layout::key(kind, d))
    }

    /// The remote's directory must exist: a missing mount is an error, not a new empty
    /// directory where the mount should be.
    pub fn check_root(&self) -> Result<(), RemoteError> {
        match fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(RemoteError::Config {
                remote: self.name.clone(),
                msg: format!("{} is not a directory", self.root.display()),
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(RemoteError::NoBucket {
                remote: self.name.clone(),
                what: "directory",
                name: self.root.display().to_string(),
            }),
            Err(e) => Err(self.io("open", &self.root)(e)),
        }
    }

    fn mkdir(&self, dir: &Path) -> Result<(), RemoteError> {
        if dir.is_dir() {
            return Ok(());
        }
        fs::create_dir_all(dir).map_err(self.io("create directory", dir))?;
        if self.shared_group {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o2775))
                .map_err(self.io("chmod", dir))?;
        }
        Ok(())
    }

    /// Digests under one fan-out prefix (`objects/ab`).
    pub fn list_prefix(&self, rel: &str) -> Result<Vec<Digest>, RemoteError> {
        let dir = self.root.join(rel);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("list", &dir)(e)),
        };
        let pre = rel.rsplit('/').next().unwrap_or_default();
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(self.io("list", &dir))?;
            if let Some(name) = e.file_name().to_str()
                && let Ok(d) = format!("{pre}{name}").parse()
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Every fan-out prefix present (`objects/ab`, …).
    pub fn prefixes(&self, kind: Kind) -> Result<Vec<String>, RemoteError> {
        let dir = self.root.join(kind.dir());
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("list", &dir)(e)),
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(self.io("list", &dir))?;
            if let Some(n) = e.file_name().to_str().filter(|n| n.len() == 2) {
                out.push(format!("{}/{n}", kind.dir()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes temp files a killed upload left in `tmp/` more than `age` ago (younger ones
    /// may belong to a push in progress elsewhere). Best effort.
    pub fn remove_stale_temps(&self, age: std::time::Duration) {
        let Ok(rd) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        let now = std::time::SystemTime::now();
        for e in rd.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|d| d > age));
            if old && e.file_name().to_string_lossy().starts_with(".pipe-tmp-") {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    fn new_temp(&self) -> Result<tempfile::NamedTempFile, RemoteError> {
        let tmp = self.root.join("tmp");
        self.mkdir(&tmp)?;
        tempfile::Builder::new()
            .prefix(".pipe-tmp-")
            .tempfile_in(&tmp)
            .map_err(self.io("create a temp file in", &tmp))
    }

    /// Copies `src` to a new temp file on the remote; returns its path (to `commit`).
    pub fn stage_file(&self, src: &Path) -> Result<PathBuf, RemoteError> {
        let mut from =
            File::open(src).map_err(|e| RemoteError::Local(crate::Error::io("read", src, e)))?;
        let mut tmp = self.new_temp()?;
        // std's copy between two files is copy_file_range on Linux: no bytes through here.
        io::copy(&mut from, tmp.as_file_mut()).map_err(self.io("write", tmp.path()))?;
        self.keep(tmp)
    }

    /// Writes `bytes` to a new temp file on the remote; returns its path (to `commit`).
    pub fn stage_bytes(&self, bytes: &[u8]) -> Result<PathBuf, RemoteError> {
        let mut tmp = self.new_temp()?;
        tmp.write_all(bytes).map_err(self.io("write", tmp.path()))?;
        self.keep(tmp)
    }

    fn keep(&self, tmp: tempfile::NamedTempFile) -> Result<PathBuf, RemoteError> {
        let path = tmp.path().to_path_buf();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444))
            .map_err(self.io("chmod", &path))?;
        tmp.into_temp_path()
            .keep()
            .map_err(|e| self.io("keep", &path)(e.error))
    }

    /// Makes staged uploads durable (their data, then the renames to their names, then
    /// the directories the renames changed). On failure the temps that were not placed are removed.
    pub fn commit(&self, staged: &[(PathBuf, Kind, Digest)]) -> Result<(), RemoteError> {
        if staged.is_empty() {
            return Ok(());
        }
        let r = self.place_all(staged);
        if r.is_err() {
            // Those already renamed are gone from tmp/; this removes the rest.
            for (from, _, _) in staged {
                let _ = fs::remove_file(from);
            }
        }
        r
    }

    fn place_all(&self, staged: &[(PathBuf, Kind, Digest)]) -> Result<(), RemoteError> {
        let old_way = crate::fsutil::bench_syncfs();
        if old_way {
            crate::fsutil::syncfs(&self.root.join("tmp"))?;
        } else {
            let temps: Vec<PathBuf> = staged.iter().map(|(t, _, _)| t.clone()).collect();
            crate::fsutil::flush_files(&temps)?;
        }
        let mut changed = std::collections::BTreeSet::new();
        for (from, kind, d) in staged {
            let to = self.path(*kind, d);
            if let Some(dir) = to.parent() {
                if !dir.is_dir() {
                    self.mkdir(dir)?;
                    // A new fan-out directory is an entry of `objects/` (or `runs/`), a new
                    // one of those an entry of the root.
                    if let Some(up) = dir.parent() {
                        changed.insert(up.to_path_buf());
                    }
                    changed.insert(self.root.clone());
                }
                changed.insert(dir.to_path_buf());
            }
            fs::rename(from, &to).map_err(self.io("store", &to))?;
        }
        if old_way {
            return Ok(());
        }
        Ok(crate::fsutil::sync_dirs(&changed)?)
    }

    /// Copies object `d` into `dst` (a new file), hashing on the way. Returns the digest of
    /// what was read and its size; `progress` gets byte counts as they go.
    pub fn download_to(
        &self,
        d: &Digest,
        dst_path: &Path,
        progress: &dyn Fn(u64),
    ) -> Result<(Digest, u64), RemoteError> {
        let src = self.path(Kind::Object, d);
        let mut from = match File::open(&src) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(RemoteError::Missing {
                    remote: self.name.clone(),
                    digest: *d,
                });
            }
            Err(e) => return Err(self.io("read", &src)(e)),
        };
        let size = from.metadata().map_err(self.io("stat", &src))?.len();
        let local = |op| move |e| RemoteError::Local(crate::Error::io(op, dst_path, e));
        let dst = &mut File::create(dst_path).map_err(local("create"))?;
        if size >= COPY_THEN_HASH_MIN {
            let n = io::copy(&mut from, dst).map_err(local("write"))?;
            progress(n);
            let actual = crate::hash::hash_file(dst_path, n)?;
            return Ok((actual, n));
        }
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; BUF.min(size as usize + 1).max(1)];
        let mut total = 0u64;
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io("read", &src)(e)),
            };
            hasher.update(&buf[..n]);
            dst.write_all(&buf[..n]).map_err(local("write"))?;
            total += n as u64;
            progress(n as u64);
        }
        Ok((hasher.finalize().into(), total))
    }

    /// A small file (a record, a manifest) read whole; `None` when absent.
    pub fn read(&self, kind: Kind, d: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        let p = self.path(kind, d);
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("read", &p)(e)),
        }
    }

    /// The digest of object `d`'s content as stored; `None` when absent.
    pub fn rehash(&self, d: &Digest) -> Result<Option<Digest>, RemoteError> {
        let p = self.path(Kind::Object, d);
        let size = match fs::metadata(&p) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("stat", &p)(e)),
        };
        match crate::hash::hash_file(&p, size) {
            Ok(h) => Ok(Some(h)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(RemoteError::Local(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(root: &Path, shared: bool) -> DirRemote {
        DirRemote {
            name: "r".into(),
            root: root.to_path_buf(),
            shared_group: shared,
        }
    }

    #[test]
    fn staged_uploads_appear_whole_and_read_only() {
        let d = tempfile::tempdir().unwrap();
        let r = remote(d.path(), true);
        let src = d.path().join("src");
        fs::write(&src, b"hello").unwrap();
        let dg = Digest::of_bytes(b"hello");
        let t = r.stage_file(&src).unwrap();
        assert!(
            !r.path(Kind::Object, &dg).exists(),
            "not visible before commit"
        );
        r.commit(&[(t, Kind::Object, dg)]).unwrap();
        let p = r.path(Kind::Object, &dg);
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o444
        );
        let dir_mode = fs::metadata(p.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o7777, 0o2775, "group-writable, setgid");
        assert_eq!(
            r.list_prefix(&layout::fan_out(Kind::Object, &dg)).unwrap(),
            vec![dg]
        );
        assert_eq!(
            r.prefixes(Kind::Object).unwrap(),
            vec![layout::fan_out(Kind::Object, &dg)]
        );
        // A second writer of the same object replaces it harmlessly.
        let t2 = r.stage_bytes(b"hello").unwrap();
        r.commit(&[(t2, Kind::Object, dg)]).unwrap();
        assert_eq!(r.rehash(&dg).unwrap(), Some(dg));
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn only_stale_temps_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let r = remote(d.path(), false);
        let old = r.stage_bytes(b"old").unwrap();
        let new = r.stage_bytes(b"new").unwrap();
        let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86400);
        fs::set_permissions(&old, fs::Permissions::from_mode(0o644)).unwrap();
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(day_ago)
            .unwrap();
        r.remove_stale_temps(std::time::Duration::from_secs(86400));
        assert!(!old.exists() && new.exists());
    }

    #[test]
    fn download_hashes_what_it_copies() {
        let d = tempfile::tempdir().unwrap();
        let r = remote(d.path(), false);
        let dg = Digest::of_bytes(b"abc");
        let t = r.stage_bytes(b"abc").unwrap();
        r.commit(&[(t, Kind::Object, dg)]).unwrap();
        let out = d.path().join("out");
        let (h, n) = r.download_to(&dg, &out, &|_| {}).unwrap();
        assert_eq!((h, n), (dg, 3));
        let missing = Digest::of_bytes(b"nope");
        assert!(matches!(
            r.download_to(&missing, &out, &|_| {}),
            Err(RemoteError::Missing { .. })
        ));
        assert_eq!(r.rehash(&missing).unwrap(), None);
    }

    #[test]
    fn a_missing_root_is_reported_not_created() {
        let d = tempfile::tempdir().unwrap();
        let r = remote(&d.path().join("not-mounted"), false);
        let e = r.check_root().unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(!d.path().join("not-mounted").exists());
    }
}
