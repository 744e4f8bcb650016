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
//!     id                   this workspace's id in the caches it uses (see `roots`)
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
//! dead process's temps, quarantined objects, gc) is the user's. Then the workspace
//! registers in it ([`roots`]), so that `pipe gc` in any workspace sharing the cache keeps
//! what this one refers to.

pub mod roots;

use std::path::{Path, PathBuf};

use pipe_cache::lease::{self, Lease, Swept};
use pipe_cache::marker::Refusal;
use pipe_cache::{RootDir, StateDb, Store, StoreOptions};

use crate::config::Config;
use crate::lock::LockStore;
use crate::spec::SpecError;
use crate::wspath::WsPath;

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
    /// What opening found worth a warning (the cache could not register it): for the
    /// command that opened it to say.
    pub warnings: Vec<String>,
    /// Its id in the caches it uses (`.pipe/id`, see [`roots`]).
    pub id: String,
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
    /// A file of the cache's `roots/` that is not an entry `register` wrote.
    #[error("{}: not an entry of a workspace using this cache ({why}); remove it", file.display())]
    BadRootEntry { file: PathBuf, why: String },
    #[error("cannot read {}: {err}", path.display())]
    Read { path: PathBuf, err: std::io::Error },
    /// A workspace path JSON cannot hold (not UTF-8).
    #[error("cannot write {}: {err}", path.display())]
    Encode {
        path: PathBuf,
        err: serde_json::Error,
    },
    #[error("cannot list {}: {err}", path.display())]
    List { path: PathBuf, err: std::io::Error },
    /// A registered workspace gc cannot look into: it would delete what that one needs.
    #[error(
        "cannot read the workspace {} (registered in {} as one that uses this cache): {why}; \
         gc would delete what it needs: make it readable to this user, or, if it is no \
         longer used, remove {}",
        workspace.display(),
        roots.display(),
        entry.display()
    )]
    Unreadable {
        workspace: PathBuf,
        roots: PathBuf,
        entry: PathBuf,
        why: String,
    },
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
        let top = RootDir::open(&root)?;
        ensure_dot(&top, &dot)?;
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
        let dir = top.with_journal(&format!("{DOT}/tmp"))?;
        let lease = Lease::take(&tmp, false)?;
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
        // After the lease on the cache's tmp/ (taken by the sweep above): a gc either sees
        // this process and refuses, or is done before this registers (see `roots`).
        let lock_name = lock_path_for(pipeline)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pipe.lock".into());
        let mut warnings = Vec::new();
        let id = register(&dir, &root, &dot, &store, &lock_name, &mut warnings)?;
        Ok(Workspace {
            root,
            dir,
            dot,
            config,
            store,
            state,
            lock,
            swept,
            warnings,
            id,
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

/// A directory the user named for a command's output files (`pipe plots -o DIR`, the
/// directory of `pipe report -o FILE`), made if missing. Inside the workspace (by its
/// path as given, relative to the current directory) it is opened beneath the root, so a
/// link on the way that leads out of the workspace is refused like any other write; a
/// path outside the workspace is where the user asked the files to go, and they are
/// written there.
pub struct OutputDir {
    path: PathBuf,
    inside: Option<RootDir>,
}

impl OutputDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes file `name` (one name, no `/`) in it, atomically; a file replaced keeps its
    /// mode. Outside the workspace, a name that is a device, a pipe or a link
    /// (`-o /dev/stdout`) is written through, not replaced by a file (renaming over
    /// `/dev/full` as root would have made it one). Inside, nothing is followed: a
    /// `report.html` that is a link to a disk is replaced, not written through.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), pipe_cache::Error> {
        let path = self.path.join(name);
        if self.inside.is_none() && written_through(&path)? {
            return std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, bytes))
                .map_err(|e| pipe_cache::Error::io("write", &path, e));
        }
        match &self.inside {
            Some(d) => d.write_atomic(name, bytes, false),
            None => pipe_cache::fsutil::write_file_atomic(&self.path.join(name), bytes, false),
        }
    }
}

impl Workspace {
    /// The output directory `dir` (see [`OutputDir`]).
    pub fn output_dir(&self, dir: &Path) -> Result<OutputDir, pipe_cache::Error> {
        let abs = std::path::absolute(dir).map_err(|e| pipe_cache::Error::io("resolve", dir, e))?;
        // As written first: a link inside the workspace is opened through the root, which
        // refuses one that leads out.
        let rel = match self.lexical(dir)? {
            Some(rel) => Some(rel),
            None => self.relative(dir)?,
        };
        let inside = match rel {
            Some(rel) => Some(self.dir.subdir(rel.as_str(), true)?),
            None => {
                std::fs::create_dir_all(&abs)
                    .map_err(|e| pipe_cache::Error::io("create directory", &abs, e))?;
                None
            }
        };
        Ok(OutputDir { path: abs, inside })
    }
}

/// Whether an output file outside the workspace is written through rather than replaced:
/// a device, a pipe or a link (`/dev/stdout` is a link to the process's
/// descriptor, which may be a pipe or a file), as a shell's `>` writes it. A directory is
/// an error.
fn written_through(path: &Path) -> Result<bool, pipe_cache::Error> {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return Ok(false);
    };
    let target = std::fs::metadata(path);
    if target.as_ref().is_ok_and(|t| t.is_dir()) {
        return Err(pipe_cache::Error::io(
            "write",
            path,
            std::io::Error::from(std::io::ErrorKind::IsADirectory),
        ));
    }
    // A link is always written through: one that leads nowhere (`/dev/stdout` of a process
    // whose stdout is closed) is then an error, not a link replaced by a file.
    Ok(m.is_symlink() || !m.is_file())
}

