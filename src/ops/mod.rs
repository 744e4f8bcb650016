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
        self.graph.resolve_targets(targets).map_err(Error::User)
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

    /// Folds the lock journal, dropping stages that are no longer in the pipeline.
    pub fn fold_lock(&self) -> Result<()> {
        let g = self.graph.clone();
        self.ws
            .lock
            .fold(Some(&move |id: &str| g.find(id).is_some()))?;
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
    let mut v: Vec<String> = s
        .graph
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
    v.extend(s.graph.sweeps.iter().map(|sw| sw.dir.to_string()));
    v.sort();
    v.dedup();
    v
}
