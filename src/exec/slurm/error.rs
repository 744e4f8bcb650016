//! What keeps the Slurm executor from running jobs (as opposed to a job that failed, an
//! [`Exit`](crate::exec::Exit)). Exit 3: the environment failed pipe.

use std::path::PathBuf;
use std::process::ExitStatus;

use super::COMMANDS;

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// Slurm's client commands are not on PATH.
    #[error(
        "the Slurm executor needs Slurm's commands ({}), and {} not on PATH: run pipe on \
         a host of the cluster (a login node), or use --executor local",
        COMMANDS.join(", "),
        missing_commands(missing)
    )]
    NotOnPath { missing: Vec<&'static str> },
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A Slurm command could not be started.
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: &'static str,
        source: std::io::Error,
    },
    #[error(
        "sbatch refused the probe job that checks the workspace is visible from the nodes: {stderr}"
    )]
    ProbeRefused { stderr: String },
    /// The probe job ran, and its file never appeared here.
    #[error(
        "the cluster's nodes do not see the workspace: probe job {job} ran{} but its \
         file {} never appeared here. Under Slurm, pipe needs the workspace and its \
         cache on a filesystem shared with the nodes (NFS, Lustre, GPFS, ...)",
        node.as_ref().map(|n| format!(" on {n}")).unwrap_or_default(),
        token.display()
    )]
    NotShared {
        job: String,
        node: Option<String>,
        token: PathBuf,
    },
    #[error("sbatch failed ({status}): {stderr}")]
    Sbatch { status: ExitStatus, stderr: String },
    #[error("squeue failed: {stderr}")]
    Squeue { stderr: String },
    /// A job of the run could not be submitted: Ctrl-C came first.
    #[error("the run was interrupted")]
    Interrupted,
    #[error("cannot write the job's wrapper script: {0}")]
    Script(std::io::Error),
    #[error("the Slurm submitter stopped")]
    SubmitterStopped,
    #[error("lost track of Slurm job {job}")]
    Lost { job: String },
}

impl SlurmError {
    pub fn exit_code(&self) -> u8 {
        3
    }
}

/// "`sbatch` is" / "`sbatch`, `squeue` are".
fn missing_commands(missing: &[&str]) -> String {
    match missing {
        [one] => format!("`{one}` is"),
        more => format!(
            "{} are",
            more.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
