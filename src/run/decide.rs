//! The one decision: fresh, frozen, restore from the run cache, or run. `pipe status`,
//! `repro --dry`, `pipe explain` and the scheduler all ask [`decide`]; none decides on its
//! own.
//!
//! 1. Freshness ([`fresh::check`]) compares the observation with the lock entry: a fresh
//!    or frozen stage is done.
//! 2. A stale stage whose deps all exist gets its [`Inputs`]: the dep hashes and env
//!    digests its lock entry will record, and its run-cache key, computed here once and
//!    carried in the decision to the restore, or through the run to the commit that
//!    records under it.
//! 3. It is restored when nothing upstream runs first, neither `--force` nor
//!    `--no-run-cache` is given, the stage is restorable, and the local run cache holds a
//!    record whose objects are all present and whole. Otherwise it runs (the scheduler may
//!    still find the key on a remote with `repro --pull`: `looked_up`).
//!
//! Every decision is explained at debug level (`PIPE_LOG=pipe=debug`): one line per stage
//! with the decision, the reasons and the key.

use std::collections::BTreeMap;

use pipe_cache::{Digest, Summary};

use crate::graph::Stage;
use crate::lock::LockEntry;
use crate::run::fresh::{self, DirtyReason, Freshness, Observed};
use crate::run::restore::{self, OutRef};
use crate::run::runcache::{self, RunRecord};
use crate::workspace::Workspace;
use crate::wspath::WsPath;

/// What the command allows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub force: bool,
    pub no_run_cache: bool,
    /// `pipe status`: tracked data (frozen for repro) is compared with what `pipe add`
    /// recorded, so an edited or missing data path shows as stale.
    pub compare_data: bool,
}

/// What a run reads, as its lock entry records it and the run cache keys it.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// Every dep's hash before the run.
    pub deps: BTreeMap<WsPath, Summary>,
    /// Declared env vars -> digests of their values.
    pub env: BTreeMap<String, String>,
    /// The run-cache key of these inputs.
    pub key: Digest,
}

impl Inputs {
    /// The one place a run's key is computed.
    pub fn new(
        stage: &Stage,
        deps: BTreeMap<WsPath, Summary>,
        env: BTreeMap<String, String>,
    ) -> Inputs {
        let key = runcache::KeyParts::of(stage, &deps).key();
        Inputs { deps, env, key }
    }

    /// The lock entry of a run (or a restore) from these inputs and the `outs` it made,
    /// carrying their run-cache key when the stage's runs are recorded in the run cache.
    pub fn entry(&self, stage: &Stage, outs: BTreeMap<WsPath, Summary>) -> LockEntry {
        let mut e = LockEntry::new(stage, self.env.clone(), self.deps.clone(), outs);
        e.key = stage.restorable().then_some(self.key);
        e
    }

    /// The inputs of an observation whose deps all exist.
    pub fn of(stage: &Stage, observed: &Observed) -> Option<Inputs> {
        let deps = observed
            .deps
            .iter()
            .map(|(k, v)| (*v).map(|h| (k.clone(), h)))
            .collect::<Option<_>>()?;
        Some(Inputs::new(stage, deps, observed.env.clone()))
    }
}

#[derive(Debug, Clone)]
pub enum Decision {
    Fresh,
    Frozen,
    /// Stale, and the local run cache holds its outs, every object present and whole.
    Restore {
        reasons: Vec<DirtyReason>,
        inputs: Inputs,
        outs: Vec<OutRef>,
        record: RunRecord,
    },
    /// Stale: it runs. `inputs` is `None` while a dep is missing (an upstream stage makes
    /// it, or the run fails saying which). `looked_up`: the run cache may be used and the
    /// local one has nothing (a remote may, with `repro --pull`). `quarantined`: the local
    /// record's object that was found corrupt (and quarantined) while deciding, or the
    /// local record itself found corrupt (ignored), which the caller tells the user.
    Run {
        reasons: Vec<DirtyReason>,
        inputs: Option<Inputs>,
        looked_up: bool,
        quarantined: Option<String>,
    },
}

impl Decision {
    pub fn freshness(&self) -> Freshness {
        match self {
            Decision::Fresh => Freshness::Fresh,
            Decision::Frozen => Freshness::Frozen,
            Decision::Restore { reasons, .. } | Decision::Run { reasons, .. } => {
                Freshness::Dirty(reasons.clone())
            }
        }
    }

