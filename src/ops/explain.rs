//! `pipe explain STAGE`: everything that decides whether a stage runs: its freshness with
//! reasons, and its run-cache key part by part, with whether the cache holds it. Returns
//! a `report::explain::Explanation`, which that module renders.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::report::explain::{Explanation, Key, RunCache};
use crate::run::decide::decide;
use crate::run::observe::observe;
use crate::run::runcache::KeyParts;

use super::Session;
use super::error::OpsError;

pub fn explain(s: &Session, target: &str) -> Result<Explanation> {
    let i = *s
        .graph
        .resolve_targets(&[target.to_string()])
        .map_err(Error::from)?
        .first()
        .ok_or_else(|| OpsError::NoStage {
            target: target.to_string(),
        })?;
    let st = &s.graph[i];
    let lock = s.ws.lock.read()?;
    let obs = observe(&s.ws, st)?;
    s.ws.state.save()?;
    let decision = decide(
        &s.ws,
        st,
        lock.get(st.id.as_str()),
        &obs,
        &[],
        Default::default(),
    );
    let deps: Option<BTreeMap<crate::wspath::WsPath, pipe_cache::Summary>> = obs
        .deps
        .iter()
        .map(|(k, v)| (*v).map(|h| (k.clone(), h)))
        .collect();
    let key = match deps {
        Some(deps) => {
            let parts = KeyParts::of(st, &deps);
            let hit = matches!(s.ws.store.get_record(&parts.key()), Ok(Some(_)));
            Key::Known {
                parts: parts.explain(),
                cache: if !st.restorable() {
                    RunCache::NotUsed
                } else if hit {
                    RunCache::Holds
                } else {
                    RunCache::Lacks
                },
            }
        }
        None => Key::Unknown {
            missing: obs
                .deps
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| k.to_string())
                .collect(),
        },
    };
    Ok(Explanation {
        stage: st.id.to_string(),
        desc: st.desc.clone(),
        freshness: decision.freshness(),
        key,
    })
}
