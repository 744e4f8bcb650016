//! `pipe explain STAGE`: the report the command returns ([`Explanation`]) and its text.

use crate::run::fresh::Freshness;

/// Whether the run cache holds a stage's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunCache {
    /// Not used for this stage (an out is uncached or persists, or it always runs).
    NotUsed,
    Holds,
    Lacks,
}

/// A stage's run-cache key.
#[derive(Debug, Clone)]
pub enum Key {
    /// Every dep exists: the key, part by part (`KeyParts::explain`), and the cache.
    Known { parts: String, cache: RunCache },
    /// Some deps are missing: the key cannot be computed yet.
    Unknown { missing: Vec<String> },
}

/// Everything that decides whether a stage runs.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub stage: String,
    pub desc: Option<String>,
    pub freshness: Freshness,
    pub key: Key,
}

pub fn text(e: &Explanation) -> String {
    let mut out = format!("stage {}\n", e.stage);
    if let Some(d) = &e.desc {
        out.push_str(&format!("  {d}\n"));
    }
    match &e.freshness {
        Freshness::Fresh => out.push_str("state: up to date\n"),
        Freshness::Frozen => out.push_str("state: frozen (never run by repro)\n"),
        Freshness::Dirty(r) => {
            out.push_str("state: stale\n");
            for x in r {
                out.push_str(&format!("  - {x}\n"));
            }
        }
    }
    match &e.key {
        Key::Known { parts, cache } => {
            out.push_str(parts);
            out.push_str(&format!(
                "run cache: {}\n",
                match cache {
                    RunCache::NotUsed =>
                        "not used (an out is uncached or persists, or the stage is always_changed)",
                    RunCache::Holds => "holds this key",
                    RunCache::Lacks => "no entry for this key",
                }
            ));
        }
        Key::Unknown { missing } => {
            out.push_str(&format!(
                "run-cache key: unknown until the missing deps exist: {}\n",
                missing.join(", ")
            ));
        }
    }
    out
}
