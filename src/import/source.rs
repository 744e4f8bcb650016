//! What a source repository tracks at a commit, and where its data lives.
//!
//! ```text
//! a pipe workspace            a DVC project
//!   pipe.lock                   data/raw.dvc, sub/x.dvc   (dvc add)
//!   .pipe/config.toml           dvc.lock, sub/dvc.lock    (stages' outs)
//!                               .dvc/config
//! ```
//! PATH is found as an out (or `[data]`) in pipe.lock, else as an out of a `.dvc` file or
//! of dvc.lock; a PATH below a directory out names that part of it ([`Tracked::sub`]).
//! The metadata files are read at the commit (`git cat-file`), written to a scratch
//! directory and handed to the readers the engine already has (`lock::format`,
//! `config::Config`, `dvc::dotdvc`, `dvc::lock`, `dvc::config`): one parser each.
//!
//! The remote: `--remote NAME` (one of this workspace's remotes, credentials and all), else
//! the source's default remote, as its committed config describes it (for a DVC project on
//! this machine, with its git-ignored `.dvc/config.local` laid over it: credentials too);
//! a directory url relative to the source resolves against a source on this machine only.

use std::path::{Path, PathBuf};

use pipe_cache::remote::RemoteSpec;

use super::error::ImportError;
use super::git::{Commit, Repo};
use crate::config::{Config, RemoteToml};
use pipe_cache::Summary;

/// The source's format, and the object that PATH's out is recorded as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// A pipe workspace's out: blake3, a directory by its manifest.
    Pipe(Summary),
    /// A DVC out: md5 (`<md5>.dir` for a directory's listing); `legacy`: written by DVC 2.
    Dvc { md5: String, legacy: bool },
}

/// PATH as the source tracks it.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The tracked out holding PATH (PATH itself, or a directory above it).
    pub out: String,
    /// PATH relative to `out` when PATH is inside a directory out.
    pub sub: Option<String>,
    pub object: Object,
}

impl Tracked {
    /// The path asked for, in the source.
    pub fn path(&self) -> String {
        match &self.sub {
            Some(s) => format!("{}/{s}", self.out),
            None => self.out.clone(),
        }
    }
}

/// Where the tracked data is fetched from.
#[derive(Debug, Clone)]
pub struct SourceRemote {
    pub spec: RemoteSpec,
}

/// Reads what `repo` tracks at `commit` for `path`, and the remote to fetch it from
/// (`ours`: a remote of this workspace that replaces the source's own). `scratch`: an
/// empty directory for the metadata files.
pub fn locate(
    repo: &Repo,
    commit: &Commit,
    path: &str,
    scratch: &Path,
    ours: Option<RemoteSpec>,
) -> Result<(Tracked, SourceRemote), ImportError> {
    let path = normal(path).ok_or_else(|| {
        ImportError::BadArgument(format!(
            "`{path}` is not a path inside the repository (relative, without `..`)"
        ))
    })?;
    let at = At { repo, commit };
    match repo.show(commit, "pipe.lock")? {
        Some(lock) => locate_pipe(at, &lock, &path, scratch, ours),
        None => locate_dvc(at, &path, scratch, ours),
    }
}

/// The source and commit a lookup is in, for its errors.
#[derive(Clone, Copy)]
struct At<'a> {
    repo: &'a Repo,
    commit: &'a Commit,
}

impl At<'_> {
    fn meta(self, why: String) -> ImportError {
        ImportError::Metadata {
            repo: self.repo.url.clone(),
            rev: self.commit.describe(),
            why,
        }
    }

    fn not_tracked(self, path: &str) -> ImportError {
        ImportError::NotTracked {
            repo: self.repo.url.clone(),
            rev: self.commit.describe(),
            path: path.to_string(),
        }
    }
}

