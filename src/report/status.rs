//! `pipe status` and `pipe status --remote`: the reports the commands return
//! ([`StatusReport`], [`RemoteStatus`]) and their text and JSON. Warnings (a quarantined
//! run-cache object) go to stderr; the listing to stdout. `-v` lists the fresh and frozen
//! stages too (as `repro --dry -v` does).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::run::fresh::{DirtyReason, Freshness};
use crate::run::plan::Planned;

use super::printer::Printer;

/// What `pipe status` found.
#[derive(Debug, Clone)]
pub struct StatusReport {
    /// Every stage evaluated, in dependency order.
    pub planned: Vec<Planned>,
    /// The stale stages listed one by one (indices into `planned`): all but the sweep
    /// cells that never ran...
    pub listed: Vec<usize>,
    /// ...which are counted per sweep instead.
    pub never_run: BTreeMap<String, usize>,
    /// Frozen stages whose outs are not in the workspace (indices into `planned`), with
    /// those outs: repro never makes them, so their readers cannot run.
    pub frozen_missing: Vec<(usize, Vec<String>)>,
    /// A missing path (out or tracked data) -> where it comes back from.
    pub hints: BTreeMap<String, String>,
}

impl StatusReport {
    /// The stale stages, in dependency order.
    pub fn stale(&self) -> impl Iterator<Item = &Planned> {
        self.planned.iter().filter(|x| x.freshness.is_dirty())
    }

    /// How many stages are `f`.
    pub fn count(&self, f: &Freshness) -> usize {
        self.planned.iter().filter(|x| &x.freshness == f).count()
    }

    /// The messages of run-cache objects found corrupt (and quarantined) on the way.
    pub fn quarantined(&self) -> impl Iterator<Item = &str> {
        self.planned.iter().filter_map(|x| x.quarantined.as_deref())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Where {
    Both,
    LocalOnly,
    RemoteOnly,
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutState {
    pub stage: String,
    pub path: String,
    #[serde(rename = "where")]
    pub place: Where,
}

/// What `status --remote` found: every cached out's place, against which remote.
#[derive(Debug, Clone)]
pub struct RemoteStatus {
    pub remote: String,
    pub outs: Vec<OutState>,
}

/// `--json`'s shape.
#[derive(Serialize)]
struct StatusJson<'a> {
    stale: Vec<&'a Planned>,
    fresh: usize,
    frozen: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    frozen_missing: Vec<FrozenJson<'a>>,
    /// Missing path -> where it comes back from.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    missing: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct FrozenJson<'a> {
    stage: &'a str,
    missing: &'a [String],
}

pub fn print(p: &Printer, r: &StatusReport, json: bool) {
    for q in r.quarantined() {
        p.warn(q);
    }
    if json {
        let out = serde_json::to_string_pretty(&StatusJson {
            stale: r.stale().collect(),
            fresh: r.count(&Freshness::Fresh),
            frozen: r.count(&Freshness::Frozen),
            frozen_missing: r
                .frozen_missing
                .iter()
                .map(|(k, m)| FrozenJson {
                    stage: &r.planned[*k].stage,
                    missing: m,
                })
                .collect(),
            missing: &r.hints,
        })
        .unwrap_or_default();
        p.data(&out);
        return;
    }
    p.data(&text(r, p.verbose() > 0));
}

/// Each listed stale stage with its reasons (with `verbose`, the fresh and frozen stages
/// too, in dependency order), then the never-run cells per sweep; or that everything is up
/// to date.
fn text(r: &StatusReport, verbose: bool) -> String {
    let mut text = String::new();
    for (k, pl) in r.planned.iter().enumerate() {
        match &pl.freshness {
            Freshness::Dirty(reasons) if r.listed.contains(&k) => {
                let tag = if pl.restore {
                    " (restorable from the run cache)"
                } else {
                    ""
                };
                text.push_str(&format!("{}: stale{tag}\n", pl.stage));
                for reason in reasons {
                    let hint = match reason {
                        DirtyReason::OutMissing { path }
                        | DirtyReason::DepMissing { path }
                        | DirtyReason::DepChanged { path, .. } => r.hints.get(path),
                        _ => None,
                    };
                    match hint {
                        Some(h) => text.push_str(&format!("    {reason}: {h}\n")),
                        None => text.push_str(&format!("    {reason}\n")),
                    }
                }
            }
            Freshness::Frozen => {
                if let Some((_, missing)) = r.frozen_missing.iter().find(|(j, _)| *j == k) {
                    text.push_str(&format!("{}: frozen, outs missing\n", pl.stage));
                    for m in missing {
                        match r.hints.get(m) {
                            Some(h) => text.push_str(&format!("    out {m} missing: {h}\n")),
                            None => text.push_str(&format!("    out {m} missing\n")),
                        }
                    }
                } else if verbose {
                    text.push_str(&format!("{}: frozen\n", pl.stage));
                }
            }
            Freshness::Fresh if verbose => text.push_str(&format!("{}: up to date\n", pl.stage)),
            _ => {}
        }
    }
    if r.stale().next().is_none() && r.frozen_missing.is_empty() {
        text.push_str(&format!(
            "Everything is up to date ({}).",
            stages(r.planned.len())
        ));
        return text;
    }
    for (sweep, n) in &r.never_run {
        text.push_str(&format!("sweep {sweep}: {n} stage instance(s) never run\n"));
    }
    text.trim_end().to_string()
}

/// `1 stage`, `3 stages`.
pub fn stages(n: usize) -> String {
    if n == 1 {
        "1 stage".to_string()
    } else {
        format!("{n} stages")
    }
}

impl Where {
    fn label(self) -> &'static str {
        match self {
            Where::Both => "both",
            Where::LocalOnly => "local only",
            Where::RemoteOnly => "remote only",
            Where::Missing => "missing",
        }
    }
}

/// `status --remote`: where each out's content is, then the counts.
pub fn print_remote(p: &Printer, r: &RemoteStatus, json: bool) {
    if json {
        p.data(&serde_json::to_string_pretty(&r.outs).unwrap_or_default());
        return;
    }
    let mut text = String::new();
    for st in &r.outs {
        text.push_str(&format!("{:<12} {}\n", st.place.label(), st.path));
    }
    let count = |w: Where| r.outs.iter().filter(|s| s.place == w).count();
    text.push_str(&format!(
        "{} out(s) against remote `{}`: {} in both, {} local only, {} remote only, {} missing on both",
        r.outs.len(),
        r.remote,
        count(Where::Both),
        count(Where::LocalOnly),
        count(Where::RemoteOnly),
        count(Where::Missing)
    ));
    p.data(&text);
}
