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

use std::path::Path;

use pipe_cache::walk;

use crate::error::{Error, Result};
use crate::graph::Stage;
use crate::workspace::Workspace;

/// Checks every out of `stage` that its commit will store.
pub fn refuse_links(ws: &Workspace, stage: &Stage) -> Result<()> {
    for o in stage.outs.iter().filter(|o| o.cache || stage.restorable()) {
        let abs = o.path.to_abs(&ws.root);
        // A missing directory is no refusal: the commit says the out is missing.
        if let Err(e @ pipe_cache::Error::Escapes { .. }) =
            ws.dir.parent(o.path.as_str(), false, "store")
        {
            return Err(Error::stage(format!(
                "stage `{}`: {e}: declare an out inside the workspace",
                stage.id
            )));
        }
        if let Some(link) = walk::find_symlink(&abs)? {
            let rel = link.strip_prefix(&ws.root).unwrap_or(&link);
            let target = std::fs::read_link(&link).unwrap_or_default();
            let what = if link == abs {
                format!("out `{}` is a symbolic link", o.path)
            } else {
                format!("out `{}` holds a symbolic link, `{}`", o.path, display(rel))
            };
            return Err(Error::stage(format!(
                "stage `{}`: {what} -> `{}`; pipe stores regular files and directories only, and never follows a link out of an out: make the stage write the files themselves (e.g. `cp -rL` the target into the out)",
                stage.id,
                display(&target)
            )));
        }
    }
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
