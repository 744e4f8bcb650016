//! The source repository, read without a work tree: a bare mirror (`git clone --mirror`,
//! refreshed by `git fetch`) kept where the caller says (`.pipe/imports/<id>.git` for
//! `pipe import`, a temp dir for `pipe get`), then `git rev-parse` to resolve a rev and
//! `git show REV:PATH` / `git ls-tree` to read what the source tracks at that commit.
//! Only metadata is read this way (pipe.lock, `.pipe/config.toml`, `.dvc` files,
//! dvc.lock, `.dvc/config`): the data itself comes from the source's remote.
//!
//! git runs with `GIT_TERMINAL_PROMPT=0` (a source that asks for a password fails rather
//! than waiting on a terminal that may not be there).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::error::ImportError;

/// A mirror of the source repository on this machine.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The source as the user named it (for messages and the pipeline file).
    pub url: String,
    /// The bare mirror.
    pub dir: PathBuf,
}

/// A rev resolved to a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The full object name.
    pub sha: String,
    /// What was asked (`None`: the default branch).
    pub rev: Option<String>,
    /// The rev names a branch (or is the default branch): `pipe update` moves with it.
    pub branch: bool,
}

impl Commit {
    /// `v1 (0123abcd)` or `the default branch (0123abcd)`, for messages.
    pub fn describe(&self) -> String {
        let short = &self.sha[..self.sha.len().min(10)];
        match &self.rev {
            Some(r) if r != &self.sha => format!("{r} ({short})"),
            Some(_) => short.to_string(),
            None => format!("the default branch ({short})"),
        }
    }
}

/// The id of a source's mirror under `.pipe/imports/`: the start of the blake3 of its url.
pub fn mirror_name(url: &str) -> String {
    format!(
        "{}.git",
        &pipe_cache::Digest::of_bytes(url.as_bytes()).to_hex()[..16]
    )
}

impl Repo {
    /// Opens the mirror of `url` at `dir`, cloning it when absent and fetching otherwise
    /// (`refresh`: a mirror already there is brought up to date; else used as it is).
    pub fn open(url: &str, dir: &Path, refresh: bool) -> Result<Repo, ImportError> {
        let repo = Repo {
            url: url.to_string(),
            dir: dir.to_path_buf(),
        };
        if dir.join("HEAD").is_file() {
            if refresh {
                repo.git(&["fetch", "--quiet", "--prune", "--force", "origin"])?;
                // The remote's default branch may have moved.
                let _ = repo.git(&["remote", "set-head", "origin", "--auto"]);
            }
            return Ok(repo);
        }
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| repo.failed(format!("cannot create {}: {e}", parent.display())))?;
        }
        let tmp = pipe_cache::fsutil::unique_path(dir.parent().unwrap_or(dir), "clone");
        let o = run(Command::new("git")
            .args(["clone", "--mirror", "--quiet", "--"])
            .arg(url)
            .arg(&tmp))
        .map_err(|e| repo.cannot_run(&e))?;
        if !o.status.success() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(repo.failed(last_line(&o)));
        }
        if let Err(e) = std::fs::rename(&tmp, dir) {
            let _ = std::fs::remove_dir_all(&tmp);
            // Another pipe cloned it meanwhile: use that one.
            if !dir.join("HEAD").is_file() {
                return Err(repo.failed(format!("cannot move the clone to {}: {e}", dir.display())));
            }
        }
        Ok(repo)
    }

    fn cannot_run(&self, e: &std::io::Error) -> ImportError {
        self.failed(format!("cannot run git: {e}"))
    }

    fn failed(&self, why: String) -> ImportError {
        ImportError::Git {
            repo: self.url.clone(),
            why,
        }
    }

    fn git(&self, args: &[&str]) -> Result<Output, ImportError> {
        let o = run(Command::new("git").arg("-C").arg(&self.dir).args(args))
            .map_err(|e| self.cannot_run(&e))?;
        if !o.status.success() {
            return Err(self.failed(last_line(&o)));
        }
        Ok(o)
    }

    /// `rev` (a tag, a branch, a commit; `None`: the default branch) as a commit.
    pub fn resolve(&self, rev: Option<&str>) -> Result<Commit, ImportError> {
        let unknown = || ImportError::UnknownRev {
            repo: self.url.clone(),
            rev: rev.unwrap_or("HEAD").to_string(),
        };
        if rev.is_some_and(|r| r.starts_with('-') || r.is_empty()) {
            return Err(unknown());
        }
        let name = rev.unwrap_or("HEAD");
        let o = run(Command::new("git").arg("-C").arg(&self.dir).args([
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{name}^{{commit}}"),
        ]))
        .map_err(|e| self.cannot_run(&e))?;
        if !o.status.success() {
            return Err(unknown());
        }
        let sha = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let branch = match rev {
            None => true,
            Some(r) => run(Command::new("git").arg("-C").arg(&self.dir).args([
                "show-ref",
                "--verify",
                "--quiet",
                &format!("refs/heads/{r}"),
            ]))
            .is_ok_and(|o| o.status.success()),
        };
        Ok(Commit {
            sha,
            rev: rev.map(String::from),
            branch,
        })
    }

    /// The bytes of `path` at `commit`; `None` when the commit has no such file.
    pub fn show(&self, commit: &Commit, path: &str) -> Result<Option<Vec<u8>>, ImportError> {
        let spec = format!("{}:{path}", commit.sha);
        let exists = run(Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["cat-file", "-e", &spec]))
        .map_err(|e| self.cannot_run(&e))?;
        if !exists.status.success() {
            return Ok(None);
        }
        let o = self.git(&["cat-file", "blob", &spec])?;
        Ok(Some(o.stdout))
    }

    /// Every file of `commit`, repository-relative.
    pub fn files(&self, commit: &Commit) -> Result<Vec<String>, ImportError> {
        let o = self.git(&["ls-tree", "-r", "-z", "--name-only", &commit.sha])?;
        Ok(o.stdout
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect())
    }
}

/// Runs git without a terminal to ask for credentials, in the C locale (its messages are
/// passed on); an error only when git cannot be started.
fn run(cmd: &mut Command) -> std::io::Result<Output> {
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .output()
}

fn last_line(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    err.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| format!("git exited with {}", o.status))
}
