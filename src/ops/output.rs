//! Where `pipe report -o FILE` and `pipe plots -o DIR` write: anywhere the user names, but
//! never over what the pipeline owns (its file, its lock, a params file, a stage's out or
//! tracked data, `.pipe`, `.git`), which would change them behind the lock's back.

use std::path::Path;

use super::error::OpsError;
use crate::error::Result;
use crate::graph::owner::path_owner;
use crate::session::Session;

/// Refuses `file` (as given, relative to the current directory) when it lies in the
/// workspace on a path the pipeline owns.
pub fn check(s: &Session, file: &Path) -> Result<()> {
    let Some(rel) = s.ws.relative(file)? else {
        return Ok(());
    };
    match path_owner(&s.spec, s.graph.stages(), &rel) {
        Some(owner) => Err(OpsError::OutputOwned {
            path: file.to_path_buf(),
            owner: owner.to_string(),
        }
        .into()),
        None => Ok(()),
    }
}
