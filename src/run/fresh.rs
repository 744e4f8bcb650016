//! Freshness: whether a stage instance must run, and why, as data.
//!
//! What is compared against the stage's lock entry, in this order, and why:
//!
//! | part | stale when | reason |
//! |---|---|---|
//! | frozen | never (a frozen stage is skipped) | - |
//! | `--force` | always | `Forced` |
//! | lock entry | missing | `NeverRun` |
//! | `always_changed` | always | `AlwaysChanged` |
//! | command | the resolved command string differs | `CmdChanged` |
//! | params | any leaf value read differs, appears or disappears | `ParamChanged` |
//! | env | a declared variable's value digest differs | `EnvChanged` |
//! | deps | the set of paths or any content digest differs | `DepChanged`, `DepMissing` |
//! | deps during the run | the last run saw a dep change while it ran | `DepChangedDuringRun` |
//! | outs | the set of paths differs, one is missing, or its content differs from the lock | `OutsChanged`, `OutMissing`, `OutChanged` |
//! | upstream | (planning only) a stage this one reads from will run first | `UpstreamStale` |
//!
//! Deliberately not compared: timestamps (content decides), absolute paths (moving the
//! workspace keeps everything fresh), the stage's description and resources (they change
//! how a stage runs, not what it computes).
//!
//! A dep modified while its stage ran: the outs may hold what either version gave, so they
//! are the result of no known inputs. The deps are observed again after the stage exits;
//! when one changed, the run-cache record is not written and the lock entry names the dep
//! in `changed_during_run`, which keeps the stage stale (even after the dep is put back)
//! until a run on stable inputs replaces the entry.

use std::collections::BTreeMap;

use serde::Serialize;

use pipe_cache::Summary;

use crate::lock::LockEntry;
use crate::wspath::WsPath;

/// Why a stage is stale: it lives with the run's events, which carry it (`events::reason`).
pub use crate::events::DirtyReason;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", content = "reasons", rename_all = "snake_case")]
pub enum Freshness {
    Fresh,
    Frozen,
    Dirty(Vec<DirtyReason>),
}

impl Freshness {
    pub fn is_dirty(&self) -> bool {
        matches!(self, Freshness::Dirty(_))
    }
}

/// What a stage looks like now: the same parts as a lock entry, with `None` for a path
/// that does not exist.
#[derive(Debug, Clone)]
pub struct Observed {
    pub cmd: String,
    pub params: BTreeMap<String, toml::Value>,
    pub env: BTreeMap<String, String>,
    pub deps: BTreeMap<WsPath, Option<Summary>>,
    pub outs: BTreeMap<WsPath, Option<Summary>>,
}

impl Observed {
    /// The lock entry this observation would be recorded as, once every path exists (tests:
    /// an entry of a run is made by `LockEntry::new`).
    #[cfg(test)]
    pub fn to_entry(&self) -> Option<LockEntry> {
        let all = |m: &BTreeMap<WsPath, Option<Summary>>| -> Option<BTreeMap<WsPath, Summary>> {
            m.iter()
                .map(|(k, v)| (*v).map(|h| (k.clone(), h)))
                .collect()
        };
        Some(LockEntry {
            cmd: self.cmd.clone(),
            params: self.params.clone(),
            env: self.env.clone(),
            deps: all(&self.deps)?,
            outs: all(&self.outs)?,
            changed_during_run: Vec::new(),
            key: None,
            rev_lock: None,
        })
    }
}

pub struct Check<'a> {
    pub frozen: bool,
    pub forced: bool,
    pub always_changed: bool,
    pub lock: Option<&'a LockEntry>,
    pub observed: &'a Observed,
    /// Upstream stages that will run first (planning).
    pub upstream: &'a [String],
}

