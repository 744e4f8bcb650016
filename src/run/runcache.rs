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

use pipe_cache::{Digest, Summary};
use serde::{Deserialize, Serialize};

use crate::graph::{Stage, StageId, StageKind};
use crate::lock::entry::summaries;
use crate::wspath::WsPath;

pub const KEY_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct KeyParts {
    pub v: u32,
    pub command: String,
    /// Versions a built-in's output depends on; `None` for a shell command.
    pub builtin: Option<String>,
    pub wdir: WsPath,
    pub params: BTreeMap<String, toml::Value>,
    pub deps: BTreeMap<WsPath, Digest>,
    pub env: BTreeMap<String, Option<String>>,
    pub platform: String,
    pub outs: Vec<WsPath>,
}

impl KeyParts {
    pub fn of(stage: &Stage, deps: &BTreeMap<WsPath, Summary>) -> Self {
        KeyParts {
            v: KEY_VERSION,
            command: stage.kind.describe(),
            builtin: match &stage.kind {
                StageKind::Builtin(_) => crate::builtin::version(),
                StageKind::Cmd(_) | StageKind::Data => None,
            },
            wdir: stage.wdir.clone(),
            params: stage.params.clone(),
            deps: deps.iter().map(|(k, h)| (k.clone(), h.digest)).collect(),
            env: stage
                .env
                .iter()
                .map(|n| (n.clone(), std::env::var(n).ok()))
                .collect(),
            platform: platform(),
            outs: stage.outs.iter().map(|o| o.path.clone()).collect(),
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
        let _ = writeln!(s, "  wdir      {}  {}", part(&self.wdir), self.wdir);
        let _ = writeln!(s, "  platform  {}  {}", part(&self.platform), self.platform);
        let _ = writeln!(s, "  params    {}", part(&self.params));
        for (k, v) in &self.params {
            let _ = writeln!(s, "    {k} = {}", crate::spec::toml_text::value(v));
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
    #[serde(with = "summaries")]
    pub outs: BTreeMap<WsPath, Summary>,
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
    /// remote (an extra `../../x` would otherwise reach the lock and be checked out): the
    /// error says why, for the warning that it is ignored. The outs are read as text first,
    /// so that an out outside the workspace is named as one the stage does not declare.
    pub fn decode_for(bytes: &[u8], stage: &Stage) -> Result<RunRecord, RecordError> {
        let wire: WireRecord = serde_json::from_slice(bytes).map_err(RecordError::NotARecord)?;
        let declared: BTreeMap<&str, &WsPath> = stage
            .outs
            .iter()
            .map(|o| (o.path.as_str(), &o.path))
            .collect();
        if let Some(extra) = wire
            .outs
            .keys()
            .find(|p| !declared.contains_key(p.as_str()))
        {
            return Err(RecordError::Undeclared {
                out: extra.clone(),
                stage: stage.id.clone(),
            });
        }
        if let Some(missing) = declared
            .values()
            .find(|p| !wire.outs.contains_key(p.as_str()))
        {
            return Err(RecordError::Lacks((*missing).clone()));
        }
        let outs = wire
            .outs
            .into_iter()
            .filter_map(|(k, v)| Some(((*declared.get(k.as_str())?).clone(), v)))
            .collect();
        Ok(RunRecord {
            stage: wire.stage,
            outs,
        })
    }
}

/// A run record as read, its out paths not yet checked against the stage.
#[derive(Deserialize)]
struct WireRecord {
    stage: String,
    #[serde(with = "summaries")]
    outs: BTreeMap<String, Summary>,
}

/// Why a run-cache record is not one of a stage's runs (it is then ignored, with a warning).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("it is not a run-cache record ({0})")]
    NotARecord(serde_json::Error),
    #[error("it names out `{out}`, which stage {stage} does not declare")]
    Undeclared { out: String, stage: StageId },
    #[error("it lacks the stage's out `{0}`")]
    Lacks(WsPath),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> WsPath {
        WsPath::parse(s).unwrap()
    }

    fn parts() -> KeyParts {
        KeyParts {
            v: KEY_VERSION,
            command: "python train.py".into(),
            builtin: None,
            wdir: WsPath::root(),
            params: [("train.lr".to_string(), toml::Value::Float(0.001))].into(),
            deps: [(path("data"), Digest::of_bytes(b"data"))].into(),
            env: BTreeMap::new(),
            platform: "x86_64-linux".into(),
            outs: vec![path("model.ot")],
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
        p.deps.insert(path("data"), Digest::of_bytes(b"other"));
        assert_ne!(p.key(), k);
        let mut p = parts();
        p.env.insert("X".into(), None);
        assert_ne!(p.key(), k);
        let mut p = parts();
        p.outs.push(path("b"));
        assert_ne!(p.key(), k);
        let e = parts().explain();
        assert!(e.contains("train.lr = 0.001"), "{e}");
    }

    /// A stage of a fixed pipeline, through spec and graph as pipe builds it.
    fn built_stage(dir: &std::path::Path) -> Stage {
        std::fs::write(dir.join("params.toml"), "[train]\nlr = 0.001\nepochs = 3\n").unwrap();
        std::fs::create_dir_all(dir.join("src/data")).unwrap();
        std::fs::write(dir.join("src/train.py"), "x").unwrap();
        std::fs::write(
            dir.join("pipe.toml"),
            r#"
[stage.train]
cmd = "python train.py --lr ${train.lr} ${outs[0]}"
wdir = "src"
deps = ["train.py", "data"]
params = ["train.epochs"]
outs = ["../models/m.bin", { path = "../metrics.json", cache = false }]
env = ["PIPE_PIN_TEST_UNSET"]
"#,
        )
        .unwrap();
        let spec = crate::spec::load(&dir.join("pipe.toml")).unwrap();
        let g = crate::graph::Graph::build(&spec).unwrap();
        g[g.find("train").unwrap()].clone()
    }

    #[test]
    fn a_built_stage_key_lock_text_journal_json_and_record_are_pinned() {
        // What reaches disk from a stage built from a pipeline file: the run-cache key
        // (platform fixed), the lock's text, the journal's JSON and the run record. Types
        // change inside pipe; these bytes must not.
        let d = tempfile::tempdir().unwrap();
        let st = built_stage(d.path());
        let file =
            |s: &str, exec| Summary::file(Digest::of_bytes(s.as_bytes()), s.len() as u64, exec);
        let deps: BTreeMap<WsPath, Summary> = [
            (path("src/train.py"), file("x", true)),
            (
                path("src/data"),
                Summary::dir(Digest::of_bytes(b"tree"), 12, 3),
            ),
        ]
        .into();
        let mut parts = KeyParts::of(&st, &deps);
        parts.platform = "x86_64-linux".into();
        assert_eq!(
            parts.key().to_hex(),
            "18357a9673871a501b4bba72888ef4c690684cddd5238900150d2108d3e7cc4b"
        );
        let inputs = crate::run::decide::Inputs {
            deps: deps.clone(),
            env: [(
                "PIPE_PIN_TEST_UNSET".to_string(),
                crate::lock::entry::env_digest(None),
            )]
            .into(),
            key: parts.key(),
        };
        let outs: BTreeMap<WsPath, Summary> = [
            (path("models/m.bin"), file("model", false)),
            (
                path("metrics.json"),
                Summary::dir(Digest::of_bytes(b"empty"), 0, 0),
            ),
        ]
        .into();
        let mut entry = inputs.entry(&st, outs.clone());
        entry.changed_during_run = vec![path("src/data")];
        let text = crate::lock::format::render(&[("train".to_string(), entry.clone())].into());
        assert_eq!(
            text,
            concat!(
                "# pipe.lock: what each stage last ran with. Written by pipe; commit it.\n",
                "version = 1\n",
                "\n",
                "[stage.train]\n",
                "cmd = \"python train.py --lr 0.001 ../models/m.bin\"\n",
                "key = \"18357a9673871a501b4bba72888ef4c690684cddd5238900150d2108d3e7cc4b\"\n",
                "params.\"train.epochs\" = 3\n",
                "params.\"train.lr\" = 0.001\n",
                "env.PIPE_PIN_TEST_UNSET = \"-\"\n",
                "deps.\"src/data\" = { digest = \"6baa6c9f461fe834a9da0ebb62e0f6fb8c11988a58cbc51b8da8040aea19bc3a\", size = 12, files = 3, dir = true }\n",
                "deps.\"src/train.py\" = { digest = \"3ae7d805f6789a6402acb70ad4096a85a56bf6804eaf25c0493ac697548d30b5\", size = 1, exec = true }\n",
                "outs.\"metrics.json\" = { digest = \"6bdf3fe55052831d222fc6b82b2ba03f32b3599410fafd317642e21925c38f16\", size = 0, files = 0, dir = true }\n",
                "outs.\"models/m.bin\" = { digest = \"ccca53791b024d98ee5d8c126d923e16f6cede945beb0b93c9abca301ed453e7\", size = 5 }\n",
                "changed_during_run = [\"src/data\"]\n",
            )
        );
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"cmd":"python train.py --lr 0.001 ../models/m.bin","params":{"train.epochs":3,"train.lr":0.001},"env":{"PIPE_PIN_TEST_UNSET":"-"},"deps":{"src/data":{"digest":"6baa6c9f461fe834a9da0ebb62e0f6fb8c11988a58cbc51b8da8040aea19bc3a","size":12,"files":3,"dir":true},"src/train.py":{"digest":"3ae7d805f6789a6402acb70ad4096a85a56bf6804eaf25c0493ac697548d30b5","size":1,"exec":true}},"outs":{"metrics.json":{"digest":"6bdf3fe55052831d222fc6b82b2ba03f32b3599410fafd317642e21925c38f16","size":0,"dir":true},"models/m.bin":{"digest":"ccca53791b024d98ee5d8c126d923e16f6cede945beb0b93c9abca301ed453e7","size":5}},"changed_during_run":["src/data"],"key":"18357a9673871a501b4bba72888ef4c690684cddd5238900150d2108d3e7cc4b"}"#
        );
        // And they read back as the same entry.
        assert_eq!(crate::lock::format::parse(&text).unwrap()["train"], entry);
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            serde_json::from_str::<crate::lock::LockEntry>(&json).unwrap(),
            entry
        );
        assert_eq!(
            parts.explain(),
            concat!(
                "run-cache key 18357a9673871a501b4bba72888ef4c690684cddd5238900150d2108d3e7cc4b\n",
                "  command   82be489aa4f9  python train.py --lr 0.001 ../models/m.bin\n",
                "  built-in  03f88b99c3d8  -\n",
                "  wdir      1a3bef801fb9  src\n",
                "  platform  f61215960796  x86_64-linux\n",
                "  params    3b7edcddbf08\n",
                "    train.epochs = 3\n",
                "    train.lr = 0.001\n",
                "  deps      330526d0ee79\n",
                "    6baa6c9f461f src/data\n",
                "    3ae7d805f678 src/train.py\n",
                "  env       88b66a681e44\n",
                "    PIPE_PIN_TEST_UNSET unset\n",
                "  outs      0235ee572810\n",
                "    models/m.bin\n",
                "    metrics.json\n",
            )
        );
        let record = RunRecord {
            stage: "train".into(),
            outs,
        };
        assert_eq!(
            String::from_utf8(record.encode()).unwrap(),
            r#"{"stage":"train","outs":{"metrics.json":{"digest":"6bdf3fe55052831d222fc6b82b2ba03f32b3599410fafd317642e21925c38f16","size":0,"dir":true},"models/m.bin":{"digest":"ccca53791b024d98ee5d8c126d923e16f6cede945beb0b93c9abca301ed453e7","size":5}}}"#
        );
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