    pub fn is_stale(&self) -> bool {
        matches!(self, Decision::Restore { .. } | Decision::Run { .. })
    }

    pub fn is_restore(&self) -> bool {
        matches!(self, Decision::Restore { .. })
    }

    /// The corrupt object quarantined while deciding, if any.
    pub fn quarantined(&self) -> Option<&str> {
        match self {
            Decision::Run { quarantined, .. } => quarantined.as_deref(),
            _ => None,
        }
    }
}

/// Decides what becomes of `stage`, given its lock entry, what it looks like now, and the
/// upstream stages that run before it (planning; empty in the scheduler, which starts a
/// stage only once its upstream is done).
pub fn decide(
    ws: &Workspace,
    stage: &Stage,
    lock: Option<&LockEntry>,
    observed: &Observed,
    upstream: &[String],
    opts: Options,
) -> Decision {
    let data = stage.is_data() && opts.compare_data;
    let freshness = fresh::check(&fresh::Check {
        frozen: stage.frozen && !data,
        forced: opts.force && !data,
        always_changed: stage.always_changed && !data,
        lock,
        observed,
        upstream,
    });
    let id = stage.id.as_str();
    let reasons = match freshness {
        Freshness::Fresh => {
            tracing::debug!(stage = %id, decision = %"fresh", "the lock entry matches what it reads and writes");
            return Decision::Fresh;
        }
        Freshness::Frozen => {
            tracing::debug!(stage = %id, decision = %"frozen", "never run by repro");
            return Decision::Frozen;
        }
        Freshness::Dirty(r) => r,
    };
    let why = reasons
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let inputs = Inputs::of(stage, observed);
    let key = inputs.as_ref().map(|i| i.key.to_string());
    let key = key.as_deref().unwrap_or("-");
    let not_looked_up = if !upstream.is_empty() {
        Some("an upstream stage runs first")
    } else if opts.force {
        Some("--force")
    } else if opts.no_run_cache {
        Some("--no-run-cache")
    } else if !stage.restorable() {
        Some("not restorable (tracked data, always_changed, or a persisting out)")
    } else if inputs.is_none() {
        Some("a dep is missing")
    } else {
        None
    };
    if let Some(because) = not_looked_up {
        tracing::debug!(stage = %id, decision = %"run", reasons = %why, key = %key, run_cache = %because, "stale");
        return Decision::Run {
            reasons,
            inputs,
            looked_up: false,
            quarantined: None,
        };
    }
    let Some(inputs) = inputs else {
        return Decision::Run {
            reasons,
            inputs: None,
            looked_up: false,
            quarantined: None,
        };
    };
    match local_record(ws, stage, &inputs.key) {
        Ok((record, outs)) => {
            tracing::debug!(stage = %id, decision = %"restore", reasons = %why, key = %key, run_cache = %"hit", "stale");
            Decision::Restore {
                reasons,
                inputs,
                outs,
                record,
            }
        }
        Err((miss, quarantined)) => {
            tracing::debug!(stage = %id, decision = %"run", reasons = %why, key = %key, run_cache = %miss, "stale");
            Decision::Run {
                reasons,
                inputs: Some(inputs),
                looked_up: true,
                quarantined,
            }
        }
    }
}

/// Why the local run cache cannot restore a stage, and the object found corrupt (now
/// quarantined) if that is why.
type Miss = (&'static str, Option<String>);

/// The record under `key` in the local run cache, with the outs it names, when every
/// object they need is present and whole; else why not.
fn local_record(
    ws: &Workspace,
    stage: &Stage,
    key: &Digest,
) -> Result<(RunRecord, Vec<OutRef>), Miss> {
    let record = match ws.store.get_record(key) {
        Ok(Some(bytes)) => RunRecord::decode_for(&bytes, stage).map_err(|why| {
            (
                "record corrupt",
                Some(format!(
                    "run-cache record {} is corrupt and ignored: {why}",
                    key.short()
                )),
            )
        })?,
        Ok(None) => return Err(("no record", None)),
        Err(_) => return Err(("record unreadable", None)),
    };
    let outs = restore::outs_from(stage, &record.outs).ok_or(("record lacks an out", None))?;
    match restore::objects_usable(&ws.store, &outs) {
        Ok(()) => Ok((record, outs)),
        Err(restore::Unusable::Missing) => Err(("an object is missing", None)),
        Err(restore::Unusable::Quarantined(e)) => Err(("an object is corrupt", Some(e))),
    }
}
