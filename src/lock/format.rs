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

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::entry::{HashInfo, LockEntry};

pub const VERSION: u32 = 1;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockToml {
    pub version: u32,
    #[serde(default)]
    pub stage: BTreeMap<String, LockEntry>,
}

pub fn parse(text: &str) -> Result<BTreeMap<String, LockEntry>, String> {
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let t: LockToml = toml::from_str(text).map_err(|e| e.to_string())?;
    if t.version != VERSION {
        return Err(format!(
            "lock file version {} is not supported by this pipe (which writes version {VERSION})",
            t.version
        ));
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
            let _ = writeln!(out, "deps.{} = {}", key(k), hash(h));
        }
        for (k, h) in &e.outs {
            let _ = writeln!(out, "outs.{} = {}", key(k), hash(h));
        }
        if !e.changed_during_run.is_empty() {
            let paths: Vec<String> = e.changed_during_run.iter().map(|p| string(p)).collect();
            let _ = writeln!(out, "changed_during_run = [{}]", paths.join(", "));
        }
    }
    out
}

fn hash(h: &HashInfo) -> String {
    let mut s = format!("{{ digest = \"{}\", size = {}", h.digest, h.size);
    if h.dir {
        let _ = write!(s, ", files = {}, dir = true", h.files);
    }
    if h.exec {
        s.push_str(", exec = true");
    }
    s.push_str(" }");
    s
}

/// A TOML key: bare when it can be, else a quoted string.
pub fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        string(k)
    }
}

/// A TOML basic string.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML value on one line.
pub fn value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => string(s),
        toml::Value::Float(f) if f.is_nan() => "nan".into(),
        toml::Value::Float(f) if f.is_infinite() => {
            if *f > 0.0 {
                "inf".into()
            } else {
                "-inf".into()
            }
        }
        toml::Value::Float(f) => {
            let s = format!("{f:?}");
            if s.contains(['.', 'e', 'E']) {
                s
            } else {
                format!("{s}.0")
            }
        }
        toml::Value::Array(a) => {
            let inner: Vec<String> = a.iter().map(value).collect();
            format!("[{}]", inner.join(", "))
        }
        toml::Value::Table(t) => {
            if t.is_empty() {
                return "{}".into();
            }
            let inner: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), value(v)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipe_cache::Digest;
    use proptest::prelude::*;

    fn entry() -> LockEntry {
        let mut e = LockEntry {
            cmd: "python \"train\".py\nsecond".into(),
            params: BTreeMap::new(),
            env: BTreeMap::new(),
            deps: BTreeMap::new(),
            outs: BTreeMap::new(),
            changed_during_run: vec!["data/x y".into()],
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
            "data/x y".into(),
            HashInfo {
                digest: Digest::of_bytes(b"x"),
                size: 1,
                files: 0,
                dir: false,
                exec: true,
            },
        );
        e.outs.insert(
            "out".into(),
            HashInfo {
                digest: Digest::of_bytes(b"o"),
                size: 9,
                files: 3,
                dir: true,
                exec: false,
            },
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
        assert!(parse("version = 9\n").unwrap_err().contains("version 9"));
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
