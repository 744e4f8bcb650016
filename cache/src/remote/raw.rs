//! Reads by key of data another tool laid out on a remote: a DVC remote's
//! `files/md5/ab/cdef…` (DVC 2: `ab/cdef…`), relative to the remote's root (a directory, or
//! a bucket and prefix), for `pipe import` from a DVC registry.
//!
//! Narrow on purpose: read only, by a key the caller built (no listing, no writing), and
//! nothing verified here: such a key names content by a hash pipe does not store under, so
//! the caller checks what it gets against the name it asked by before anything of it
//! enters the cache. What is found is trusted no more than an object of ours: on a
//! directory, only a regular file is opened (as `dir` does), and no more bytes are read
//! than its size when opened (or on a store, than the size the store reports). Each read
//! runs under the one retry policy and stops when pipe stops.

use std::path::Path;

use super::{Backend, Remote, RemoteError};
use crate::Digest;

/// A key of another tool's layout: relative, `/`-separated, no empty, `.` or `..` part.
fn valid_key(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.starts_with('/')
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

impl Remote {
    fn bad_key(&self, rel: &str) -> RemoteError {
        RemoteError::Config {
            remote: self.name.clone(),
            msg: format!("`{rel}` is not a key below the remote's root"),
        }
    }

    /// The file or object at `rel` read whole; `None` when there is nothing there. More
    /// than `max` bytes: refused unread ([`RemoteError::RefusedRaw`]).
    pub async fn read_raw(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        if !valid_key(rel) {
            return Err(self.bad_key(rel));
        }
        self.attempt(|| async {
            match &self.backend {
                Backend::Dir(r) => {
                    let (r, rel) = (r.clone(), rel.to_string());
                    tokio::task::spawn_blocking(move || r.read_raw(&rel, max))
                        .await
                        .map_err(|e| self.internal(e))?
                }
                Backend::Cloud(c) => c.read_raw(rel, max).await,
            }
        })
        .await
    }

    /// The file or object at `rel` copied into `dst` (created, or truncated on a retry),
    /// hashed with blake3 on the way: its digest and size, `None` when there is nothing
    /// there. `progress` gets byte counts as they arrive.
    pub async fn download_raw(
        &self,
        rel: &str,
        dst: &Path,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Option<(Digest, u64)>, RemoteError> {
        if !valid_key(rel) {
            return Err(self.bad_key(rel));
        }
        self.attempt(|| async {
            match &self.backend {
                Backend::Dir(r) => {
                    let (r, rel, dst) = (r.clone(), rel.to_string(), dst.to_path_buf());
                    // Progress is reported once the copy is whole: the closure stays here.
                    let got =
                        tokio::task::spawn_blocking(move || r.download_raw(&rel, &dst, &|_| {}))
                            .await
                            .map_err(|e| self.internal(e))??;
                    if let Some((_, n)) = got {
                        progress(n);
                    }
                    Ok(got)
                }
                Backend::Cloud(c) => c.download_raw(rel, dst, progress).await,
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::{Location, RemoteSpec};

    fn dir_remote(root: &Path) -> Remote {
        let spec = RemoteSpec {
            location: Location::Dir(root.to_path_buf()),
            ..RemoteSpec::new("r", "/x", root).unwrap()
        };
        Remote::open(&spec, Some(2))
            .unwrap()
            .with_retry(super::super::Retry::ONCE)
    }

    #[tokio::test]
    async fn raw_keys_read_regular_files_only_and_never_leave_the_root() {
        let d = tempfile::tempdir().unwrap();
        let r = dir_remote(d.path());
        std::fs::create_dir_all(d.path().join("files/md5/ab")).unwrap();
        std::fs::write(d.path().join("files/md5/ab/cdef"), b"hello").unwrap();
        assert_eq!(
            r.read_raw("files/md5/ab/cdef", 100).await.unwrap(),
            Some(b"hello".to_vec())
        );
        assert_eq!(r.read_raw("files/md5/ab/none", 100).await.unwrap(), None);
        let e = r.read_raw("files/md5/ab/cdef", 3).await.unwrap_err();
        assert!(matches!(e, RemoteError::RefusedRaw { .. }), "{e}");
        assert!(e.to_string().contains("more than pipe reads whole"), "{e}");
        let dst = d.path().join("copy");
        let (h, n) = r
            .download_raw("files/md5/ab/cdef", &dst, &|_| {})
            .await
            .unwrap()
            .unwrap();
        assert_eq!((h, n), (Digest::of_bytes(b"hello"), 5));
        assert_eq!(std::fs::read(&dst).unwrap(), b"hello");
        std::os::unix::fs::symlink(
            d.path().join("files/md5/ab/cdef"),
            d.path().join("files/md5/ab/link"),
        )
        .unwrap();
        let e = r.read_raw("files/md5/ab/link", 100).await.unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        for bad in ["../x", "/etc/passwd", "a//b", "a/./b", ""] {
            let e = r.read_raw(bad, 100).await.unwrap_err();
            assert!(e.is_config(), "{bad}: {e}");
        }
    }
}
