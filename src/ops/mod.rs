//! The commands, as library calls: the CLI parses arguments and calls one of these.

pub mod add;
pub mod cache_verify;
pub mod checkout;
pub mod commit;
pub mod dag;
pub mod error;
pub mod exp;
pub mod explain;
pub mod gc;
pub mod import;
pub mod import_dvc;
pub mod init;
pub mod keep;
pub mod merge_lock;
// compare: metrics, params, plots, report
pub mod metrics;
pub mod output;
pub mod params;
pub mod part;
pub mod plots;
pub mod pull;
pub mod push;
pub mod remote_config;
pub mod remote_status;
pub mod report;
pub mod repro;
pub mod stages;
pub mod status;
pub mod sweep;

use std::path::Path;

use crate::error::Result;
use crate::graph::Graph;
use crate::report::printer::Printer;
use crate::spec;
use crate::workspace::Workspace;

pub use crate::session::Session;

/// Opens the session of `pipeline` (see [`Session::open`]), saying what its workspace
/// found worth a warning.
pub fn open(p: &Printer, pipeline: &Path) -> Result<Session> {
    let s = Session::open(pipeline)?;
    warn_workspace(p, &s.ws);
    Ok(s)
}

/// Says what opening `ws` found worth a warning (see `Workspace::warnings`).
pub fn warn_workspace(p: &Printer, ws: &Workspace) {
    for w in &ws.warnings {
        p.warn(w);
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
        .stages()
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
