//! What a stage promises besides its exit status: every declared out left behind, as
//! regular files and directories inside the workspace. A broken promise is a
//! [`ContractError`] (exit 1): `commit` finds a missing out, `outlinks` a link.

use std::path::PathBuf;

use crate::graph::StageId;
use crate::spec::OutRole;
use crate::wspath::WsPath;

/// A stage whose command succeeded broke its contract: what it declared is not what it
/// left. Exit 1.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("stage `{stage}` did not produce its declared {} `{path}`", role.key().trim_end_matches('s'))]
    Missing {
        stage: StageId,
        role: OutRole,
        path: WsPath,
    },
    /// An out's directory is reached through a link that leads out of the workspace.
    #[error("stage `{stage}`: {source}: declare an out inside the workspace")]
    Escapes {
        stage: StageId,
        source: pipe_cache::Error,
    },
    /// An out is a symbolic link, or holds one.
    #[error(
        "stage `{stage}`: {} -> `{}`; pipe stores regular files and directories only, and never follows a link out of an out: make the stage write the files themselves (e.g. `cp -rL` the target into the out)",
        Link(out, inner.as_deref()),
        target.display()
    )]
    Link {
        stage: StageId,
        out: WsPath,
        /// The link inside the out (relative to the workspace), or `None`: the out itself.
        inner: Option<PathBuf>,
        /// Where it points.
        target: PathBuf,
    },
}

impl ContractError {
    pub fn exit_code(&self) -> u8 {
        1
    }
}

/// `out `o` is a symbolic link` / `out `o` holds a symbolic link, `o/l``.
struct Link<'a>(&'a WsPath, Option<&'a std::path::Path>);

impl std::fmt::Display for Link<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            None => write!(f, "out `{}` is a symbolic link", self.0),
            Some(link) => write!(
                f,
                "out `{}` holds a symbolic link, `{}`",
                self.0,
                link.display()
            ),
        }
    }
}
