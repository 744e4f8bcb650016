//! Moving a stage's outs aside while it runs, so that a failed, interrupted or uncommitted
//! run leaves the outs exactly as they were.
//!
//! Before a run every existing out (except persisted ones) is renamed into
//! `.pipe/tmp/backup/<pid>-<n>/` (a rename: no copy), and the out's parent directory is
//! created so the stage can write. After a successful commit the backup is deleted; after
//! a failure the partial outs are removed and the backup renamed back.
//!
//! Every move and removal goes through the workspace's `RootDir`: an out whose directory
//! is reached through a link that leads out of the workspace is refused before anything
//! moves (the stage does not run), so that nothing outside the workspace is moved aside,
//! removed or swept with a killed run's backup.

use std::sync::atomic::{AtomicU64, Ordering};

use pipe_cache::RootDir;

use crate::graph::Stage;
use crate::workspace::Workspace;

pub struct Backup {
    /// The workspace root (see `Workspace::dir`).
    root: RootDir,
    /// The backup directory, relative to the workspace root.
    dir: String,
    /// (out's path, where it was moved (relative to the root), if it existed)
    outs: Vec<(String, Option<String>)>,
}

impl Backup {
    pub fn take(ws: &Workspace, stage: &Stage) -> pipe_cache::Result<Backup> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = format!(
            "{}/backup/{}-{}",
            ws.tmp_rel(),
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut b = Backup {
            root: ws.dir.clone(),
            dir,
            outs: Vec::new(),
        };
        for (i, o) in stage.outs.iter().enumerate().filter(|(_, o)| !o.persist) {
            let rel = o.path.as_str();
            // The out's directory, made for the stage to write in (beneath the workspace,
            // or refused).
            let moved = match ws.dir.parent(rel, true, "move aside") {
                Ok((parent, name)) => match parent.entry_in(name) {
                    Ok(Some(_)) => {
                        let to = format!("{}/{i}", b.dir);
                        let moved = ws
                            .dir
                            .create_dir_all(&b.dir)
                            .and_then(|()| ws.dir.rename(rel, &to));
                        moved.map(|()| Some(to))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(pipe_cache::Error::io("stat", ws.dir.abs(rel), e)),
                },
                Err(e) => Err(e),
            };
            match moved {
                Ok(m) => b.outs.push((rel.to_string(), m)),
                Err(e) => {
                    let _ = b.restore();
                    return Err(e);
                }
            }
        }
        Ok(b)
    }

    /// For a job adopted from an earlier pipe process (it is writing the outs): nothing is
    /// moved; a failure removes what the job left, as after any failed run.
    pub fn adopt(ws: &Workspace, stage: &Stage) -> Backup {
        Backup {
            root: ws.dir.clone(),
            dir: format!("{}/backup/adopted", ws.tmp_rel()),
            outs: stage
                .outs
                .iter()
                .filter(|o| !o.persist)
                .map(|o| (o.path.as_str().to_string(), None))
                .collect(),
        }
    }

    /// Removes whatever the run left at the outs (before a retry).
    pub fn clear_outs(&self) -> pipe_cache::Result<()> {
        for (rel, _) in &self.outs {
            self.root.remove(rel)?;
        }
        Ok(())
    }

    /// Puts the outs back as they were before the run.
    pub fn restore(self) -> pipe_cache::Result<()> {
        let mut first = None;
        for (rel, moved) in &self.outs {
            let r = self.root.remove(rel).and_then(|_| match moved {
                Some(m) => self
                    .root
                    .parent(rel, true, "restore")
                    .and_then(|_| self.root.rename(m, rel)),
                None => Ok(()),
            });
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        let _ = self.root.remove(&self.dir);
        first.map_or(Ok(()), Err)
    }

    /// The run was committed: the old outs go.
    pub fn discard(self) {
        let _ = self.root.remove(&self.dir);
    }
}
