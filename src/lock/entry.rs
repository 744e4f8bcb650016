//! What the lock records per stage instance.

use std::collections::BTreeMap;

use pipe_cache::{Digest, Hashed, Summary};
use serde::{Deserialize, Serialize};

/// A dep's or out's content as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashInfo {
    pub digest: Digest,
    pub size: u64,
    /// Number of files, for a directory.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub files: u64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub dir: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub exec: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl HashInfo {
    pub fn from_summary(s: &Summary) -> Self {
        HashInfo {
            digest: s.digest,
            size: s.size,
            files: s.files,
            dir: s.dir,
            exec: s.exec,
        }
    }

    pub fn of(h: &Hashed) -> Self {
        match h {
            Hashed::File { digest, size, exec } => HashInfo {
                digest: *digest,
                size: *size,
                files: 0,
                dir: false,
                exec: *exec,
            },
            Hashed::Dir { digest, manifest } => HashInfo {
                digest: *digest,
                size: manifest.total_size(),
                files: manifest.len() as u64,
                dir: true,
                exec: false,
            },
        }
    }
}

/// One stage instance's last successful run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// The command (`uses NAME` for a built-in).
    pub cmd: String,
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// Declared env vars -> a digest of their values (never the values: they may be secret).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub deps: BTreeMap<String, HashInfo>,
    #[serde(default)]
    pub outs: BTreeMap<String, HashInfo>,
}

/// The digest recorded for an environment variable's value (unset: `-`).
pub fn env_digest(value: Option<&str>) -> String {
    match value {
        Some(v) => Digest::of_bytes(v.as_bytes()).short(),
        None => "-".to_string(),
    }
}
