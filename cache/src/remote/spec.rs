//! A remote as configured: where it is (a directory, or a bucket and prefix of an object
//! store) and how to talk to it. Parsed once from the config's strings; nothing after this
//! re-checks them.
//!
//! | url | backend |
//! |---|---|
//! | `/mnt/nfs/pipe`, `../shared`, `file:///mnt/nfs/pipe` | a directory (relative to the workspace) |
//! | `s3://bucket/prefix` | S3 or any S3-compatible store (`endpoint` for MinIO, RustFS, moto) |
//! | `gs://bucket/prefix` | Google Cloud Storage |
//! | `az://container/prefix` | Azure Blob Storage |
//!
//! Credentials never live here unless the user put them in the git-ignored local config;
//! `Debug` never shows them.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    S3,
    Gcs,
    Azure,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azure => "az",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    Cloud {
        scheme: Scheme,
        bucket: String,
        /// `a/b` (no leading or trailing `/`), or empty for the bucket's root.
        prefix: String,
    },
}

/// Static credentials from the local config. `Debug` redacts them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(redacted)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    pub name: String,
    /// The url as configured, for messages.
    pub url: String,
    pub location: Location,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Plain http to the endpoint (always allowed for a loopback endpoint).
    pub allow_http: bool,
    pub jobs: Option<usize>,
    pub credentials: Option<Credentials>,
    /// Directory remote shared by a group: setgid, group-writable directories.
    pub shared_group: bool,
}

impl RemoteSpec {
    /// A spec with only a location; the other settings at their defaults.
    pub fn new(name: &str, url: &str, base: &Path) -> Result<RemoteSpec, String> {
        Ok(RemoteSpec {
            name: name.to_string(),
            url: url.to_string(),
            location: parse_url(url, base)?,
            endpoint: None,
            region: None,
            profile: None,
            allow_http: false,
            jobs: None,
            credentials: None,
            shared_group: false,
        })
    }

    /// Transfers in flight when neither `--jobs` nor the config says: a disk does best
    /// with a few, an object store with many requests in flight.
    pub fn default_jobs(&self) -> usize {
        match self.location {
            Location::Dir(_) => 8,
            Location::Cloud { .. } => 32,
        }
    }
}

/// Parses a remote url; a plain or relative path is a directory relative to `base`.
pub fn parse_url(url: &str, base: &Path) -> Result<Location, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("the remote url is empty".into());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        let p = Path::new(url);
        return Ok(Location::Dir(if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }));
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            if !rest.starts_with('/') {
                return Err(format!(
                    "`{url}`: a file url needs an absolute path (file:///path)"
                ));
            }
            return Ok(Location::Dir(PathBuf::from(rest)));
        }
        "s3" | "s3a" => Scheme::S3,
        "gs" | "gcs" => Scheme::Gcs,
        "az" | "azure" | "abfs" => Scheme::Azure,
        other => {
            return Err(format!(
                "`{url}`: unsupported scheme `{other}` (a directory, s3://, gs:// or az://; \
                 for an S3-compatible server use s3://BUCKET with `endpoint = \"http://host:port\"`)"
            ));
        }
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("`{url}` names no bucket"));
    }
    if !bucket
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(format!("`{url}`: `{bucket}` is not a valid bucket name"));
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty()
        && prefix
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "`{url}`: the prefix `{prefix}` has an empty, `.` or `..` part"
        ));
    }
    Ok(Location::Cloud {
        scheme,
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
    })
}

/// The host of an `http(s)://host[:port][/…]` endpoint.
pub fn endpoint_host(endpoint: &str) -> Option<&str> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

/// An endpoint on this machine: `localhost`, `127.0.0.0/8`, `::1`.
pub fn is_loopback(endpoint: &str) -> bool {
    match endpoint_host(endpoint) {
        Some("localhost") => true,
        Some(h) => h
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(scheme: Scheme, bucket: &str, prefix: &str) -> Location {
        Location::Cloud {
            scheme,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn urls_parse_to_locations() {
        let base = Path::new("/ws");
        let ok = |u: &str| parse_url(u, base).unwrap();
        assert_eq!(ok("/mnt/nfs/r"), Location::Dir("/mnt/nfs/r".into()));
        assert_eq!(ok("../shared"), Location::Dir("/ws/../shared".into()));
        assert_eq!(ok("file:///mnt/r"), Location::Dir("/mnt/r".into()));
        assert_eq!(ok("s3://bkt"), cloud(Scheme::S3, "bkt", ""));
        assert_eq!(
            ok("s3://bkt/team/cache/"),
            cloud(Scheme::S3, "bkt", "team/cache")
        );
        assert_eq!(ok("S3A://b-1.x/p"), cloud(Scheme::S3, "b-1.x", "p"));
        assert_eq!(ok("gs://g/p"), cloud(Scheme::Gcs, "g", "p"));
        assert_eq!(ok("az://c/p/q"), cloud(Scheme::Azure, "c", "p/q"));
    }

    #[test]
    fn bad_urls_say_why() {
        let base = Path::new("/ws");
        let err = |u: &str| parse_url(u, base).unwrap_err();
        assert!(err("").contains("empty"));
        assert!(err("s3://").contains("no bucket"));
        assert!(err("s3:///p").contains("no bucket"));
        assert!(err("http://host/b").contains("unsupported scheme `http`"));
        assert!(err("s3://b/a//c").contains("empty"));
        assert!(err("s3://b/a/../c").contains("`..`"));
        assert!(err("s3://b d/x").contains("not a valid bucket"));
        assert!(err("file://rel").contains("absolute"));
    }

    #[test]
    fn loopback_endpoints() {
        assert!(is_loopback("http://127.0.0.1:9000"));
        assert!(is_loopback("http://127.1.2.3:9000/"));
        assert!(is_loopback("http://localhost:9000"));
        assert!(is_loopback("http://[::1]:9000"));
        assert!(is_loopback("http://user@127.0.0.1"));
        assert!(!is_loopback("http://10.0.0.1:9000"));
        assert!(!is_loopback("https://s3.amazonaws.com"));
        assert!(!is_loopback("http://127.0.0.1.example.com"));
        assert_eq!(endpoint_host("https://h:1/x"), Some("h"));
    }

    #[test]
    fn debug_never_shows_credentials() {
        let mut s = RemoteSpec::new("r", "s3://b", Path::new("/")).unwrap();
        s.credentials = Some(Credentials {
            access_key_id: "AKIDSECRETID".into(),
            secret_access_key: "supersecret".into(),
            session_token: None,
        });
        let shown = format!("{s:?}");
        assert!(!shown.contains("supersecret") && !shown.contains("AKIDSECRETID"));
    }
}
