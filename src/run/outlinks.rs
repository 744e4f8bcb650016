//! Outs hold regular files and directories, never symbolic links.
//!
//! Storing an out follows nothing: a link in an out (or an out that is a link) could point
//! anywhere, and storing what it points at would read, link or mark read-only files
//! outside the workspace. Rather than store links as links (whose target means nothing on
//! a teammate's machine), pipe refuses them before anything is stored, naming the out and
//! the link; the run fails and the outs are put back as they were. The same goes for an
//! out whose own directory leads out of the workspace through a link: that is decided by
//! the workspace's `RootDir`, the one rule every write in the workspace follows (a link
//! that stays inside it is followed; one that leads out, or an absolute one, is not).

use pipe_cache::walk;

use crate::error::Result;
use crate::graph::Stage;
use crate::run::contract::ContractError;
use crate::workspace::Workspace;

/// Checks every out of `stage` that its commit will store.
pub fn refuse_links(ws: &Workspace, stage: &Stage) -> Result<()> {
    for o in stage.outs.iter().filter(|o| o.cache || stage.restorable()) {
        let abs = o.path.to_abs(&ws.root);
        // A missing directory is no refusal: the commit says the out is missing.
        if let Err(e @ pipe_cache::Error::Escapes { .. }) =
            ws.dir.parent(o.path.as_str(), false, "store")
        {
            return Err(ContractError::Escapes {
                stage: stage.id.clone(),
                source: e,
            }
            .into());
        }
        if let Some(link) = walk::find_symlink(&abs)? {
            let target = std::fs::read_link(&link).unwrap_or_default();
            let inner =
                (link != abs).then(|| link.strip_prefix(&ws.root).unwrap_or(&link).to_path_buf());
            return Err(ContractError::Link {
                stage: stage.id.clone(),
                out: o.path.clone(),
                inner,
                target,
            }
            .into());
        }
    }
    Ok(())
}
