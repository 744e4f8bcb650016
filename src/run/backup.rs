//! Moving a stage's outs aside while it runs, so that a failed, interrupted or uncommitted
//! run leaves the outs exactly as they were.
//!
//! Before a run every existing out (except persisted ones) is renamed into
//! `.pipe/tmp/backup/<pid>-<n>/` (a rename: no copy), and the out's parent directory is
//! created so the stage can write. After a successful commit the backup is deleted; after
//! a failure the partial outs are removed and the backup renamed back.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use pipe_cache::error::IoContext;
use pipe_cache::fsutil::remove_path;

use crate::graph::Stage;
use crate::workspace::Workspace;

pub struct Backup {
    dir: PathBuf,
    /// (out's path, where it was moved, if it existed)
    outs: Vec<(PathBuf, Option<PathBuf>)>,
}

impl Backup {
    pub fn take(ws: &Workspace, stage: &Stage) -> pipe_cache::Result<Backup> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = ws.tmp().join("backup").join(format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut b = Backup {
            dir,
            outs: Vec::new(),
        };
        for (i, o) in stage.outs.iter().enumerate().filter(|(_, o)| !o.persist) {
            let abs = o.path.to_abs(&ws.root);
            let moved = if fs::symlink_metadata(&abs).is_ok() {
                fs::create_dir_all(&b.dir).at("create directory", &b.dir)?;
                let to = b.dir.join(i.to_string());
                if let Err(e) = fs::rename(&abs, &to).at("move aside", &abs) {
                    let _ = b.restore();
                    return Err(e);
                }
                Some(to)
            } else {
                None
            };
            b.outs.push((abs.clone(), moved));
            if let Some(parent) = abs.parent() {
                fs::create_dir_all(parent).at("create directory", parent)?;
            }
        }
        Ok(b)
    }

    /// For a job adopted from an earlier pipe process (it is writing the outs): nothing is
    /// moved; a failure removes what the job left, as after any failed run.
    pub fn adopt(ws: &Workspace, stage: &Stage) -> Backup {
        Backup {
            dir: ws.tmp().join("backup").join("adopted"),
            outs: stage
                .outs
                .iter()
                .filter(|o| !o.persist)
                .map(|o| (o.path.to_abs(&ws.root), None))
                .collect(),
        }
    }

    /// Removes whatever the run left at the outs (before a retry).
    pub fn clear_outs(&self) -> pipe_cache::Result<()> {
        for (abs, _) in &self.outs {
            remove_path(abs)?;
        }
        Ok(())
    }

    /// Puts the outs back as they were before the run.
    pub fn restore(self) -> pipe_cache::Result<()> {
        let mut first = None;
        for (abs, moved) in &self.outs {
            let r = remove_path(abs).and_then(|()| match moved {
                Some(m) => fs::rename(m, abs).at("restore", abs),
                None => Ok(()),
            });
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
        first.map_or(Ok(()), Err)
    }

    /// The run was committed: the old outs go.
    pub fn discard(self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