impl Workspace {
    /// `path` as a path of the workspace read as written (`..` taken lexically, links not
    /// followed), or `None` when so read it lies outside.
    pub fn lexical(&self, path: &Path) -> Result<Option<WsPath>, pipe_cache::Error> {
        let normal = |p: &Path| absolute_path(p, false);
        let full = normal(path)?;
        let roots = [
            normal(&self.root)?,
            std::fs::canonicalize(&self.root)
                .map_err(|e| pipe_cache::Error::io("resolve", &self.root, e))?,
        ];
        let Some(inside) = roots.iter().find_map(|r| full.strip_prefix(r).ok()) else {
            return Ok(None);
        };
        inside_path(path, inside).map(Some)
    }

    /// `path` (as given, relative to the current directory) as a path of the workspace, or
    /// `None` when it lies outside. Read as the file system will: the root and each part of
    /// `path` that exists are resolved (`..`, links: `../ws/pipe.lock`, a link to the
    /// workspace, a directory link to `.pipe` all land inside), the rest lexically. A
    /// path inside that no workspace path can name (not UTF-8, a control character) is an
    /// error.
    pub fn relative(&self, path: &Path) -> Result<Option<WsPath>, pipe_cache::Error> {
        let root = std::fs::canonicalize(&self.root)
            .map_err(|e| pipe_cache::Error::io("resolve", &self.root, e))?;
        let full = absolute_path(path, true)?;
        let Ok(inside) = full.strip_prefix(&root) else {
            return Ok(None);
        };
        inside_path(path, inside).map(Some)
    }
}

/// `p` made absolute, `.` dropped and `..` taken from the parent: lexically, or with each
/// part that exists resolved (`resolve`: links followed, `..` taken from the real parent).
fn absolute_path(p: &Path, resolve: bool) -> Result<PathBuf, pipe_cache::Error> {
    let abs = std::path::absolute(p).map_err(|e| pipe_cache::Error::io("resolve", p, e))?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => {
                out.push(other.as_os_str());
                if resolve && let Ok(real) = std::fs::canonicalize(&out) {
                    out = real;
                }
            }
        }
    }
    Ok(out)
}

/// `inside` (what follows the root in `path`) as a workspace path; one no workspace path can
/// name (not UTF-8, a control character) is an error.
fn inside_path(path: &Path, inside: &Path) -> Result<WsPath, pipe_cache::Error> {
    let rel = inside.to_str().and_then(|r| {
        if r.is_empty() {
            Some(WsPath::root())
        } else {
            WsPath::parse(r).ok()
        }
    });
    rel.ok_or_else(|| {
        pipe_cache::Error::io(
            "write",
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "it lies in the workspace, but names no path pipe can write there",
            ),
        )
    })
}

/// `pipe.toml` -> `pipe.lock`; `other.toml` -> `other.lock`.
pub fn lock_path_for(pipeline: &Path) -> PathBuf {
    pipeline.with_extension("lock")
}

/// Makes `.pipe/` and its `.gitignore`, through the root (a `.pipe` that is a link out of
/// the workspace is refused).
fn ensure_dot(top: &RootDir, dot: &Path) -> Result<(), WorkspaceError> {
    if dot.join(".gitignore").is_file() {
        return Ok(());
    }
    top.write_new(&format!("{DOT}/.gitignore"), DOT_GITIGNORE.as_bytes())?;
    Ok(())
}

/// This workspace's id (made at its first open; a new one for a copy of another
/// workspace), registered in the cache (see [`roots`]). A cache this user cannot write to
/// is used unregistered, with a warning: gc elsewhere would not know what this one uses.
fn register(
    dir: &RootDir,
    root: &Path,
    dot: &Path,
    store: &Store,
    lock: &str,
    warnings: &mut Vec<String>,
) -> Result<String, WorkspaceError> {
    let rel = format!("{DOT}/{}", roots::ID_FILE);
    let cannot = |err: std::io::Error| WorkspaceError::Create {
        path: dot.join(roots::ID_FILE),
        err,
    };
    let mut id = match roots::read_id(dot).map_err(cannot)? {
        Some(id) => id,
        None => {
            let fresh = roots::new_id(root);
            if !dir.write_new(&rel, fresh.as_bytes())? {
                // Another process made it first (or it holds no id: replaced).
                match roots::read_id(dot).map_err(cannot)? {
                    Some(id) => id,
                    None => {
                        dir.write_atomic(&rel, fresh.as_bytes(), true)?;
                        fresh
                    }
                }
            } else {
                fresh
            }
        }
    };
    let held = dir.open_file(&rel)?;
    held.lock().map_err(cannot)?;
    let canonical = std::fs::canonicalize(root).map_err(|err| WorkspaceError::Create {
        path: root.to_path_buf(),
        err,
    })?;
    let shared = store.options().shared_group;
    let mut r = roots::register(store.root(), shared, &id, &canonical, lock);
    if matches!(r, Ok(roots::Registered::Copy)) {
        id = roots::new_id(&canonical);
        dir.write_atomic(&rel, id.as_bytes(), true)?;
        r = roots::register(store.root(), shared, &id, &canonical, lock);
    }
    if let Err(e) = r {
        warnings.push(format!(
            "this workspace is not registered in the cache {} ({e}): `pipe gc` run from \
             another workspace that shares the cache does not know what this one uses",
            store.root().display()
        ));
    }
    Ok(id)
}
