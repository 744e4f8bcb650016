//! The lock file's text: deterministic, one line per dep, out and param, so that a change
//! to one stage is a small diff and two branches that ran different stages merge cleanly.
//!
//! ```toml
//! # pipe.lock: what each stage last ran with. Written by pipe; commit it.
//! version = 1
//!
//! [stage.train]
//! cmd = "python train.py"
//! key = "5be0…"
//! params."train.lr" = 0.001
//! deps."data/features" = { digest = "3f2a…", size = 1234, files = 10, dir = true }
//! outs."models/model.ot" = { digest = "9c1e…", size = 5555 }
//! ```
//!
//! Values are written by `spec::toml_text` (floats exactly, `1e-5`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use pipe_cache::{Shape, Summary};

use super::entry::LockEntry;
use crate::spec::toml_text::{key, string, value};

pub const VERSION: u32 = 1;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockToml {
    pub version: u32,
    #[serde(default)]
    pub stage: BTreeMap<String, LockEntry>,
}

/// Why a lock's text is not a lock this pipe reads.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Boxed: it is large, and a lock error travels in every `Result`.
    #[error("{0}")]
    Toml(Box<toml::de::Error>),
    #[error("lock file version {0} is not supported by this pipe (which writes version {VERSION})")]
    Version(u32),
}

pub fn parse(text: &str) -> Result<BTreeMap<String, LockEntry>, ParseError> {
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let t: LockToml = toml::from_str(text).map_err(|e| ParseError::Toml(Box::new(e)))?;
    if t.version != VERSION {
        return Err(ParseError::Version(t.version));
    }
    Ok(t.stage)
}

pub fn render(stages: &BTreeMap<String, LockEntry>) -> String {
    let mut out = String::with_capacity(64 + stages.len() * 400);
    out.push_str("# pipe.lock: what each stage last ran with. Written by pipe; commit it.\n");
    let _ = writeln!(out, "version = {VERSION}");
    for (id, e) in stages {
        let _ = writeln!(out, "\n[stage.{}]", key(id));
        let _ = writeln!(out, "cmd = {}", string(&e.cmd));
        if let Some(k) = &e.key {
            let _ = writeln!(out, "key = \"{k}\"");
        }
        for (k, v) in &e.params {
            let _ = writeln!(out, "params.{} = {}", key(k), value(v));
        }
        for (k, v) in &e.env {
            let _ = writeln!(out, "env.{} = {}", key(k), string(v));
        }
        for (k, h) in &e.deps {
            let _ = writeln!(out, "deps.{} = {}", key(k.as_str()), hash(h));
        }
        for (k, h) in &e.outs {
            let _ = writeln!(out, "outs.{} = {}", key(k.as_str()), hash(h));
        }
        if !e.changed_during_run.is_empty() {
            let paths: Vec<String> = e
                .changed_during_run
                .iter()
                .map(|p| string(p.as_str()))
                .collect();
            let _ = writeln!(out, "changed_during_run = [{}]", paths.join(", "));
        }
    }
    out
}

/// A dep's or out's summary: a directory's `files` always, a file's count never (see
/// `entry::SummaryToml`, which reads both back).
fn hash(h: &Summary) -> String {
    let mut s = format!("{{ digest = \"{}\", size = {}", h.digest, h.size);
    match h.shape {
        Shape::Dir { files } => {
            let _ = write!(s, ", files = {files}, dir = true");
        }
        Shape::File { exec: true } => s.push_str(", exec = true"),
        Shape::File { exec: false } => {}
    }
    s.push_str(" }");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wspath::WsPath;
    use pipe_cache::Digest;
    use proptest::prelude::*;

    fn entry() -> LockEntry {
        let mut e = LockEntry {
            cmd: "python \"train\".py\nsecond".into(),
            params: BTreeMap::new(),
            env: BTreeMap::new(),
            deps: BTreeMap::new(),
            outs: BTreeMap::new(),
            changed_during_run: vec![WsPath::parse("data/x y").unwrap()],
            key: Some(Digest::of_bytes(b"key")),
        };
        e.params
            .insert("train.lr".into(), toml::Value::Float(0.001));
        e.params
            .insert("train.epochs".into(), toml::Value::Integer(3));
        e.params
            .insert("model.kind".into(), toml::Value::String("a b".into()));
        e.params.insert("f".into(), toml::Value::Float(1.0));
        e.deps.insert(
            WsPath::parse("data/x y").unwrap(),
            Summary::file(Digest::of_bytes(b"x"), 1, true),
        );
        e.outs.insert(
            WsPath::parse("out").unwrap(),
            Summary::dir(Digest::of_bytes(b"o"), 9, 3),
        );
        e
    }

    #[test]
    fn round_trips() {
        let mut m = BTreeMap::new();
        m.insert("train@grid=4,seed=1".to_string(), entry());
        m.insert("prepare".to_string(), entry());
        let text = render(&m);
        assert_eq!(parse(&text).unwrap(), m);
        assert!(text.contains("[stage.\"train@grid=4,seed=1\"]"));
        assert!(text.contains("params.\"train.lr\" = 0.001\n"));
        assert!(text.contains("params.f = 1.0\n"));
    }

    #[test]
    fn one_stage_change_is_a_local_diff() {
        let mut m = BTreeMap::new();
        for i in 0..20 {
            m.insert(format!("s{i:02}"), entry());
        }
        let before = render(&m);
        m.get_mut("s10")
            .unwrap()
            .params
            .insert("train.lr".into(), toml::Value::Float(0.01));
        let after = render(&m);
        let changed: Vec<(&str, &str)> = before
            .lines()
            .zip(after.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
    }

    #[test]
    fn rejects_future_versions() {
        assert!(
            parse("version = 9\n")
                .unwrap_err()
                .to_string()
                .contains("version 9")
        );
    }

    proptest! {
        #[test]
        fn strings_round_trip(s in "\\PC{0,30}", k in "[a-z.@=,\\- ]{1,12}") {
            let mut m = BTreeMap::new();
            let mut e = entry();
            e.cmd = s.clone();
            e.params.insert(k.clone(), toml::Value::String(s));
            m.insert(k, e);
            prop_assert_eq!(parse(&render(&m)).unwrap(), m);
        }
    }
}
