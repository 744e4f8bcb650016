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
//!
//! Reading trusts nothing of what it finds (a teammate's tool, a broken sync, or someone
//! hostile may have put it there). pipe only ever renames regular files into place, so an
//! object or record is read only if it is one: its type is looked at first (`lstat`: a
//! FIFO, socket, device, directory or symbolic link is refused unopened, as git's object
//! database and restic's repository checks would), then it is opened non-blocking and
//! without following a final link (`O_NONBLOCK | O_NOFOLLOW`: a FIFO swapped in since
//! cannot block the open), and the open file is checked again (`fstat`). A file is read
//! no further than the size the lock or manifest gives it (or, without one, than its size
//! when opened): more is refused, never stored. A refused object is reported like a
//! corrupt one ([`RemoteError::Refused`], naming its path) and the other transfers go on.
//! Links above the object (the remote's root, `objects/` on another disk) are followed:
//! the content is verified against its name whichever disk it is on.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::RemoteError;
use super::layout::{self, Kind};
use crate::Digest;

/// Files from this size up are copied by the kernel and hashed afterwards (mapped, on every
/// core); smaller ones are hashed as they are copied.
const COPY_THEN_HASH_MIN: u64 = 16 << 20;
const BUF: usize = 256 << 10;
/// Objects from this size up are hashed where they lie (`rehash`) in chunks of this size,
/// each on every core.
const HASH_CHUNK: usize = 8 << 20;
/// The most pipe reads into memory whole from a remote (a record, a manifest): about eight
/// million files' manifest.
pub const READ_WHOLE_MAX: u64 = 1 << 30;

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

    fn refused(&self, kind: Kind, d: &Digest, at: &Path, why: String) -> RemoteError {
        RemoteError::Refused {
            remote: self.name.clone(),
            what: kind.noun(),
            digest: *d,
            at: at.display().to_string(),
            why,
        }
    }

    /// Opens `kind` `d` for reading if it is a regular file (see the module's header):
    /// the open file and its size, `None` when there is nothing under its name.
    fn open_regular(&self, kind: Kind, d: &Digest) -> Result<Option<(File, u64)>, RemoteError> {
        let p = self.path(kind, d);
        self.open_at(&p, &|why| self.refused(kind, d, &p, why))
    }

    /// Opens `p` for reading if it is a regular file: the open file and its size, `None`
    /// when there is nothing there; anything else is `refused` (the reason given).
    fn open_at(
        &self,
        p: &Path,
        refused: &dyn Fn(String) -> RemoteError,
    ) -> Result<Option<(File, u64)>, RemoteError> {
        use rustix::fs::{Mode, OFlags};
        let not_regular = |ft: fs::FileType| refused(format!("is {}", file_type(&ft)));
        match fs::symlink_metadata(p) {
            Ok(m) if m.is_file() => {}
            Ok(m) => return Err(not_regular(m.file_type())),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("stat", p)(e)),
        }
        let flags =
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::open(p, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => return Err(refused("is a symbolic link".into())),
            Err(e) => {
                return Err(self.io("open", p)(io::Error::from_raw_os_error(
                    e.raw_os_error(),
                )));
            }
        };
        let f = File::from(fd);
        let m = f.metadata().map_err(self.io("stat", p))?;
        if !m.is_file() {
            return Err(not_regular(m.file_type()));
        }
        Ok(Some((f, m.len())))
    }

    /// Reads `from` (`kind` `d`) to its end into `sink`, refusing it past `limit` bytes.
    /// Returns the bytes read.
    fn read_at_most(
        &self,
        kind: Kind,
        d: &Digest,
        from: File,
        limit: u64,
        buf: &mut [u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), RemoteError>,
    ) -> Result<u64, RemoteError> {
        let p = self.path(kind, d);
        self.read_file_at_most(
            &p,
            &|why| self.refused(kind, d, &p, why),
            from,
            limit,
            buf,
            sink,
        )
    }

    /// Reads `from` (the file at `p`) to its end into `sink`; past `limit` bytes it is
    /// `refused`. Returns the bytes read.
    fn read_file_at_most(
        &self,
        p: &Path,
        refused: &dyn Fn(String) -> RemoteError,
        from: File,
        limit: u64,
        buf: &mut [u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), RemoteError>,
    ) -> Result<u64, RemoteError> {
        let mut from = from.take(limit.saturating_add(1));
        let mut total = 0u64;
        loop {
            let n = match from.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io("read", p)(e)),
            };
            total += n as u64;
            if total > limit {
                return Err(refused(format!("holds more than {limit} bytes")));
            }
            sink(&buf[..n])?;
        }
        Ok(total)
    }

    /// Copies object `d` into `dst` (a new file), hashing on the way. `expected`: its size
    /// as the lock or a manifest gives it (a file of another size is refused unread).
    /// Returns the digest of what was read and its size; `progress` gets byte counts as
    /// they go.
    pub fn download_to(
        &self,
        d: &Digest,
        dst_path: &Path,
        expected: Option<u64>,
        progress: &dyn Fn(u64),
    ) -> Result<(Digest, u64), RemoteError> {
        let src = self.path(Kind::Object, d);
        let Some((from, size)) = self.open_regular(Kind::Object, d)? else {
            return Err(RemoteError::Missing {
                remote: self.name.clone(),
                digest: *d,
            });
        };
        if let Some(want) = expected
            && want != size
        {
            return Err(self.refused(
                Kind::Object,
                d,
                &src,
                format!("is {size} bytes where {want} were expected"),
            ));
        }
        let limit = expected.unwrap_or(size);
        let local = |op| move |e| RemoteError::Local(crate::Error::io(op, dst_path, e));
        let dst = &mut File::create(dst_path).map_err(local("create"))?;
        if size >= COPY_THEN_HASH_MIN {
            let n =
                io::copy(&mut from.take(limit.saturating_add(1)), dst).map_err(local("write"))?;
            if n > limit {
                return Err(self.refused(
                    Kind::Object,
                    d,
                    &src,
                    format!("holds more than {limit} bytes"),
                ));
            }
            progress(n);
            let actual = crate::hash::hash_file(dst_path, n)?;
            return Ok((actual, n));
        }
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; BUF.min(size as usize + 1).max(1)];
        let total = self.read_at_most(Kind::Object, d, from, limit, &mut buf, &mut |b| {
            hasher.update(b);
            dst.write_all(b).map_err(local("write"))?;
            progress(b.len() as u64);
            Ok(())
        })?;
        Ok((hasher.finalize().into(), total))
    }

    /// A small file (a record, a manifest) read whole; `None` when absent. Larger than
    /// [`READ_WHOLE_MAX`]: refused.
    pub fn read(&self, kind: Kind, d: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        let Some((from, size)) = self.open_regular(kind, d)? else {
            return Ok(None);
        };
        if size > READ_WHOLE_MAX {
            return Err(self.refused(
                kind,
                d,
                &self.path(kind, d),
                format!("is {size} bytes, more than pipe reads whole ({READ_WHOLE_MAX})"),
            ));
        }
        let mut out = Vec::with_capacity(size as usize);
        let mut buf = vec![0u8; BUF];
        self.read_at_most(kind, d, from, size, &mut buf, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })?;
        Ok(Some(out))
    }

    /// The digest of object `d`'s content as stored; `None` when absent.
    pub fn rehash(&self, d: &Digest) -> Result<Option<Digest>, RemoteError> {
        let Some((from, size)) = self.open_regular(Kind::Object, d)? else {
            return Ok(None);
        };
        let mut hasher = blake3::Hasher::new();
        let big = size >= crate::hash::MMAP_MIN;
        let mut buf = vec![0u8; if big { HASH_CHUNK } else { BUF }];
        self.read_at_most(Kind::Object, d, from, size, &mut buf, &mut |b| {
            if big {
                hasher.update_rayon(b);
            } else {
                hasher.update(b);
            }
            Ok(())
        })?;
        Ok(Some(hasher.finalize().into()))
    }
}

