//! `pipe explain STAGE`: everything that decides whether a stage runs: its freshness with
//! reasons, and its run-cache key part by part, with whether the cache holds it.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::report::printer;
use crate::run::decide::decide;
use crate::run::fresh::Freshness;
use crate::run::observe::observe;
use crate::run::runcache::KeyParts;

use super::Session;

pub fn explain(s: &Session, target: &str) -> Result<String> {
    let i = *s
        .graph
        .resolve_targets(&[target.to_string()])
        .map_err(Error::from)?
        .first()
        .ok_or_else(|| Error::User(format!("no stage `{target}`")))?;
    let st = &s.graph.stages[i];
    let lock = s.ws.lock.read()?;
    let obs = observe(&s.ws, st)?;
    s.ws.state.save()?;
    let mut out = format!("stage {}\n", st.id);
    if let Some(d) = &st.desc {
        out.push_str(&format!("  {d}\n"));
    }
    let decision = decide(
        &s.ws,
        st,
        lock.get(st.id.as_str()),
        &obs,
        &[],
        Default::default(),
    );
    match &decision.freshness() {
        Freshness::Fresh => out.push_str("state: up to date\n"),
        Freshness::Frozen => out.push_str("state: frozen (never run by repro)\n"),
        Freshness::Dirty(r) => {
            out.push_str("state: stale\n");
            for x in r {
                out.push_str(&format!("  - {x}\n"));
            }
        }
    }
    let deps: Option<BTreeMap<crate::wspath::WsPath, pipe_cache::Summary>> = obs
        .deps
        .iter()
        .map(|(k, v)| (*v).map(|h| (k.clone(), h)))
        .collect();
    match deps {
        Some(deps) => {
            let parts = KeyParts::of(st, &deps);
            let key = parts.key();
            out.push_str(&parts.explain());
            let hit = matches!(s.ws.store.get_record(&key), Ok(Some(_)));
            out.push_str(&format!(
                "run cache: {}\n",
                if !st.restorable() {
                    "not used (an out is uncached or persists, or the stage is always_changed)"
                } else if hit {
                    "holds this key"
                } else {
                    "no entry for this key"
                }
            ));
        }
        None => {
            let missing: Vec<&crate::wspath::WsPath> = obs
                .deps
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| k)
                .collect();
            out.push_str(&format!(
                "run-cache key: unknown until the missing deps exist: {}\n",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    printer::get().data(&out);
    Ok(out)
}
