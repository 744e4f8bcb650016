//! `pipe status`: which stages are stale, and why. Never runs or locks anything; returns
//! a `report::status::StatusReport`, which that module renders as text or JSON.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::graph::StageIdx;
use crate::lock::Entries;
use crate::report::status::StatusReport;
use crate::run::fresh::{DirtyReason, Freshness};
use crate::run::plan::{self, PlanOptions, Planned};
use crate::wspath::WsPath;

use super::Session;

/// Evaluates `targets` (default: every stage, sweep cells included).
pub fn status(s: &Session, targets: &[String]) -> Result<StatusReport> {
    let order = if targets.is_empty() {
        s.graph.topo().to_vec()
    } else {
        s.graph.closure(&s.select(targets)?, false)
    };
    let lock = s.ws.lock.read()?;
    let planned = plan::evaluate(
        &s.ws,
        &s.graph,
        &lock,
        &order,
        // Tracked data is frozen for repro, but status says when the workspace differs
        // from what `pipe add` recorded (edited, missing, or never added).
        &PlanOptions {
            compare_data: true,
            ..Default::default()
        },
    )?;
    let planned = with_parts(s, &lock, planned);
    s.ws.state.save()?;
    let mut listed = Vec::new();
    let mut never_run: BTreeMap<String, usize> = BTreeMap::new();
    for (k, pl) in planned.iter().enumerate() {
        let Freshness::Dirty(r) = &pl.freshness else {
            continue;
        };
        match &s.graph[pl.index].cell {
            Some(cell) if r.iter().any(|x| matches!(x, DirtyReason::NeverRun)) => {
                *never_run.entry(cell.sweep.clone()).or_default() += 1;
            }
            _ => listed.push(k),
        }
    }
    let frozen_missing = frozen_missing(s, &planned);
    let hints = hints(s, &lock, &planned, &frozen_missing);
    Ok(StatusReport {
        planned,
        listed,
        never_run,
        frozen_missing,
        hints,
    })
}

/// A directory out present in part is said so ("partially present"), not "modified".
fn with_parts(s: &Session, lock: &Entries, mut planned: Vec<Planned>) -> Vec<Planned> {
    for pl in &mut planned {
        let st = &s.graph[pl.index];
        let Freshness::Dirty(reasons) = &mut pl.freshness else {
            continue;
        };
        for r in reasons.iter_mut() {
            let DirtyReason::OutChanged { path } = r else {
                continue;
            };
            let recorded = WsPath::parse(path).ok().and_then(|p| {
                let h = *lock.get(st.id.as_str())?.outs.get(&p)?;
                Some((p, h))
            });
            if let Some((present, total)) =
                recorded.and_then(|(p, h)| crate::run::partial::partial(&s.ws, &p, &h))
            {
                *r = DirtyReason::OutPartial {
                    path: path.clone(),
                    present,
                    total,
                };
            }
        }
    }
    planned
}

/// Frozen stages (never run by repro) whose outs are not in the workspace: indices into
/// `planned`, with the missing outs. Their readers cannot run until the outs come back.
fn frozen_missing(s: &Session, planned: &[Planned]) -> Vec<(usize, Vec<String>)> {
    planned
        .iter()
        .enumerate()
        .filter(|(_, pl)| pl.freshness == Freshness::Frozen)
        .filter_map(|(k, pl)| {
            let missing: Vec<String> = s.graph[pl.index]
                .outs
                .iter()
                .filter(|o| std::fs::symlink_metadata(o.path.to_abs(&s.ws.root)).is_err())
                .map(|o| o.path.to_string())
                .collect();
            (!missing.is_empty()).then_some((k, missing))
        })
        .collect()
}

/// Where each missing path that repro will not make comes back from (by path): tracked
/// data and a frozen stage's outs, from the local cache (`pipe checkout`), the default
/// remote (`pipe pull`), or nowhere pipe knows of. A stale stage's own outs are its run's.
fn hints(
    s: &Session,
    lock: &Entries,
    planned: &[Planned],
    frozen_missing: &[(usize, Vec<String>)],
) -> BTreeMap<String, String> {
    let mut missing: Vec<(StageIdx, String)> = Vec::new();
    for pl in planned {
        if !s.graph[pl.index].is_data() {
            continue;
        }
        if let Freshness::Dirty(reasons) = &pl.freshness {
            for r in reasons {
                if let DirtyReason::OutMissing { path } = r {
                    missing.push((pl.index, path.clone()));
                }
            }
        }
    }
    for (k, outs) in frozen_missing {
        missing.extend(outs.iter().map(|o| (planned[*k].index, o.clone())));
    }
    let mut out = BTreeMap::new();
    // A directory present in part: a stage reading it says so too.
    for pl in planned {
        if let Freshness::Dirty(reasons) = &pl.freshness {
            for r in reasons {
                if let DirtyReason::OutPartial {
                    path,
                    present,
                    total,
                } = r
                {
                    out.insert(
                        path.clone(),
                        format!("partially present ({present} of {total} files): `pipe pull {path}` brings the rest"),
                    );
                }
            }
        }
    }
    for (i, path) in missing {
        let stage = &s.graph[i];
        let recorded = WsPath::parse(&path)
            .ok()
            .and_then(|p| lock.get(stage.id.as_str())?.outs.get(&p));
        let hint = match (recorded, &s.ws.config.default_remote) {
            (Some(h), _) if cached_whole(&s.ws.store, h) => {
                format!("in the cache: `pipe checkout {path}` restores it")
            }
            (Some(_), Some(r)) => format!("pull it from remote `{r}` (`pipe pull {path}`)"),
            (Some(_), None) => {
                "not in the cache, and no remote is configured to pull it from".to_string()
            }
            (None, _) if stage.frozen => format!(
                "stage `{}` is frozen and has never run: unfreeze it to make it",
                stage.id
            ),
            (None, _) => continue,
        };
        out.insert(path, hint);
    }
    out
}

/// Whether the cache holds all of `h`: the object, or a directory's manifest and every
/// file it lists (a `pipe fetch` of a part leaves the manifest and that part only).
fn cached_whole(store: &pipe_cache::Store, h: &pipe_cache::Summary) -> bool {
    if !h.is_dir() {
        return store.has(&h.digest);
    }
    store
        .read_manifest(&h.digest)
        .is_ok_and(|m| m.entries().iter().all(|e| store.has(&e.digest)))
}