/// `path` in a pipe workspace: the out of `pipe.lock` (its text `lock`) holding it.
fn locate_pipe(
    at: At<'_>,
    lock: &[u8],
    path: &str,
    scratch: &Path,
    ours: Option<RemoteSpec>,
) -> Result<(Tracked, SourceRemote), ImportError> {
    let text = std::str::from_utf8(lock).map_err(|_| at.meta("pipe.lock is not UTF-8".into()))?;
    let entries =
        crate::lock::format::parse(text).map_err(|e| at.meta(format!("pipe.lock: {e}")))?;
    let mut outs: Vec<(String, Summary)> = entries
        .into_values()
        .flat_map(|e| e.outs.into_iter().map(|(p, h)| (p.to_string(), h)))
        .collect();
    outs.sort_by(|a, b| a.0.cmp(&b.0));
    let tracked =
        find(outs.iter().map(|(p, h)| (p.as_str(), h.is_dir())), path).map(|(out, sub)| {
            let h = outs.iter().find(|(p, _)| p == out).map(|(_, h)| *h);
            (out.to_string(), sub, h)
        });
    let Some((out, sub, Some(hash))) = tracked else {
        return Err(at.not_tracked(path));
    };
    let remote = match ours {
        Some(spec) => spec,
        None => pipe_remote(at.repo, at.commit, scratch, path)?,
    };
    Ok((
        Tracked {
            out,
            sub,
            object: Object::Pipe(hash),
        },
        SourceRemote { spec: remote },
    ))
}

/// `path` in a DVC project: the out of a `.dvc` file or a `dvc.lock` holding it.
fn locate_dvc(
    at: At<'_>,
    path: &str,
    scratch: &Path,
    ours: Option<RemoteSpec>,
) -> Result<(Tracked, SourceRemote), ImportError> {
    let mut outs = dvc_outs(at, scratch)?;
    outs.sort_by(|a, b| a.0.cmp(&b.0));
    let found = find(
        outs.iter().map(|(p, m, _)| {
            (
                p.as_str(),
                m.as_deref().is_some_and(|m| m.ends_with(".dir")),
            )
        }),
        path,
    );
    let Some((out, sub)) = found else {
        return Err(at.not_tracked(path));
    };
    let Some((_, Some(md5), legacy)) = outs.iter().find(|(p, _, _)| p == out) else {
        return Err(at.meta(format!(
            "`{out}` has no md5 recorded (never committed by DVC)"
        )));
    };
    let remote = match ours {
        Some(spec) => spec,
        None => dvc_remote(at.repo, at.commit, scratch, path)?,
    };
    Ok((
        Tracked {
            out: out.to_string(),
            sub,
            object: Object::Dvc {
                md5: md5.clone(),
                legacy: *legacy,
            },
        },
        SourceRemote { spec: remote },
    ))
}

/// Every out a DVC project records at the commit, as (path, md5, legacy): its `.dvc` files'
/// and its `dvc.lock`s' (written under `scratch` to be read).
fn dvc_outs(
    at: At<'_>,
    scratch: &Path,
) -> Result<Vec<(String, Option<String>, bool)>, ImportError> {
    let files = at.repo.files(at.commit)?;
    let dvc_files: Vec<&String> = files
        .iter()
        .filter(|f| {
            (f.ends_with(".dvc")
                || f.as_str() == "dvc.lock"
                || f.ends_with("/dvc.lock")
                || crate::dvc::stagefile::is_dvcfile(f))
                && !f.starts_with(".dvc/")
        })
        .collect();
    if dvc_files.is_empty() && !files.iter().any(|f| f == ".dvc/config") {
        return Err(at.meta(
            "it is neither a pipe workspace (no pipe.lock) nor a DVC project (no .dvc files, dvc.lock or .dvc/config)".into(),
        ));
    }
    let mut outs = Vec::new();
    let mut notes = Vec::new();
    for f in dvc_files {
        materialise(at.repo, at.commit, scratch, f)?;
        if f.ends_with(".dvc") || crate::dvc::stagefile::is_dvcfile(f) {
            let got = crate::dvc::dotdvc::read(scratch, f, &mut notes)
                .and_then(crate::dvc::dotdvc::DotDvc::recorded_outs)
                .map_err(|e| at.meta(e.to_string()))?;
            outs.extend(got.into_iter().map(|t| (t.path, t.md5, t.legacy)));
            continue;
        }
        let dir = f
            .strip_suffix("dvc.lock")
            .unwrap_or("")
            .trim_end_matches('/');
        let stages = crate::dvc::lock::read(scratch, dir).map_err(|e| at.meta(e.to_string()))?;
        for o in stages.into_values().flat_map(|st| st.outs) {
            let p = crate::dvc::convert::join(dir, &o.path)
                .map_err(|e| at.meta(format!("{}: {e}", o.at)))?;
            outs.push((p, o.md5, o.legacy));
        }
    }
    Ok(outs)
}

