//! The run cache: what a stage produced, keyed by everything the run read.
//!
//! Key = blake3 of the canonical JSON of [`KeyParts`] (sorted maps, pinned by a test):
//! the command (or built-in name with pipe-stages/libtorch versions), its working
//! directory, the params values it read, the digest of every dep, the values of the
//! environment variables it declared, the platform, and the out paths it declares. Value =
//! the digests of the outs, in the cache's `runs/` records. When a stale stage's key is
//! found and every object it names is in the cache, its outs are checked out instead of
//! running it (after a reverted param, say), and pipe says so. `pipe explain STAGE` prints
//! each part with its own digest, so two machines' keys can be compared part by part.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pipe_cache::Digest;
use serde::{Deserialize, Serialize};

use crate::graph::{Stage, StageKind};
use crate::lock::HashInfo;

pub const KEY_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct KeyParts {
    pub v: u32,
    pub command: String,
    /// Versions a built-in's output depends on; `None` for a shell command.
    pub builtin: Option<String>,
    pub wdir: String,
    pub params: BTreeMap<String, toml::Value>,
    pub deps: BTreeMap<String, Digest>,
    pub env: BTreeMap<String, Option<String>>,
    pub platform: String,
    pub outs: Vec<String>,
}

impl KeyParts {
    pub fn of(stage: &Stage, deps: &BTreeMap<String, HashInfo>) -> Self {
        KeyParts {
            v: KEY_VERSION,
            command: stage.kind.describe(),
            builtin: match &stage.kind {
                StageKind::Builtin(_) => crate::builtin::version(),
                StageKind::Cmd(_) | StageKind::Data => None,
            },
            wdir: stage.wdir.as_str().to_string(),
            params: stage.params.clone(),
            deps: deps.iter().map(|(k, h)| (k.clone(), h.digest)).collect(),
            env: stage
                .env
                .iter()
                .map(|n| (n.clone(), std::env::var(n).ok()))
                .collect(),
            platform: platform(),
            outs: stage
                .outs
                .iter()
                .map(|o| o.path.as_str().to_string())
                .collect(),
        }
    }

    pub fn key(&self) -> Digest {
        Digest::of_bytes(&canonical(self))
    }

    /// One line per part with the part's own digest: what `pipe explain` prints.
    pub fn explain(&self) -> String {
        let part = |v: &dyn erased::Json| Digest::of_bytes(&v.bytes()).short();
        let mut s = String::new();
        let _ = writeln!(s, "run-cache key {}", self.key());
        let _ = writeln!(
            s,
            "  command   {}  {}",
            part(&self.command),
            one_line(&self.command)
        );
        let _ = writeln!(
            s,
            "  built-in  {}  {}",
            part(&self.builtin),
            self.builtin.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            s,
            "  wdir      {}  {}",
            part(&self.wdir),
            if self.wdir.is_empty() {
                "."
            } else {
                &self.wdir
            }
        );
        let _ = writeln!(s, "  platform  {}  {}", part(&self.platform), self.platform);
        let _ = writeln!(s, "  params    {}", part(&self.params));
        for (k, v) in &self.params {
            let _ = writeln!(s, "    {k} = {}", crate::lock::format::value(v));
        }
        let _ = writeln!(s, "  deps      {}", part(&self.deps));
        for (k, d) in &self.deps {
            let _ = writeln!(s, "    {} {k}", d.short());
        }
        let _ = writeln!(s, "  env       {}", part(&self.env));
        for (k, v) in &self.env {
            let shown = match v {
                Some(v) => format!("set ({})", crate::lock::entry::env_digest(Some(v))),
                None => "unset".to_string(),
            };
            let _ = writeln!(s, "    {k} {shown}");
        }
        let _ = writeln!(s, "  outs      {}", part(&self.outs));
        for o in &self.outs {
            let _ = writeln!(s, "    {o}");
        }
        s
    }
}

mod erased {
    pub trait Json {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn bytes(&self) -> Vec<u8> {
            super::canonical(self)
        }
    }
}

fn canonical<T: Serialize>(v: &T) -> Vec<u8> {
    // Maps are BTreeMaps and structs serialise in declaration order: the bytes are
    // canonical. Serialising these types cannot fail (string keys, finite structure).
    serde_json::to_vec(v).unwrap_or_default()
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ; ")
}

pub fn platform() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// What a run produced, stored under its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The stage instance that produced it (informational).
    pub stage: String,
    pub outs: BTreeMap<String, HashInfo>,
}

impl RunRecord {
    pub fn encode(&self) -> Vec<u8> {
        canonical(self)
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// The record as one of `stage`'s runs: it names exactly the outs the stage declares
    /// (the key covers their paths, so a whole record of a run of this stage can name no
    /// other). Anything else is a corrupt record, from a damaged cache or an untrusted
    /// remote (an extra `../../x` would otherwise reach the lock and be checked out):
    /// `Err` says why, for the warning that it is ignored.
    pub fn decode_for(bytes: &[u8], stage: &Stage) -> Result<RunRecord, String> {
        let r: RunRecord = serde_json::from_slice(bytes)
            .map_err(|e| format!("it is not a run-cache record ({e})"))?;
        let declared: std::collections::BTreeSet<&str> =
            stage.outs.iter().map(|o| o.path.as_str()).collect();
        if let Some(extra) = r.outs.keys().find(|p| !declared.contains(p.as_str())) {
            return Err(format!(
                "it names out `{extra}`, which stage {} does not declare",
                stage.id
            ));
        }
        if let Some(missing) = declared.iter().find(|p| !r.outs.contains_key(**p)) {
            return Err(format!("it lacks the stage's out `{missing}`"));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> KeyParts {
        KeyParts {
            v: KEY_VERSION,
            command: "python train.py".into(),
            builtin: None,
            wdir: String::new(),
            params: [("train.lr".to_string(), toml::Value::Float(0.001))].into(),
            deps: [("data".to_string(), Digest::of_bytes(b"data"))].into(),
            env: BTreeMap::new(),
            platform: "x86_64-linux".into(),
            outs: vec!["model.ot".into()],
        }
    }

    #[test]
    fn key_is_pinned() {
        // An accidental change to the key's encoding invalidates every run cache: it must
        // be deliberate (bump KEY_VERSION) and fail this test.
        assert_eq!(
            parts().key().to_hex(),
            "adfd810592bad7a62a573174f594f4a70e738084226b108e687892ee747aa681"
        );
    }

    #[test]
    fn every_part_changes_the_key() {
        let k = parts().key();
        let mut p = parts();
        p.command.push(' ');
        assert_ne!(p.key(), k);
        let mut p = parts();
        p.params.insert("train.lr".into(), toml::Value::Float(0.01));
        assert_ne!(p.key(), k);
        let mut p = parts();
        p.deps.insert("data".into(), Digest::of_bytes(b"other"));
        assert_ne!(p.key(), k);
        let mut p = parts();
        p.env.insert("X".into(), None);
        assert_ne!(p.key(), k);
        let mut p = parts();
        p.outs.push("b".into());
        assert_ne!(p.key(), k);
        let e = parts().explain();
        assert!(e.contains("train.lr = 0.001"), "{e}");
    }

    #[test]
    fn records_round_trip() {
        let r = RunRecord {
            stage: "s".into(),
            outs: BTreeMap::new(),
        };
        assert_eq!(RunRecord::decode(&r.encode()), Some(r));
        assert_eq!(RunRecord::decode(b"garbage"), None);
    }
}