impl DirRemote {
    /// The regular file at `rel` (a path relative to the root in another tool's layout,
    /// see `super::raw`), opened with the same care as an object; `None` when absent.
    fn open_raw(&self, rel: &str) -> Result<Option<(File, u64, PathBuf)>, RemoteError> {
        let p = self.root.join(rel);
        let refused = |why| self.refused_raw(&p, why);
        Ok(self.open_at(&p, &refused)?.map(|(f, n)| (f, n, p.clone())))
    }

    fn refused_raw(&self, at: &Path, why: String) -> RemoteError {
        RemoteError::RefusedRaw {
            remote: self.name.clone(),
            at: at.display().to_string(),
            why,
        }
    }

    /// The file at `rel` read whole; `None` when absent; larger than `max`: refused.
    pub fn read_raw(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        let Some((from, size, p)) = self.open_raw(rel)? else {
            return Ok(None);
        };
        let refused = |why| self.refused_raw(&p, why);
        if size > max {
            return Err(refused(format!(
                "is {size} bytes, more than pipe reads whole ({max})"
            )));
        }
        let mut out = Vec::with_capacity(size as usize);
        let mut buf = vec![0u8; BUF];
        self.read_file_at_most(&p, &refused, from, size, &mut buf, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })?;
        Ok(Some(out))
    }

    /// Copies the file at `rel` into `dst` (created or truncated), hashing on the way: its
    /// blake3 and size, `None` when absent. Read no further than its size when opened.
    pub fn download_raw(
        &self,
        rel: &str,
        dst_path: &Path,
        progress: &dyn Fn(u64),
    ) -> Result<Option<(Digest, u64)>, RemoteError> {
        let Some((from, size, p)) = self.open_raw(rel)? else {
            return Ok(None);
        };
        let refused = |why| self.refused_raw(&p, why);
        let local = |op| move |e| RemoteError::Local(crate::Error::io(op, dst_path, e));
        let dst = &mut File::create(dst_path).map_err(local("create"))?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; BUF.min(size as usize + 1).max(1)];
        let n = self.read_file_at_most(&p, &refused, from, size, &mut buf, &mut |b| {
            hasher.update(b);
            dst.write_all(b).map_err(local("write"))?;
            progress(b.len() as u64);
            Ok(())
        })?;
        Ok(Some((hasher.finalize().into(), n)))
    }
}

