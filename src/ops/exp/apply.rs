//! `pipe exp apply NAME [--force]`: make the experiment the workspace's state without
//! rerunning anything.
//!
//! 1. Check: the experiment finished, its outs' objects are in the local cache (else
//!    `pipe exp pull`), the pipeline still has its stages with the same outs, and the
//!    workspace has no unsaved work it would overwrite: a params value edited since the
//!    lock recorded it, or an out modified since. `--force` overwrites them.
//! 2. Write the overrides into the params files in place (comments and layout kept).
//! 3. With the pipeline reloaded, each of the experiment's stages gets the lock entry of
//!    its base stage (the recorded deps and outs with the experiment's paths moved back)
//!    and its outs are checked out of the cache, so `pipe status` says up to date.
//!
//! The outs' path locks are taken (without waiting) before step 2 and held to the end: an
//! out a running stage writes is never checked out under it.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::exp::record::{ExpRecord, ExpState};
use crate::exp::{ExpName, params_edit};
use crate::graph::StageIdx;
use crate::graph::exp::base_path;
use crate::lock::LockEntry;
use crate::ops::error::OpsError;
use crate::pathlock::{self, Busy, Held, Mode, PathLocks};
use crate::report::printer::{Printer, Tone};
use crate::run::fresh::{DirtyReason, Freshness};
use crate::run::plan::{self, PlanOptions};
use crate::run::restore::{OutRef, Unusable, checkout, objects_usable, outs_from};
use crate::spec::params::{self, render};

use super::{Session, records};

fn moved_back(
    name: &ExpName,
    m: &BTreeMap<crate::wspath::WsPath, pipe_cache::Summary>,
) -> BTreeMap<crate::wspath::WsPath, pipe_cache::Summary> {
    m.iter().map(|(k, h)| (base_path(name, k), *h)).collect()
}

/// `pipe exp apply NAME [--force]`: checks everything first (the experiment finished, its
/// stages and outs still fit the pipeline, the objects are here, no unsaved work unless
/// `force`), then writes the overrides into the params files, then records the lock entries
/// and checks the outs out.
pub fn apply(p: &Printer, s: &Session, name: &ExpName, force: bool) -> Result<()> {
    let rec = records(s).find(name)?;
    let targets = check(s, name, &rec)?;
    // A running stage owns its outs: nothing is written under it, and until the entries
    // are recorded no stage starts on them (as `pipe checkout`). Taken before the check of
    // unsaved work, so that it sees what a stage that just ended recorded.
    let _held = lock_outs(s, &targets)?;
    if !force {
        unsaved(s, name, &rec.overrides, &targets)?;
    }
    let written = write_params(s, name, &rec.overrides)?;
    let n = record_and_check_out(p, s, name, &rec)?;
    p.verb(
        "Applied",
        Tone::Good,
        &format!(
            "experiment {name}: set {}; checked out {n} out(s)",
            written.join("; ")
        ),
    );
    Ok(())
}

/// Step 1, before anything is written: the experiment finished, and each of its stages is
/// still in the pipeline with the same outs, whose objects are whole in the local cache.
/// Returns those stages.
fn check(s: &Session, name: &ExpName, rec: &ExpRecord) -> Result<Vec<StageIdx>> {
    let state = rec.shown_state();
    if state != ExpState::Done {
        return Err(OpsError::ExpNotDone {
            name: name.to_string(),
            state: state.label(),
            only: "only a finished experiment can be applied",
        }
        .into());
    }
    if rec.stages.is_empty() {
        return Err(OpsError::ExpNoStages {
            name: name.to_string(),
        }
        .into());
    }
    let mut targets = Vec::new();
    for (stage, e) in &rec.stages {
        let Some(i) = s.graph.find(stage) else {
            return Err(OpsError::ExpStageGone {
                name: name.to_string(),
                stage: stage.to_string(),
            }
            .into());
        };
        let st = &s.graph[i];
        let outs = moved_back(name, &e.outs);
        let Some(refs) = outs_from(st, &outs) else {
            return Err(OpsError::ExpOutsChanged {
                name: name.to_string(),
                stage: stage.to_string(),
            }
            .into());
        };
        match objects_usable(&s.ws.store, &refs) {
            Ok(()) => {}
            Err(Unusable::Missing) => {
                return Err(OpsError::ExpOutsMissing {
                    name: name.to_string(),
                    stage: stage.to_string(),
                }
                .into());
            }
            Err(Unusable::Quarantined(e)) => {
                return Err(OpsError::ExpOutsCorrupt {
                    name: name.to_string(),
                    stage: stage.to_string(),
                    why: e.to_string(),
                }
                .into());
            }
        }
        targets.push(i);
    }
    Ok(targets)
}