/// Compares a stage's observation with its lock entry.
pub fn check(c: &Check) -> Freshness {
    if c.frozen {
        return Freshness::Frozen;
    }
    let mut why = Vec::new();
    if c.forced {
        why.push(DirtyReason::Forced);
    }
    let Some(lock) = c.lock else {
        why.push(DirtyReason::NeverRun);
        // A dep that is missing with nothing upstream to make it keeps the stage from
        // running: say which (a fresh clone's unpulled data, a file no stage writes).
        if c.upstream.is_empty() {
            why.extend(
                c.observed
                    .deps
                    .iter()
                    .filter(|(_, h)| h.is_none())
                    .map(|(p, _)| DirtyReason::DepMissing {
                        path: p.as_str().to_string(),
                    }),
            );
        }
        return Freshness::Dirty(why);
    };
    if c.always_changed {
        why.push(DirtyReason::AlwaysChanged);
    }
    let o = c.observed;
    let param_diff = diff(&lock.params, &o.params);
    if o.cmd != lock.cmd && !explained_by_params(&lock.cmd, &o.cmd, &param_diff) {
        why.push(DirtyReason::CmdChanged {
            old: lock.cmd.clone(),
            new: o.cmd.clone(),
        });
    }
    for (key, old, new) in param_diff {
        why.push(DirtyReason::ParamChanged {
            key: key.clone(),
            old: old.map(crate::spec::toml_text::shown),
            new: new.map(crate::spec::toml_text::shown),
        });
    }
    for (name, _, _) in diff(&lock.env, &o.env) {
        why.push(DirtyReason::EnvChanged { name: name.clone() });
    }
    for u in c.upstream {
        why.push(DirtyReason::UpstreamStale { stage: u.clone() });
    }
    let upstream_runs = !c.upstream.is_empty();
    for (path, now) in &o.deps {
        match (lock.deps.get(path), now) {
            (_, None) if upstream_runs => {}
            (_, None) => why.push(DirtyReason::DepMissing {
                path: path.as_str().to_string(),
            }),
            (Some(old), Some(new)) if old.digest == new.digest => {}
            (old, Some(new)) => {
                if !upstream_runs {
                    why.push(DirtyReason::DepChanged {
                        path: path.as_str().to_string(),
                        old: old.map(|h| h.digest.short()),
                        new: Some(new.digest.short()),
                    });
                }
            }
        }
    }
    for path in &lock.changed_during_run {
        why.push(DirtyReason::DepChangedDuringRun {
            path: path.as_str().to_string(),
        });
    }
    for path in lock.deps.keys().filter(|p| !o.deps.contains_key(*p)) {
        why.push(DirtyReason::DepChanged {
            path: path.as_str().to_string(),
            old: Some(String::new()),
            new: None,
        });
    }
    if lock.outs.len() != o.outs.len() || lock.outs.keys().any(|k| !o.outs.contains_key(k)) {
        why.push(DirtyReason::OutsChanged);
    } else {
        for (path, now) in &o.outs {
            match (lock.outs.get(path), now) {
                (_, None) => why.push(DirtyReason::OutMissing {
                    path: path.as_str().to_string(),
                }),
                (Some(old), Some(new)) if old.digest != new.digest => {
                    why.push(DirtyReason::OutChanged {
                        path: path.as_str().to_string(),
                    })
                }
                _ => {}
            }
        }
    }
    if why.is_empty() {
        Freshness::Fresh
    } else {
        Freshness::Dirty(why)
    }
}

/// A command that changed only because interpolated params changed is not worth a reason
/// of its own: putting the old values back into the new command gives the old command.
fn explained_by_params(
    old: &str,
    new: &str,
    changes: &[(&String, Option<&toml::Value>, Option<&toml::Value>)],
) -> bool {
    let plain = |v: &toml::Value| match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
        other => Some(crate::spec::toml_text::decimal(other)),
    };
    let mut cmd = new.to_string();
    let mut any = false;
    for (_, o, n) in changes {
        if let (Some(o), Some(n)) = (o.and_then(plain), n.and_then(plain))
            && !n.is_empty()
            && cmd.contains(&n)
        {
            cmd = cmd.replace(&n, &o);
            any = true;
        }
    }
    any && cmd == old
}

