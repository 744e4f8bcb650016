//! An object-store remote: S3 and S3-compatible servers (MinIO, RustFS, moto), Google Cloud
//! Storage and Azure Blob Storage, all through the `object_store` crate, so one code path
//! serves them all. Keys are `<prefix>/objects/ab/cdef…` and `<prefix>/runs/ab/cdef…`.
//!
//! - Uploads are atomic on the store: a single PUT for objects up to `SINGLE_PUT_MAX`, a
//!   multipart upload (visible only when completed) above, streamed from the file in
//!   `PART` chunks with a few parts in flight; no whole large file is held in memory.
//! - Downloads stream the body to a local file on the blocking pool, hashing as it is
//!   written; the caller verifies the digest before the file may enter the cache. An
//!   object whose size (as the store reports it, or as the body turns out) is not the size
//!   the lock gives it is refused, its body read no further; a record or manifest read
//!   whole is refused above `dir::READ_WHOLE_MAX`.
//! - The HTTP client's own retries are off: `retry` is the one policy. Errors are
//!   classified here into one clear sentence each (see `classify`).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use super::creds;
use super::error::RemoteError;
use super::layout::{self, Kind};
use super::spec::{Location, RemoteSpec, Scheme, is_loopback};
use crate::Digest;

/// Objects up to this size go up in one PUT (read whole: they are small).
pub const SINGLE_PUT_MAX: u64 = 16 << 20;
/// Multipart part size (S3's minimum is 5 MiB).
pub const PART: usize = 8 << 20;
/// Parts of one object in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
pub struct CloudRemote {
    pub name: String,
    store: Arc<dyn ObjectStore>,
    /// `a/b` or empty.
    prefix: String,
    /// What to name in messages: the endpoint, or the url.
    pub at: String,
    scheme: Scheme,
    bucket: String,
}

