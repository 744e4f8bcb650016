//! The commands, as library calls: the CLI parses arguments and calls one of these.

pub mod add;
pub mod cache_verify;
pub mod checkout;
pub mod dag;
pub mod exp;
pub mod explain;
pub mod gc;
pub mod import_dvc;
pub mod init;
pub mod merge_lock;
// compare: metrics, params, plots, report
pub mod metrics;
pub mod params;
pub mod plots;
pub mod pull;
pub mod push;
pub mod remote;
pub mod remote_status;
pub mod report;
pub mod repro;
pub mod stages;
pub mod status;
pub mod sweep;

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::graph::{Graph, Stage};
use crate::remote::{LockedOut, locked_outs};
use crate::spec::{self, Spec};
use crate::workspace::Workspace;

/// A pipeline loaded and validated, with its workspace.
pub struct Session {
    pub spec: Spec,
    pub graph: Arc<Graph>,
    pub ws: Arc<Workspace>,
}

impl Session {
    pub fn open(pipeline: &Path) -> Result<Session> {
        let spec = spec::load(pipeline)?;
        let graph = Graph::build(&spec)?;
        let ws = Workspace::open(&spec.path)?;
        Ok(Session {
            spec,
            graph: Arc::new(graph),
            ws: Arc::new(ws),
        })
    }

    /// Targets to stage indices; no targets: every base-pipeline stage.
    pub fn select(&self, targets: &[String]) -> Result<Vec<usize>> {
        if targets.is_empty() {
            return Ok(self.graph.base_stages());
        }
        self.graph.resolve_targets(targets).map_err(Error::from)
    }

    /// The stages `targets` name; no targets: every stage, sweep cells included (what
    /// push, fetch and `status --remote` work on, unlike [`Session::select`]).
    pub fn select_all(&self, targets: &[String]) -> Result<Vec<usize>> {
        if targets.is_empty() {
            Ok(self.graph.topo().to_vec())
        } else {
            self.select(targets)
        }
    }

    /// The outs kept in the cache that the lock records for the stages `targets` name
    /// (the journal folded in first): what fetch and `status --remote` work on.
    pub fn cached_locked_outs(&self, targets: &[String]) -> Result<Vec<LockedOut>> {
        self.fold_lock()?;
        let lock = self.ws.lock.read()?;
        let order = self.select_all(targets)?;
        let stages: Vec<&Stage> = order.iter().map(|&i| &self.graph.stages[i]).collect();
        Ok(locked_outs(&stages, &lock)
            .into_iter()
            .filter(|o| o.cached)
            .collect())
    }

    /// Folds the lock journal, dropping the entries of stages that are no longer in the
    /// pipeline.
    ///
    /// "No longer in the pipeline" is asked of the pipeline file as it stands when the
    /// fold runs, not of this session's graph alone: while a long `pipe repro` ran,
    /// another terminal may have added a path (`pipe add`) or a stage and recorded it, and
    /// this session's graph, loaded before, does not know it. So an id this graph lacks is
    /// dropped only if the pipeline file, loaded again inside the fold (under the lock's
    /// guard, so after whatever recorded it had written the file), lacks it too; when that
    /// file cannot be loaded (being edited, say), nothing is dropped: the next fold will.
    pub fn fold_lock(&self) -> Result<()> {
        let g = self.graph.clone();
        let path = self.spec.path.clone();
        let now: std::cell::OnceCell<Option<Graph>> = std::cell::OnceCell::new();
        self.ws.lock.fold(Some(&move |id: &str| {
            if g.find(id).is_some() {
                return true;
            }
            let current = now.get_or_init(|| match spec::load(&path) {
                Ok(spec) => Graph::build(&spec).ok(),
                Err(_) => None,
            });
            match current {
                Some(g) => g.find(id).is_some(),
                None => {
                    tracing::debug!(
                        "the pipeline does not load now: lock entry {id} is kept for now"
                    );
                    true
                }
            }
        }))?;
        Ok(())
    }

    /// A multi-threaded runtime for commands that run stages or transfers.
    pub fn runtime() -> Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Env(format!("cannot start the async runtime: {e}")))
    }
}

/// Every cached out of the base pipeline (tracked data included) and every sweep's
/// directory: the managed block of `.gitignore`.
pub fn cached_outs(s: &Session) -> Vec<String> {
    cached_outs_of(&s.graph)
}

/// [`cached_outs`] of the pipeline file as it stands now (this session's graph when the
/// file does not load): what a long command writes into `.gitignore` when it ends, so
/// that a path another terminal added meanwhile (`pipe add`) stays listed.
pub fn current_cached_outs(s: &Session) -> Vec<String> {
    match spec::load(&s.spec.path).map(|spec| Graph::build(&spec)) {
        Ok(Ok(g)) => cached_outs_of(&g),
        _ => cached_outs(s),
    }
}

fn cached_outs_of(graph: &Graph) -> Vec<String> {
    let mut v: Vec<String> = graph
        .stages
        .iter()
        .filter(|st| st.cell.is_none())
        .flat_map(|st| {
            st.outs
                .iter()
                .filter(|o| o.cache)
                .map(|o| o.path.to_string())
        })
        .collect();
    v.extend(graph.sweeps.iter().map(|sw| sw.dir.to_string()));
    v.sort();
    v.dedup();
    v
}
