//! What owns a path of the workspace: what pipe must not write over when it writes a file
//! of its own there (a sweep's `report_file`, `pipe report -o`, `pipe plots -o`).

use std::fmt;

use super::stage::{Out, Stage};
use crate::spec::params::Slot;
use crate::spec::{OutRole, Spec};
use crate::wspath::WsPath;

/// The owner of a path, shown as what the path is to it: "is a params file".
#[derive(Debug)]
pub enum PathOwner<'a> {
    /// The workspace's own: `.pipe`, `.git`, the pipeline file, its lock, a `.gitignore`.
    Workspace(String),
    ParamsFile,
    /// A stage's out (metric, plot, tracked data) the path is, lies inside, or holds:
    /// written over, it would change what the stage made behind the lock's back.
    Out {
        how: &'static str,
        stage: &'a Stage,
        out: &'a Out,
    },
}

impl fmt::Display for PathOwner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathOwner::Workspace(what) => write!(f, "is {what}"),
            PathOwner::ParamsFile => f.write_str("is a params file"),
            PathOwner::Out { how, stage, out } => {
                let role = match out.role {
                    OutRole::Out => "out",
                    OutRole::Metric => "metric",
                    OutRole::Plot => "plot",
                };
                write!(f, "{how} {role} `{}` of stage `{}`", out.path, stage.id)
            }
        }
    }
}

/// What owns `path` among the workspace's own files, the params files and `stages`' outs.
pub fn path_owner<'a>(spec: &Spec, stages: &'a [Stage], path: &WsPath) -> Option<PathOwner<'a>> {
    if let Some(what) = crate::spec::workspace_owned(&spec.path, path) {
        return Some(PathOwner::Workspace(what));
    }
    let params_file = spec
        .params
        .defaults
        .iter()
        .chain(spec.params.others.values())
        .any(|slot| match slot {
            Slot::Loaded(f) => &f.path == path,
            Slot::Missing(p) => p == path,
        });
    if params_file {
        return Some(PathOwner::ParamsFile);
    }
    stages.iter().find_map(|stage| {
        let out = stage.outs.iter().find(|o| o.path.overlaps(path))?;
        let how = if &out.path == path {
            "is"
        } else if path.is_within(&out.path) {
            "lies inside"
        } else {
            "holds"
        };
        Some(PathOwner::Out { how, stage, out })
    })
}