fn diff<'a, V: PartialEq>(
    old: &'a BTreeMap<String, V>,
    new: &'a BTreeMap<String, V>,
) -> Vec<(&'a String, Option<&'a V>, Option<&'a V>)> {
    let mut out = Vec::new();
    for (k, v) in old {
        match new.get(k) {
            Some(n) if n == v => {}
            n => out.push((k, Some(v), n)),
        }
    }
    for (k, v) in new {
        if !old.contains_key(k) {
            out.push((k, None, Some(v)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipe_cache::Digest;

    fn path(s: &str) -> WsPath {
        WsPath::parse(s).unwrap()
    }

    fn h(s: &str) -> Summary {
        Summary::file(Digest::of_bytes(s.as_bytes()), s.len() as u64, false)
    }

    fn observed() -> Observed {
        Observed {
            cmd: "run".into(),
            params: [("train.lr".to_string(), toml::Value::Float(0.001))].into(),
            env: BTreeMap::new(),
            deps: [(path("in"), Some(h("a")))].into(),
            outs: [(path("out"), Some(h("b")))].into(),
        }
    }

    fn run(lock: Option<&LockEntry>, o: &Observed) -> Freshness {
        check(&Check {
            frozen: false,
            forced: false,
            always_changed: false,
            lock,
            observed: o,
            upstream: &[],
        })
    }

    fn reasons(f: Freshness) -> Vec<String> {
        match f {
            Freshness::Dirty(r) => r.iter().map(ToString::to_string).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn every_reason_reads_like_a_sentence() {
        let o = observed();
        let lock = o.to_entry().unwrap();
        assert_eq!(run(Some(&lock), &o), Freshness::Fresh);
        assert_eq!(reasons(run(None, &o)), vec!["never run"]);

        let mut p = o.clone();
        p.params.insert("train.lr".into(), toml::Value::Float(0.01));
        assert_eq!(
            reasons(run(Some(&lock), &p)),
            vec!["param train.lr 0.001 -> 0.01"]
        );

        // An interpolated param changes the command too; the param says why.
        let mut lock_i = lock.clone();
        lock_i.cmd = "train --lr 0.001".into();
        let mut pi = p.clone();
        pi.cmd = "train --lr 0.01".into();
        assert_eq!(
            reasons(run(Some(&lock_i), &pi)),
            vec!["param train.lr 0.001 -> 0.01"]
        );

        let mut d = o.clone();
        d.deps.insert(path("in"), Some(h("changed")));
        assert_eq!(reasons(run(Some(&lock), &d)), vec!["dep in changed"]);

        let mut m = o.clone();
        m.outs.insert(path("out"), None);
        assert_eq!(reasons(run(Some(&lock), &m)), vec!["out out missing"]);

        let mut c = o.clone();
        c.cmd = "other".into();
        assert_eq!(reasons(run(Some(&lock), &c)), vec!["command changed"]);

        let mut x = o.clone();
        x.outs.insert(path("out"), Some(h("edited")));
        assert_eq!(reasons(run(Some(&lock), &x)), vec!["out out modified"]);

        // Everything matches, but the dep changed under the last run: still stale.
        let mut unstable = lock.clone();
        unstable.changed_during_run = vec![path("in")];
        assert_eq!(
            reasons(run(Some(&unstable), &o)),
            vec!["dep in changed while the stage last ran"]
        );
    }

    #[test]
    fn frozen_and_forced() {
        let o = observed();
        let lock = o.to_entry().unwrap();
        let base = Check {
            frozen: true,
            forced: true,
            always_changed: false,
            lock: Some(&lock),
            observed: &o,
            upstream: &[],
        };
        assert_eq!(check(&base), Freshness::Frozen);
        let forced = Check {
            frozen: false,
            ..base
        };
        assert_eq!(reasons(check(&forced)), vec!["forced"]);
    }

    #[test]
    fn upstream_hides_dep_noise() {
        let mut o = observed();
        o.deps.insert(path("in"), None);
        let lock = observed().to_entry().unwrap();
        let up = vec!["prepare".to_string()];
        let f = check(&Check {
            frozen: false,
            forced: false,
            always_changed: false,
            lock: Some(&lock),
            observed: &o,
            upstream: &up,
        });
        assert_eq!(reasons(f), vec!["upstream stage prepare will run"]);
    }

    #[test]
    fn reasons_serialise_tagged() {
        let r = DirtyReason::ParamChanged {
            key: "a".into(),
            old: Some("1".into()),
            new: Some("2".into()),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"reason":"param_changed","key":"a","old":"1","new":"2"}"#
        );
    }
}