/// Step 2: the overrides written into the params files they come from (comments kept);
/// returns what was set where (`train.lr in params.toml`).
fn write_params(
    s: &Session,
    name: &ExpName,
    overrides: &BTreeMap<String, toml::Value>,
) -> Result<Vec<String>> {
    let mut by_file: BTreeMap<String, Vec<(&str, &toml::Value)>> = BTreeMap::new();
    let mut files = BTreeMap::new();
    for (k, v) in overrides {
        let Some(f) = s.spec.params.source_of(None, k) else {
            return Err(OpsError::ExpOverrideGone {
                name: name.to_string(),
                key: k.clone(),
                why: s.spec.params.explain_missing(None, k),
            }
            .into());
        };
        by_file
            .entry(f.path.to_string())
            .or_default()
            .push((k.as_str(), v));
        files.insert(f.path.to_string(), f);
    }
    for (path, edits) in &by_file {
        let f = files[path];
        let text = if path.ends_with(".json") {
            params_edit::set_json(&f.source.text, edits)
        } else if crate::spec::params::is_yaml(path) {
            params_edit::set_yaml(&f.source.text, edits)
        } else if path.ends_with(".py") {
            params_edit::set_py(&f.source.text, edits)
        } else {
            params_edit::set_toml(&f.source.text, edits)
        }
        .map_err(|why| OpsError::At {
            at: f.source.name.to_string(),
            why: why.to_string(),
        })?;
        if text != *f.source.text {
            s.ws.dir
                .write_atomic(f.path.as_str(), text.as_bytes(), true)?;
        }
    }
    Ok(by_file
        .iter()
        .map(|(f, e)| {
            let keys: Vec<&str> = e.iter().map(|(k, _)| *k).collect();
            format!("{} in {f}", keys.join(", "))
        })
        .collect())
}

/// Step 3: lock entries and outs, against the pipeline as the new params make it; returns
/// how many outs were checked out.
fn record_and_check_out(
    p: &Printer,
    s: &Session,
    name: &ExpName,
    rec: &ExpRecord,
) -> Result<usize> {
    let s2 = crate::ops::open(p, &s.spec.path)?;
    s2.fold_lock()?;
    let mut n = 0;
    for (stage, e) in &rec.stages {
        let Some(i) = s2.graph.find(stage) else {
            continue;
        };
        let st = &s2.graph[i];
        let outs = moved_back(name, &e.outs);
        let refs: Vec<OutRef> = outs_from(st, &outs).unwrap_or_default();
        checkout(&s2.ws, &refs)?;
        n += refs.len();
        let entry = LockEntry::new(st, e.env.clone(), moved_back(name, &e.deps), outs);
        s2.ws.lock.record(st.id.as_str(), Some(&entry))?;
    }
    s2.fold_lock()?;
    s2.ws.state.save()?;
    Ok(n)
}

/// The path locks of the outs of the stages `targets`, taken without waiting; an error
/// naming the running stage that holds one.
fn lock_outs(s: &Session, targets: &[StageIdx]) -> Result<Held> {
    let mut want = BTreeMap::new();
    for o in targets.iter().flat_map(|&i| &s.graph[i].outs) {
        pathlock::want(&mut want, &o.path, Mode::Exclusive);
    }
    match PathLocks::new(&s.ws.locks()).try_acquire(&want, "pipe exp apply") {
        Ok(h) => Ok(h),
        Err(Busy::Held { path, holder }) => Err(OpsError::ApplyBusy {
            path: path.to_string(),
            holder: holder.unwrap_or_else(|| "another pipe process".to_string()),
        }
        .into()),
        Err(Busy::Io(path, err)) => Err(OpsError::Lock { path, err }.into()),
    }
}

/// Work `apply` would overwrite: a param value edited since the lock recorded it (or,
/// never run, since the experiment was recorded), or an out modified since its run.
fn unsaved(
    s: &Session,
    name: &ExpName,
    overrides: &BTreeMap<String, toml::Value>,
    targets: &[StageIdx],
) -> Result<()> {
    let lock = s.ws.lock.read()?;
    let rec = records(s).find(name)?;
    let mut problems = Vec::new();
    for k in overrides.keys() {
        let Some(now) = s.spec.params.get(None, k) else {
            continue;
        };
        let mut now_flat = BTreeMap::new();
        params::flatten_into(k, now, &mut now_flat);
        // Base stages only: a sweep cell's entry holds its own overrides.
        let recorded = lock
            .iter()
            .filter(|(id, _)| !id.contains('@'))
            .find_map(|(_, e)| {
                now_flat
                    .keys()
                    .all(|l| e.params.contains_key(l))
                    .then_some(e)
            });
        let edited = match recorded {
            Some(e) => now_flat.iter().any(|(l, v)| e.params.get(l) != Some(v)),
            None => rec.baseline.get(k).is_some_and(|b| b != now),
        };
        if edited {
            let file = s
                .spec
                .params
                .source_of(None, k)
                .map_or("the params".to_string(), |f| f.path.to_string());
            problems.push(format!(
                "`{k}` is {} in {file}, but the workspace last ran with another value",
                render(now)
            ));
        }
    }
    let planned = plan::evaluate(
        &s.ws,
        &s.graph,
        &lock,
        targets,
        &PlanOptions {
            force: false,
            no_run_cache: true,
            compare_data: false,
        },
    )?;
    for p in &planned {
        if let Freshness::Dirty(reasons) = &p.freshness {
            for r in reasons {
                if let DirtyReason::OutChanged { path } = r {
                    problems.push(format!(
                        "out `{path}` was modified since stage {} ran",
                        p.stage
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(OpsError::Unsaved {
        name: name.to_string(),
        problems,
    }
    .into())
}
