//! A workspace: the directory holding a pipeline file, and its `.pipe/` state.
//!
//! ```text
//! <root>/
//!   pipe.toml              the pipeline (or any file named with -f)
//!   pipe.lock              what each stage last ran with (committed)
//!   params.toml
//!   .pipe/
//!     .gitignore           ignores everything here but the config
//!     config.toml          committed settings; config.local.toml for this machine
//!     cache/               the content-addressed store (unless cache.dir moves it)
//!     state                the state db: stat -> digest
//!     journal/             lock journals, folded into the lock at the end of a run
//!     locks/               per-path locks of running stages
//!     logs/<stage>.log     the last run's output of each stage
//!     tmp/                 backups of outs during a run, invocation files
//! ```
//!
//! Opening a workspace takes this process's lease on its temp files (`pipe_cache::lease`)
//! and removes what killed processes left: their backups, temp files and clock probes,
//! in `.pipe/tmp/` and the cache's `tmp/`, the temps their checkouts left beside outs
//! (named in their journals, `.pipe/tmp/temps-<pid>`), and lock files nobody holds.
//!
//! Every write, move and removal in the workspace goes through [`Workspace::dir`], the root
//! opened once (`pipe_cache::rootdir`): nothing reached through a link that leads out of
//! the workspace is ever written, moved, removed, linked or chmodded.
//!
//! The cache is opened only when it is pipe's (`pipe_cache::marker`): `cache.dir` naming a
//! folder of the user's files is refused (exit 2), so that nothing pipe deletes there (a
//! dead process's temps, quarantined objects, gc) is the user's.

use std::fs;
use std::path::{Path, PathBuf};

use pipe_cache::lease::{self, Lease, Swept};
use pipe_cache::marker::Refusal;
use pipe_cache::{RootDir, StateDb, Store, StoreOptions};

use crate::config::Config;
use crate::lock::LockStore;
use crate::spec::SpecError;

pub const DOT: &str = ".pipe";

pub struct Workspace {
    pub root: PathBuf,
    /// The root, opened: every write, move or removal of a path in the workspace goes
    /// through it (see `pipe_cache::rootdir`).
    pub dir: RootDir,
    pub dot: PathBuf,
    pub config: Config,
    pub store: Store,
    pub state: StateDb,
    pub lock: LockStore,
    /// What opening swept away: leftovers of dead processes (reported by `pipe gc`).
    pub swept: Swept,
    _lease: Lease,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Config(#[from] SpecError),
    #[error(transparent)]
    Cache(#[from] pipe_cache::Error),
    #[error("cannot create {}: {err}", path.display())]
    Create { path: PathBuf, err: std::io::Error },
}

const DOT_GITIGNORE: &str =
    "# pipe's state; only the shared config is committed.\n/*\n!/.gitignore\n!/config.toml\n";

impl Workspace {
    /// Opens the workspace of `pipeline` (a pipeline file), creating `.pipe/` if needed.
    pub fn open(pipeline: &Path) -> Result<Workspace, WorkspaceError> {
        let root = pipeline
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dot = root.join(DOT);
        ensure_dot(&dot)?;
        let config = Config::load(&dot)?;
        let cache_dir = config
            .cache_dir
            .clone()
            .unwrap_or_else(|| dot.join("cache"));
        let store = Store::open_marked(
            &cache_dir,
            StoreOptions {
                links: config.links.clone(),
                shared_group: config.shared_group,
            },
        )
        .map_err(|r| match r {
            Refusal::Io(e) => WorkspaceError::Cache(e),
            other => WorkspaceError::Config(SpecError::new(match &config.cache_dir_from {
                Some(file) => format!(
                    "{}: cache.dir: {other}: point cache.dir at a new folder",
                    file.display()
                ),
                None => format!("{other}"),
            })),
        })?;
        let state = StateDb::open(&dot.join("state"), &dot.join("tmp"))?;
        let lock = LockStore::new(&lock_path_for(pipeline), &dot.join("journal"));
        let tmp = dot.join("tmp");
        let dir = RootDir::open(&root)?.with_journal(&format!("{DOT}/tmp"))?;
        let lease = Lease::take(&tmp)?;
        // Backups are swept by path: only when `backup` is a directory of the workspace,
        // never a link (whose target's `<pid>-<n>` names would be taken for backups).
        let backup = format!("{DOT}/tmp/backup");
        let mut dirs = vec![tmp.clone()];
        if dir
            .entry(&backup)
            .ok()
            .flatten()
            .is_some_and(|e| e.is_dir())
        {
            dirs.push(tmp.join("backup"));
        }
        let mut swept = lease::sweep_with(&tmp, &dirs, |pid| dir.sweep_journal(pid))?;
        // Best effort: a shared cache may be read-only to this user.
        swept += store.sweep_tmp().unwrap_or_else(|e| {
            tracing::debug!("cannot sweep the cache's tmp: {e}");
            Swept::default()
        });
        crate::pathlock::sweep(&dot.join("locks"));
        Ok(Workspace {
            root,
            dir,
            dot,
            config,
            store,
            state,
            lock,
            swept,
            _lease: lease,
        })
    }

    pub fn tmp(&self) -> PathBuf {
        self.dot.join("tmp")
    }

    /// `.pipe/tmp` relative to the root, for [`Workspace::dir`].
    pub fn tmp_rel(&self) -> String {
        format!("{DOT}/tmp")
    }

    pub fn logs(&self) -> PathBuf {
        self.dot.join("logs")
    }

    pub fn locks(&self) -> PathBuf {
        self.dot.join("locks")
    }
}

/// `pipe.toml` -> `pipe.lock`; `other.toml` -> `other.lock`.
pub fn lock_path_for(pipeline: &Path) -> PathBuf {
    pipeline.with_extension("lock")
}

fn ensure_dot(dot: &Path) -> Result<(), WorkspaceError> {
    if dot.join(".gitignore").is_file() {
        return Ok(());
    }
    let create = |p: &Path| WorkspaceError::Create {
        path: p.to_path_buf(),
        err: std::io::Error::last_os_error(),
    };
    fs::create_dir_all(dot).map_err(|err| WorkspaceError::Create {
        path: dot.to_path_buf(),
        err,
    })?;
    let gi = dot.join(".gitignore");
    fs::write(&gi, DOT_GITIGNORE).map_err(|_| create(&gi))?;
    Ok(())
}
