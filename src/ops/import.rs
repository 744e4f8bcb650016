//! `pipe get SOURCE PATH`: a tracked path of another repository (a pipe workspace or a DVC
//! project), at a rev, downloaded and verified, untracked.
//!
//! Flow (see `crate::import`): mirror the source and resolve the rev; find PATH in what
//! the source tracks at that commit and the remote holding it; fetch its objects into a
//! store, verified; check them out at OUT as independent copies. Nothing is written at OUT
//! unless every object arrived whole; `get` keeps nothing else (its mirror and store are in
//! a temp directory, removed at the end).

use std::path::{Path, PathBuf};

use pipe_cache::remote::RemoteSpec;
use pipe_cache::{RootDir, Store, StoreOptions};

use crate::error::{Error, Result};
use crate::import::ImportError;
use crate::import::fetch::{self, Fetched};
use crate::import::git::{Commit, Repo};
use crate::import::source::{self, SourceRemote, Tracked};
use crate::report::printer::{self, Tone, bytes};

use super::Session;

/// What to bring, from where.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    pub source: String,
    pub path: String,
    /// Default: PATH's last component, in the current directory.
    pub out: Option<PathBuf>,
    pub rev: Option<String>,
    /// A remote of this workspace to fetch from instead of the source's own.
    pub remote: Option<String>,
    pub jobs: Option<usize>,
}

/// What `get` did.
#[derive(Debug, Clone)]
pub struct GetReport {
    pub commit: Commit,
    pub tracked: Tracked,
    pub fetched: Fetched,
    pub out: PathBuf,
}

/// A temp directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let p = pipe_cache::fsutil::unique_path(&std::env::temp_dir(), "get");
        std::fs::create_dir_all(&p)
            .map_err(|e| Error::Env(format!("cannot create {}: {e}", p.display())))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `pipe get`: `pipeline` is this workspace's pipeline file (for `--remote` only).
pub fn get(pipeline: &Path, o: &GetOptions) -> Result<GetReport> {
    let out = match &o.out {
        Some(p) => p.clone(),
        None => PathBuf::from(
            o.path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty() && *n != "." && *n != "..")
                .ok_or_else(|| {
                    ImportError::BadArgument(format!("`{}` names no file or directory", o.path))
                })?,
        ),
    };
    let out = std::path::absolute(&out)
        .map_err(|e| Error::User(format!("cannot resolve {}: {e}", out.display())))?;
    if std::fs::symlink_metadata(&out).is_ok() {
        return Err(ImportError::OutExists {
            out: out.display().to_string(),
        }
        .into());
    }
    let (Some(parent), Some(name)) = (out.parent(), out.file_name().and_then(|n| n.to_str()))
    else {
        return Err(
            ImportError::BadArgument(format!("`{}` cannot be written", out.display())).into(),
        );
    };
    let ours = our_remote(pipeline, o.remote.as_deref())?;
    let tmp = TempDir::new()?;
    let repo = Repo::open(&o.source, &tmp.0.join("mirror.git"), false)?;
    let commit = repo.resolve(o.rev.as_deref())?;
    let scratch = tmp.0.join("meta");
    let (tracked, remote) = source::locate(&repo, &commit, &o.path, &scratch, ours)?;
    let store = Store::open(&tmp.0.join("cache"), StoreOptions::default());
    let fetched = fetch_into(&repo, &tracked, &remote, &store, o.jobs)?;
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::Env(format!("cannot create {}: {e}", parent.display())))?;
    let dir = RootDir::open(parent)?;
    place(&store, &fetched, &dir, name)?;
    printer::get().verb(
        "Downloaded",
        Tone::Good,
        &format!(
            "{} from {} at {} to {}",
            tracked.path(),
            repo.url,
            commit.describe(),
            out.display()
        ),
    );
    Ok(GetReport {
        commit,
        tracked,
        fetched,
        out,
    })
}

/// The spec of this workspace's remote `name`, credentials and all (`--remote`).
pub fn our_remote(pipeline: &Path, name: Option<&str>) -> Result<Option<RemoteSpec>> {
    let Some(name) = name else {
        return Ok(None);
    };
    let root = pipeline.parent().unwrap_or(Path::new("."));
    let cfg = crate::config::Config::load(&root.join(crate::workspace::DOT))?;
    Ok(Some(crate::remote::spec_in(&cfg, root, Some(name))?))
}

/// Fetches `tracked` into `store`, with a progress bar and a `Fetched` line.
pub fn fetch_into(
    repo: &Repo,
    tracked: &Tracked,
    remote: &SourceRemote,
    store: &Store,
    jobs: Option<usize>,
) -> Result<Fetched> {
    let rt = Session::runtime()?;
    let (progress, bar) = crate::report::transfer::progress(0, 0, "Fetching");
    let got = rt.block_on(fetch::fetch(
        &repo.url, tracked, remote, store, jobs, &progress,
    ));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let got = got?;
    printer::get().verb(
        "Fetched",
        Tone::Good,
        &format!(
            "{} object(s), {} from `{}` ({})",
            got.objects,
            bytes(got.bytes),
            remote.spec.name,
            remote.spec.url
        ),
    );
    Ok(got)
}

/// Checks `fetched` out as `name` in `dir`: independent, writable copies.
pub fn place(store: &Store, fetched: &Fetched, dir: &RootDir, name: &str) -> Result<()> {
    let h = &fetched.hash;
    if h.dir {
        let m = store.read_manifest(&h.digest)?;
        store.checkout_tree_as(&m, dir, name, true)?;
    } else {
        store.checkout_file_as(&h.digest, dir, name, h.exec, true)?;
    }
    Ok(())
}
