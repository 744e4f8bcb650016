//! A session: one pipeline file loaded and validated (`spec` -> `graph`), with its
//! workspace (`.pipe/`, the cache, the lock) opened. What commands (`ops`) and the
//! comparisons (`compare`) work on, so it sits below both: it imports the engine's rooms
//! (spec, graph, workspace, lock, remote's view of locked outs) and nothing above them.
//!
//! Opening prints nothing: what the workspace found worth a warning while it opened
//! (see `Workspace::warnings`) is for the command to say.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::graph::{Graph, Stage, StageIdx};
use crate::sharing::{LockedOut, locked_outs};
use crate::spec::{self, Spec};
use crate::workspace::Workspace;

/// The async runtime a command that runs stages or transfers needs could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the async runtime: {0}")]
pub struct RuntimeError(std::io::Error);

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
        Session::from_loaded(spec, graph)
    }

    /// The session of a pipeline already loaded and linked: its workspace opened.
    pub fn from_loaded(spec: Spec, graph: Graph) -> Result<Session> {
        let ws = Workspace::open(&spec.path)?;
        Ok(Session {
            spec,
            graph: Arc::new(graph),
            ws: Arc::new(ws),
        })
    }

    /// Targets to stage indices; no targets: every base-pipeline stage.
    pub fn select(&self, targets: &[String]) -> Result<Vec<StageIdx>> {
        if targets.is_empty() {
            return Ok(self.graph.base_stages());
        }
        self.graph.resolve_targets(targets).map_err(Error::from)
    }

    /// The stages `targets` name; no targets: every stage, sweep cells included (what
    /// push, fetch and `status --remote` work on, unlike [`Session::select`]).
    pub fn select_all(&self, targets: &[String]) -> Result<Vec<StageIdx>> {
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
        let stages: Vec<&Stage> = order.iter().map(|&i| &self.graph[i]).collect();
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
            .map_err(|e| RuntimeError(e).into())
    }
}
