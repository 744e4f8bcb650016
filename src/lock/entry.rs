//! What the lock records per stage instance: a [`LockEntry`], whose deps and outs are
//! `pipe_cache::Summary`s (the cache's own type: one type from the hash to the lock), and
//! how the lock writes a summary ([`summaries`], `SummaryToml`).

use std::collections::BTreeMap;

use pipe_cache::{Digest, Shape, Summary};
use serde::{Deserialize, Serialize};

use crate::wspath::WsPath;

/// How a dep's or out's [`Summary`] is written (the lock's text, its journal, run-cache and
/// experiment records): `digest`, `size`, then `files` and `dir = true` for a directory,
/// `exec = true` for an executable file. A file's count is never written (it is 1 by
/// definition); a directory's is left out of the JSON forms when 0, so an absent `files`
/// reads as 0 for a directory. These are the bytes the lock wrote when it kept its own
/// copy of the type with `files = 0` for a file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryToml {
    digest: Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    files: u64,
    #[serde(default, skip_serializing_if = "is_false")]
    dir: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    exec: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl From<&Summary> for SummaryToml {
    fn from(s: &Summary) -> Self {
        let (files, dir, exec) = match s.shape {
            Shape::File { exec } => (0, false, exec),
            Shape::Dir { files } => (files, true, false),
        };
        SummaryToml {
            digest: s.digest,
            size: s.size,
            files,
            dir,
            exec,
        }
    }
}

impl From<SummaryToml> for Summary {
    fn from(t: SummaryToml) -> Self {
        if t.dir {
            Summary::dir(t.digest, t.size, t.files)
        } else {
            Summary::file(t.digest, t.size, t.exec)
        }
    }
}

/// `#[serde(with = "summaries")]`: a map of paths to [`Summary`]s as the lock writes them.
pub mod summaries {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<K: Serialize, S: Serializer>(
        m: &BTreeMap<K, Summary>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k, SummaryToml::from(v))))
    }

    pub fn deserialize<'de, K: Deserialize<'de> + Ord, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<K, Summary>, D::Error> {
        let m = BTreeMap::<K, SummaryToml>::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, v.into())).collect())
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
    #[serde(default, with = "summaries")]
    pub deps: BTreeMap<WsPath, Summary>,
    #[serde(default, with = "summaries")]
    pub outs: BTreeMap<WsPath, Summary>,
    /// Deps whose content changed while the stage ran: the outs may have read either
    /// version, so they are the result of no known inputs and the stage stays stale until a
    /// run on stable inputs replaces this entry. Empty for every trustworthy run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_during_run: Vec<WsPath>,
    /// The run-cache key this entry's outs were recorded under, as the run computed it
    /// (`run::decide::Inputs`): what push, gc and `exp push` look a record up by. Carried,
    /// never recomputed: a key rebuilt later from the pipeline's params and the
    /// environment of the day names another run (or none). `None`: no record is known
    /// (a stage that cannot be restored, a run whose deps changed under it, an entry
    /// `exp apply` moved back, or an entry written before pipe carried keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Digest>,
    /// Imported data (`pipe import`): the commit of the source its outs came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev_lock: Option<String>,
}

impl LockEntry {
    /// The one way an entry is made: the stage's command and params as declared, the env
    /// digests and dep hashes observed before the run, the outs it left; no run-cache
    /// record known (see `run::decide::Inputs::entry` for one). A run whose deps changed under it
    /// names them in `changed_during_run` (see there).
    pub fn new(
        stage: &crate::graph::Stage,
        env: BTreeMap<String, String>,
        deps: BTreeMap<WsPath, Summary>,
        outs: BTreeMap<WsPath, Summary>,
    ) -> Self {
        LockEntry {
            cmd: stage.kind.describe(),
            params: stage.params.clone(),
            env,
            deps,
            outs,
            changed_during_run: Vec::new(),
            key: None,
            rev_lock: None,
        }
    }
}

/// The digest recorded for an environment variable's value (unset: `-`).
pub fn env_digest(value: Option<&str>) -> String {
    match value {
        Some(v) => Digest::of_bytes(v.as_bytes()).short(),
        None => "-".to_string(),
    }
}