/// `path` without `./`, trailing or doubled `/`; `None` when it leaves the repository.
fn normal(path: &str) -> Option<String> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") || path.starts_with('/') {
        return None;
    }
    Some(parts.join("/"))
}

/// The out (of `outs`: path, is a directory) that is `path` or a directory above it, and
/// what lies below it.
fn find<'a>(
    outs: impl Iterator<Item = (&'a str, bool)>,
    path: &str,
) -> Option<(&'a str, Option<String>)> {
    let mut best: Option<(&'a str, Option<String>)> = None;
    for (out, dir) in outs {
        if out == path {
            return Some((out, None));
        }
        if dir
            && let Some(rest) = path.strip_prefix(out).and_then(|r| r.strip_prefix('/'))
            && best.as_ref().is_none_or(|(b, _)| b.len() < out.len())
        {
            best = Some((out, Some(rest.to_string())));
        }
    }
    best
}

/// Writes the source's `rel` at `commit` under `scratch` (for the readers that take a
/// directory). A file the commit lacks is left absent.
fn materialise(repo: &Repo, commit: &Commit, scratch: &Path, rel: &str) -> Result<(), ImportError> {
    let Some(bytes) = repo.show(commit, rel)? else {
        return Ok(());
    };
    let dst = scratch.join(rel);
    let local = |e: std::io::Error| ImportError::Git {
        repo: repo.url.clone(),
        why: format!("cannot write {}: {e}", dst.display()),
    };
    if let Some(d) = dst.parent() {
        std::fs::create_dir_all(d).map_err(local)?;
    }
    std::fs::write(&dst, bytes).map_err(local)
}

/// The directory a relative directory-remote url of the source resolves against: the
/// source itself when it is on this machine.
fn local_base(repo: &Repo) -> Option<PathBuf> {
    let u = repo.url.strip_prefix("file://").unwrap_or(&repo.url);
    let p = Path::new(u);
    (p.is_dir() && !u.contains("://")).then(|| std::path::absolute(p).ok())?
}

fn url_error(repo: &Repo, url: &str, why: String) -> ImportError {
    ImportError::RemoteUrl {
        repo: repo.url.clone(),
        url: url.to_string(),
        why,
    }
}

/// The base a relative url resolves against, or why it cannot.
fn base_for(repo: &Repo, url: &str, under: &str) -> Result<PathBuf, ImportError> {
    let relative_dir = !url.contains("://") && !Path::new(url).is_absolute();
    match local_base(repo) {
        Some(b) => Ok(b.join(under)),
        None if relative_dir => Err(url_error(
            repo,
            url,
            "a relative directory is only found for a source on this machine".into(),
        )),
        None => Ok(PathBuf::from("/")),
    }
}

/// The default remote of a pipe workspace, as its committed `.pipe/config.toml` says.
fn pipe_remote(
    repo: &Repo,
    commit: &Commit,
    scratch: &Path,
    path: &str,
) -> Result<RemoteSpec, ImportError> {
    materialise(repo, commit, scratch, ".pipe/config.toml")?;
    let cfg = Config::load(&scratch.join(".pipe")).map_err(|e| ImportError::Metadata {
        repo: repo.url.clone(),
        rev: commit.describe(),
        why: e.to_string(),
    })?;
    let no_remote = || ImportError::NoRemote {
        repo: repo.url.clone(),
        rev: commit.describe(),
        path: path.to_string(),
    };
    let name = cfg.default_remote.clone().ok_or_else(no_remote)?;
    let r = cfg.remotes.get(&name).ok_or_else(no_remote)?;
    let url = r.url.clone().unwrap_or_default();
    let base = base_for(repo, &url, "")?;
    crate::sharing::spec_of(&base, &name, r).map_err(|e| url_error(repo, &url, e.to_string()))
}

/// The default remote of a DVC project, as its committed `.dvc/config` says (a relative
/// directory is relative to `.dvc/`, as DVC has it). For a source on this machine, its
/// git-ignored `.dvc/config.local` is laid over that (as DVC itself does): the default
/// remote it names, and that remote's endpoint and credentials (`dvc remote modify
/// --local`). Elsewhere credentials come from this workspace's config or the environment.
fn dvc_remote(
    repo: &Repo,
    commit: &Commit,
    scratch: &Path,
    path: &str,
) -> Result<RemoteSpec, ImportError> {
    materialise(repo, commit, scratch, ".dvc/config")?;
    let meta = |why: String| ImportError::Metadata {
        repo: repo.url.clone(),
        rev: commit.describe(),
        why,
    };
    let no_remote = || ImportError::NoRemote {
        repo: repo.url.clone(),
        rev: commit.describe(),
        path: path.to_string(),
    };
    let (remotes, default) =
        crate::dvc::config::read(scratch, &mut Vec::new()).map_err(|e| meta(e.to_string()))?;
    let local = match local_base(repo) {
        Some(base) => {
            let p = base.join(".dvc/config.local");
            match std::fs::read_to_string(&p) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(meta(format!("cannot read {}: {e}", p.display()))),
            }
        }
        None => None,
    };
    let local_default = local.as_deref().and_then(crate::dvc::config::local_default);
    let name = local_default.or(default).ok_or_else(no_remote)?;
    let mut t = RemoteToml::default();
    if let Some(r) = remotes.into_iter().find(|r| r.name == name) {
        t.url = Some(r.url.clone());
        for o in &r.options {
            match o.split_once('=') {
                Some(("endpoint", v)) => t.endpoint = Some(v.to_string()),
                Some(("region", v)) => t.region = Some(v.to_string()),
                Some(("profile", v)) => t.profile = Some(v.to_string()),
                _ => {}
            }
        }
    }
    if let Some(text) = &local {
        crate::dvc::config::overlay_local(text, &name, &mut t);
    }
    let url = t.url.clone().ok_or_else(no_remote)?;
    let base = base_for(repo, &url, ".dvc")?;
    crate::sharing::spec_of(&base, &name, &t).map_err(|e| url_error(repo, &url, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_out_or_the_directory_above() {
        let outs = [("data", true), ("data/raw", true), ("model.pt", false)];
        let f = |p: &str| find(outs.iter().copied(), p);
        assert_eq!(f("data/raw"), Some(("data/raw", None)));
        assert_eq!(
            f("data/raw/cam07/a.jpg"),
            Some(("data/raw", Some("cam07/a.jpg".into())))
        );
        assert_eq!(f("data/x"), Some(("data", Some("x".into()))));
        assert_eq!(f("model.pt/x"), None);
        assert_eq!(f("other"), None);
        assert_eq!(normal("./data//raw/"), Some("data/raw".into()));
        assert_eq!(normal("../x"), None);
        assert_eq!(normal("/x"), None);
    }
}