/// What a file type is, for a message.
fn file_type(ft: &fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory, not a file"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_fifo() {
        "a FIFO (named pipe), not a file"
    } else if ft.is_socket() {
        "a socket, not a file"
    } else if ft.is_char_device() {
        "a character device, not a file"
    } else if ft.is_block_device() {
        "a block device, not a file"
    } else {
        "not a regular file"
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
        let (h, n) = r.download_to(&dg, &out, None, &|_| {}).unwrap();
        assert_eq!((h, n), (dg, 3));
        let missing = Digest::of_bytes(b"nope");
        assert!(matches!(
            r.download_to(&missing, &out, None, &|_| {}),
            Err(RemoteError::Missing { .. })
        ));
        assert_eq!(r.rehash(&missing).unwrap(), None);
    }

    /// Runs `f` on a thread; fails the test (rather than hanging it) if it blocks.
    fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("blocked on what the remote holds")
    }

    fn refusal(r: Result<impl std::fmt::Debug, RemoteError>) -> String {
        match r {
            Err(e @ RemoteError::Refused { .. }) => e.to_string(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn only_regular_files_are_read_and_never_past_their_size() {
        use rustix::fs::{FileType, Mode};
        let d = tempfile::tempdir().unwrap();
        let r = remote(d.path(), false);
        let out = d.path().join("out");
        let put = |name: &[u8]| {
            let dg = Digest::of_bytes(name);
            let p = r.path(Kind::Object, &dg);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            (dg, p)
        };
        // A FIFO nobody writes to: opening it for reading would block forever.
        let (fifo, p) = put(b"fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &p,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let (r2, o2) = (r.clone(), out.clone());
        let e = refusal(within(move || r2.download_to(&fifo, &o2, None, &|_| {})));
        assert!(
            e.contains("is a FIFO") && e.contains(&p.display().to_string()),
            "{e}"
        );
        let r2 = r.clone();
        refusal(within(move || r2.rehash(&fifo)));
        // The same file under `runs/`: a record read must not block either.
        let rec = r.path(Kind::Record, &fifo);
        fs::create_dir_all(rec.parent().unwrap()).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &rec,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let r2 = r.clone();
        let e = refusal(within(move || r2.read(Kind::Record, &fifo)));
        assert!(e.starts_with("run-cache record"), "{e}");
        // A socket, a directory, a character device behind a link.
        let (sock, p) = put(b"socket");
        let _l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        assert!(refusal(r.download_to(&sock, &out, None, &|_| {})).contains("is a socket"));
        let (dir, p) = put(b"dir");
        fs::create_dir(&p).unwrap();
        assert!(refusal(r.download_to(&dir, &out, None, &|_| {})).contains("is a directory"));
        assert!(refusal(r.read(Kind::Object, &dir)).contains("is a directory"));
        // A link, even to a regular file with the right content: pipe never made it.
        let (link, p) = put(b"elsewhere");
        fs::write(d.path().join("elsewhere"), b"elsewhere").unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), &p).unwrap();
        assert!(refusal(r.download_to(&link, &out, None, &|_| {})).contains("symbolic link"));
        let (zero, p) = put(b"zero");
        std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
        let r2 = r.clone();
        refusal(within(move || r2.rehash(&zero)));
        // More bytes than the lock says: refused unread, and nothing was written.
        let dg = Digest::of_bytes(b"abc");
        let t = r.stage_bytes(b"abc and then some").unwrap();
        r.commit(&[(t, Kind::Object, dg)]).unwrap();
        let _ = fs::remove_file(&out);
        let e = refusal(r.download_to(&dg, &out, Some(3), &|_| {}));
        assert!(e.contains("is 17 bytes where 3 were expected"), "{e}");
        assert!(!out.exists());
        // Without a size to hold it to, it is read (and its digest tells it is wrong).
        let (h, n) = r.download_to(&dg, &out, None, &|_| {}).unwrap();
        assert_ne!(h, dg);
        assert_eq!(n, 17);
        assert!(
            !RemoteError::Refused {
                remote: "r".into(),
                what: "object",
                digest: dg,
                at: String::new(),
                why: String::new()
            }
            .is_fatal()
        );
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
