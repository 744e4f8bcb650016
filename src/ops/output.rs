//! Where `pipe report -o FILE` and `pipe plots -o DIR` write: anywhere the user names, but
//! never over what the pipeline owns (its file, its lock, a params file, a stage's out or
//! tracked data, `.pipe`, `.git`, a sweep's `report_file`), which would change them behind
//! the lock's back.

use std::path::Path;

use super::error::OpsError;
use crate::error::Result;
use crate::graph::owner::path_owner;
use crate::session::Session;

/// Refuses `file` (as given, relative to the current directory) when it lies in the
/// workspace on a path the pipeline owns.
pub fn check(s: &Session, file: &Path) -> Result<()> {
    // As written and as the file system resolves it (`../ws/pipe.lock`, a link to the
    // workspace, a directory link to `.pipe`): neither may be the pipeline's.
    for rel in [s.ws.lexical(file)?, s.ws.relative(file)?]
        .into_iter()
        .flatten()
    {
        owned(s, file, &rel)?;
    }
    Ok(())
}

fn owned(s: &Session, file: &Path, rel: &crate::wspath::WsPath) -> Result<()> {
    let owner = path_owner(&s.spec, s.graph.stages(), rel)
        .map(|o| o.to_string())
        .or_else(|| {
            let sweep = s
                .spec
                .sweeps
                .iter()
                .find(|d| d.report_file.as_ref().is_some_and(|(f, _)| f == rel))?;
            Some(format!(
                "is sweep `{}`'s table (its `report_file`)",
                sweep.name
            ))
        });
    match owner {
        Some(owner) => Err(OpsError::OutputOwned {
            path: file.to_path_buf(),
            owner,
        }
        .into()),
        None => Ok(()),
    }
}
