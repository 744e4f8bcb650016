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
    /// Deps whose content changed while the stage ran: the outs may have read either
    /// version, so they are the result of no known inputs and the stage stays stale until a
    /// run on stable inputs replaces this entry. Empty for every trustworthy run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_during_run: Vec<String>,
    /// The run-cache key this entry's outs were recorded under, as the run computed it
    /// (`run::decide::Inputs`): what push, gc and `exp push` look a record up by. Carried,
    /// never recomputed: a key rebuilt later from the pipeline's params and the
    /// environment of the day names another run (or none). `None`: no record is known
    /// (a stage that cannot be restored, a run whose deps changed under it, an entry
    /// `exp apply` moved back, or an entry written before pipe carried keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Digest>,
}

impl LockEntry {
    /// The one way an entry is made: the stage's command and params as declared, the env
    /// digests and dep hashes observed before the run, the outs it left; no run-cache
    /// record known (see [`LockEntry::of_run`] for one). A run whose deps changed under it
    /// names them in `changed_during_run` (see there).
    pub fn new(
        stage: &crate::graph::Stage,
        env: BTreeMap<String, String>,
        deps: BTreeMap<String, HashInfo>,
        outs: BTreeMap<String, HashInfo>,
    ) -> Self {
        LockEntry {
            cmd: stage.kind.describe(),
            params: stage.params.clone(),
            env,
            deps,
            outs,
            changed_during_run: Vec::new(),
            key: None,
        }
    }

    /// The entry of a run (or a restore) from `inputs`, carrying their run-cache key when
    /// the stage's runs are recorded in the run cache at all.
    pub fn of_run(
        stage: &crate::graph::Stage,
        inputs: &crate::run::decide::Inputs,
        outs: BTreeMap<String, HashInfo>,
    ) -> Self {
        let mut e = LockEntry::new(stage, inputs.env.clone(), inputs.deps.clone(), outs);
        e.key = stage.restorable().then_some(inputs.key);
        e
    }
}

/// The digest recorded for an environment variable's value (unset: `-`).
pub fn env_digest(value: Option<&str>) -> String {
    match value {
        Some(v) => Digest::of_bytes(v.as_bytes()).short(),
        None => "-".to_string(),
    }
}