impl CloudRemote {
    pub fn open(spec: &RemoteSpec, jobs: usize) -> Result<CloudRemote, RemoteError> {
        let Location::Cloud {
            scheme,
            bucket,
            prefix,
        } = &spec.location
        else {
            return Err(config(spec, "not an object-store url".into()));
        };
        let loopback = spec.endpoint.as_deref().is_some_and(is_loopback);
        if let Some(ep) = &spec.endpoint {
            if !(ep.starts_with("http://") || ep.starts_with("https://")) {
                return Err(config(
                    spec,
                    format!("endpoint `{ep}` must start with http:// or https://"),
                ));
            }
            if ep.starts_with("http://") && !spec.allow_http && !loopback {
                return Err(config(
                    spec,
                    format!(
                        "endpoint `{ep}` is plain http: set `allow_http = true` for the remote \
                         if that is really wanted"
                    ),
                ));
            }
        }
        let allow_http = spec.allow_http || loopback;
        let client = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout_disabled()
            .with_read_timeout(Duration::from_secs(60))
            .with_pool_max_idle_per_host(jobs.max(1));
        // `retry` is the one retry policy: no retries of retries inside the client.
        let no_retry = RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        };
        let built: object_store::Result<Arc<dyn ObjectStore>> = match scheme {
            Scheme::S3 => {
                let found = creds::resolve(
                    spec.credentials.as_ref(),
                    spec.profile.as_deref(),
                    &|k| std::env::var(k).ok(),
                    &|p| std::fs::read_to_string(p).ok(),
                );
                tracing::debug!("remote `{}`: credentials from {}", spec.name, found.source);
                let region = spec
                    .region
                    .clone()
                    .or(found.region)
                    .or_else(|| std::env::var("AWS_REGION").ok())
                    .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                    .unwrap_or_else(|| "us-east-1".to_string());
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_allow_http(allow_http)
                    .with_retry(no_retry)
                    .with_client_options(client);
                if let Some(ep) = &spec.endpoint {
                    b = b
                        .with_endpoint(ep.trim_end_matches('/'))
                        .with_virtual_hosted_style_request(false);
                }
                match found.credentials {
                    Some(c) => {
                        b = b
                            .with_access_key_id(c.access_key_id)
                            .with_secret_access_key(c.secret_access_key);
                        if let Some(t) = c.session_token {
                            b = b.with_token(t);
                        }
                    }
                    // Off AWS there is no instance-metadata service to ask.
                    None if spec.endpoint.is_some() => {
                        return Err(config(
                            spec,
                            "no credentials found: set AWS_ACCESS_KEY_ID and \
                             AWS_SECRET_ACCESS_KEY, an AWS profile, or access_key_id and \
                             secret_access_key in .pipe/config.local.toml"
                                .into(),
                        ));
                    }
                    None => {}
                }
                b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
            }
            Scheme::Gcs => object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(no_retry)
                .with_client_options(client)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            Scheme::Azure => object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(bucket)
                .with_retry(no_retry)
                .with_client_options(client)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        };
        let store = built.map_err(|e| config(spec, e.to_string()))?;
        Ok(CloudRemote {
            name: spec.name.clone(),
            store,
            prefix: prefix.clone(),
            at: spec.endpoint.clone().unwrap_or_else(|| spec.url.clone()),
            scheme: *scheme,
            bucket: bucket.clone(),
        })
    }

    fn key(&self, rel: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(rel)
        } else {
            Key::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn rel<'a>(&self, key: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }

    /// Digests under one fan-out prefix (`objects/ab`), or a whole kind (`objects`).
    pub async fn list(&self, kind: Kind, rel: &str) -> Result<Vec<Digest>, RemoteError> {
        let mut s = self.store.list(Some(&self.key(rel)));
        let mut out = Vec::new();
        while let Some(m) = s.next().await {
            let m = m.map_err(|e| self.classify(e, None))?;
            if let Some(d) = self
                .rel(m.location.as_ref())
                .and_then(|r| layout::parse(kind, r))
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Digests of `kind` whose hex starts with `first` (one hex digit): one listing that
    /// starts after `<kind>/<first>` (S3's start-after) and stops at the next digit.
    pub async fn list_range(&self, kind: Kind, first: char) -> Result<Vec<Digest>, RemoteError> {
        let prefix = self.key(kind.dir());
        let start = self.key(&format!("{}/{first}", kind.dir()));
        let end = std::char::from_digit(first.to_digit(16).unwrap_or(15) + 1, 16)
            .map(|next| self.key(&format!("{}/{next}", kind.dir())));
        let mut s = self.store.list_with_offset(Some(&prefix), &start);
        let mut out = Vec::new();
        while let Some(m) = s.next().await {
            let m = m.map_err(|e| self.classify(e, None))?;
            if end
                .as_ref()
                .is_some_and(|e| m.location.as_ref() >= e.as_ref())
            {
                break;
            }
            if let Some(d) = self
                .rel(m.location.as_ref())
                .and_then(|r| layout::parse(kind, r))
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    pub async fn put_bytes(&self, kind: Kind, d: &Digest, bytes: Bytes) -> Result<(), RemoteError> {
        self.store
            .put(&self.key(&layout::key(kind, d)), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.classify(e, None))
    }

    /// Uploads object `d` from the local file `src` of `size` bytes.
    pub async fn upload_file(
        &self,
        d: &Digest,
        src: PathBuf,
        size: u64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), RemoteError> {
        let key = self.key(&layout::key(Kind::Object, d));
        if size <= SINGLE_PUT_MAX {
            let path = src.clone();
            let bytes = tokio::task::spawn_blocking(move || std::fs::read(&path))
                .await
                .map_err(|e| join_error(&self.name, e))?
                .map_err(|e| RemoteError::Local(crate::Error::io("read", &src, e)))?;
            let n = bytes.len() as u64;
            self.store
                .put(&key, PutPayload::from(Bytes::from(bytes)))
                .await
                .map_err(|e| self.classify(e, None))?;
            progress(n);
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&key)
            .await
            .map_err(|e| self.classify(e, None))?;
        let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, PART);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
        let path = src.clone();
        let reader = tokio::task::spawn_blocking(move || {
            let mut f = match File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            loop {
                let mut buf = BytesMut::zeroed(PART);
                let mut filled = 0;
                while filled < PART {
                    match f.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            return;
                        }
                    }
                }
                if filled == 0 {
                    return;
                }
                buf.truncate(filled);
                if tx.blocking_send(Ok(buf.freeze())).is_err() {
                    return;
                }
            }
        });
        let sent: Result<(), RemoteError> = async {
            while let Some(chunk) = rx.recv().await {
                let chunk =
                    chunk.map_err(|e| RemoteError::Local(crate::Error::io("read", &src, e)))?;
                w.wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| self.classify(e, None))?;
                progress(chunk.len() as u64);
                w.put(chunk);
            }
            Ok(())
        }
        .await;
        drop(rx);
        let _ = reader.await;
        match sent {
            Ok(()) => w
                .finish()
                .await
                .map(|_| ())
                .map_err(|e| self.classify(e, None)),
            Err(e) => {
                let _ = w.abort().await;
                Err(e)
            }
        }
    }

    /// The key of `kind` `d` (for messages).
    pub fn locate(&self, kind: Kind, d: &Digest) -> String {
        self.key(&layout::key(kind, d)).to_string()
    }

    fn refused(&self, kind: Kind, d: &Digest, why: String) -> RemoteError {
        RemoteError::Refused {
            remote: self.name.clone(),
            what: kind.noun(),
            digest: *d,
            at: self.locate(kind, d),
            why,
        }
    }

    /// Streams object `d` into a new file at `dst` (hashing on the blocking pool as it is
    /// written), or only hashes it when `dst` is `None`. `expected`: the size it must have
    /// (another is refused, its body read no further). Returns what it hashes to and its
    /// size.
    pub async fn download(
        &self,
        d: &Digest,
        dst: Option<&Path>,
        expected: Option<u64>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(Digest, u64), RemoteError> {
        let got = self
            .store
            .get(&self.key(&layout::key(Kind::Object, d)))
            .await
            .map_err(|e| self.classify(e, Some(*d)))?;
        let said = got.meta.size;
        if let Some(want) = expected
            && want != said
        {
            return Err(self.refused(
                Kind::Object,
                d,
                format!("is {said} bytes where {want} were expected"),
            ));
        }
        let limit = expected.unwrap_or(said);
        let refused = |why| self.refused(Kind::Object, d, why);
        self.stream_to(got, dst, limit, Some(*d), &refused, progress)
            .await
    }

    /// Streams `got`'s body into a new file at `dst` (or only hashes it), hashing on the
    /// blocking pool as it is written; more than `limit` bytes is `refused`. What it
    /// hashes to and its size.
    async fn stream_to(
        &self,
        got: object_store::GetResult,
        dst: Option<&Path>,
        limit: u64,
        digest: Option<Digest>,
        refused: &(dyn Fn(String) -> RemoteError + Sync),
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(Digest, u64), RemoteError> {
        let mut body = got.into_stream();
        let mut file = match dst {
            Some(p) => Some(
                File::create(p)
                    .map_err(|e| RemoteError::Local(crate::Error::io("create", p, e)))?,
            ),
            None => None,
        };
        let dst_path = dst.map(Path::to_path_buf);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<(Digest, u64)> {
            let mut hasher = blake3::Hasher::new();
            let mut n = 0u64;
            while let Some(b) = rx.blocking_recv() {
                hasher.update(&b);
                if let Some(f) = file.as_mut() {
                    f.write_all(&b)?;
                }
                n += b.len() as u64;
            }
            Ok((hasher.finalize().into(), n))
        });
        let streamed: Result<(), RemoteError> = async {
            let mut seen = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| self.classify(e, digest))?;
                seen += chunk.len() as u64;
                if seen > limit {
                    return Err(refused(format!(
                        "sent more than the {limit} bytes it was to have"
                    )));
                }
                progress(chunk.len() as u64);
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Ok(())
        }
        .await;
        drop(tx);
        let written = writer.await.map_err(|e| join_error(&self.name, e))?;
        streamed?;
        written.map_err(|e| {
            RemoteError::Local(crate::Error::io("write", dst_path.unwrap_or_default(), e))
        })
    }

    /// `rel` (a key below the prefix: pipe's layout, or another tool's, see `super::raw`)
    /// fetched; `None` when there is nothing under it (a missing bucket is an error).
    async fn get_raw(&self, rel: &str) -> Result<Option<object_store::GetResult>, RemoteError> {
        match self.store.get(&self.key(rel)).await {
            Ok(g) => Ok(Some(g)),
            Err(object_store::Error::NotFound { source, .. })
                if !source.to_string().contains("NoSuchBucket") =>
            {
                Ok(None)
            }
            Err(e) => Err(self.classify(e, None)),
        }
    }

    fn refused_raw(&self, rel: &str, why: String) -> RemoteError {
        RemoteError::RefusedRaw {
            remote: self.name.clone(),
            at: self.key(rel).to_string(),
            why,
        }
    }

    /// The object at `rel` read whole; `None` when absent; more than `max` bytes: refused
    /// unread.
    pub async fn read_raw(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        let Some(got) = self.get_raw(rel).await? else {
            return Ok(None);
        };
        self.read_whole(got, max, |why| self.refused_raw(rel, why))
            .await
            .map(Some)
    }

    /// `got`'s body in memory: more than `max` bytes refused unread, more than the store
    /// said it holds refused while reading (`refuse` says which object).
    async fn read_whole(
        &self,
        got: object_store::GetResult,
        max: u64,
        refuse: impl Fn(String) -> RemoteError,
    ) -> Result<Vec<u8>, RemoteError> {
        let size = got.meta.size;
        if size > max {
            return Err(refuse(format!(
                "is {size} bytes, more than pipe reads whole ({max})"
            )));
        }
        let mut body = got.into_stream();
        let mut out = Vec::with_capacity(size as usize);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.classify(e, None))?;
            if (out.len() + chunk.len()) as u64 > size {
                return Err(refuse(format!("sent more than its {size} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The object at `rel` streamed into a new file at `dst`: its blake3 and size, `None`
    /// when absent. No more than the size the store reports is accepted.
    pub async fn download_raw(
        &self,
        rel: &str,
        dst: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Option<(Digest, u64)>, RemoteError> {
        let Some(got) = self.get_raw(rel).await? else {
            return Ok(None);
        };
        let limit = got.meta.size;
        let refused = |why| self.refused_raw(rel, why);
        self.stream_to(got, Some(dst), limit, None, &refused, progress)
            .await
            .map(Some)
    }

    /// A small object or record read whole; `None` when absent. Larger than
    /// `dir::READ_WHOLE_MAX`: refused unread.
    pub async fn read(&self, kind: Kind, d: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        let Some(got) = self.get_raw(&layout::key(kind, d)).await? else {
            return Ok(None);
        };
        self.read_whole(got, super::dir::READ_WHOLE_MAX, |why| {
            self.refused(kind, d, why)
        })
        .await
        .map(Some)
    }

    fn classify(&self, e: object_store::Error, digest: Option<Digest>) -> RemoteError {
        super::classify::classify(
            &super::classify::Context {
                remote: &self.name,
                at: &self.at,
                scheme: self.scheme,
                bucket: &self.bucket,
            },
            e,
            digest,
        )
    }
}

fn config(spec: &RemoteSpec, msg: String) -> RemoteError {
    RemoteError::Config {
        remote: spec.name.clone(),
        msg,
    }
}

fn join_error(remote: &str, e: tokio::task::JoinError) -> RemoteError {
    RemoteError::Failed {
        remote: remote.to_string(),
        detail: format!("internal error: {e}"),
        transient: false,
        attempts: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_needs_loopback_or_allow_http() {
        let mut spec = RemoteSpec::new("r", "s3://b/p", Path::new("/")).unwrap();
        spec.credentials = Some(super::super::spec::Credentials {
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            session_token: None,
        });
        spec.endpoint = Some("http://10.1.2.3:9000".into());
        let e = CloudRemote::open(&spec, 4).unwrap_err();
        assert!(e.to_string().contains("allow_http"), "{e}");
        spec.endpoint = Some("http://127.0.0.1:9000".into());
        let r = CloudRemote::open(&spec, 4).unwrap();
        assert_eq!(r.key("objects/ab/cd").as_ref(), "p/objects/ab/cd");
        assert_eq!(r.rel("p/objects/ab/cd"), Some("objects/ab/cd"));
        assert_eq!(r.rel("q/objects/ab/cd"), None);
        spec.credentials = None;
        // Without keys in the environment or a profile, a non-AWS endpoint is a
        // configuration error, never a call to an instance-metadata service.
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && std::env::var_os("AWS_PROFILE").is_none()
        {
            let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
            if home.is_none_or(|h| !h.join(".aws").exists()) {
                let e = CloudRemote::open(&spec, 4).unwrap_err();
                assert!(e.to_string().contains("no credentials"), "{e}");
            }
        }
    }
}
