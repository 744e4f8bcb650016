//! Files as they were at a git revision, read through git without a checkout.
//!
//! `Rev::Workspace` is the working tree; `Rev::Git` a commit-ish that git can resolve
//! (`HEAD`, `HEAD~2`, a branch, a tag, a hash). Reads go through one
//! `git cat-file --batch` per revision, so a thousand cells' metrics files cost one
//! process, not a thousand. Paths are workspace-relative; the workspace may sit in a
//! subdirectory of the repository (`git rev-parse --show-prefix` says where).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::CompareError;
use crate::error::Result;

/// Where to read a file from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rev {
    Workspace,
    /// As the user wrote it, and the commit it resolves to.
    Git {
        name: String,
        commit: String,
    },
}

impl Rev {
    /// What a column heading says: `workspace`, or the name the user gave.
    pub fn label(&self) -> &str {
        match self {
            Rev::Workspace => "workspace",
            Rev::Git { name, .. } => name,
        }
    }
}

/// The git repository holding a workspace.
pub struct Repo {
    /// The workspace root (git runs there).
    root: PathBuf,
    /// The workspace's path inside the repository, `""` or ending in `/`.
    prefix: String,
}

fn git(root: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(root)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null());
    c
}

/// What git answered: its output, or (it exited non-zero) what it said on stderr.
enum Answer {
    Out(String),
    Refused(String),
}

/// Runs git in `root`; an error only when git cannot be started.
fn run(root: &Path, args: &[&str]) -> Result<Answer> {
    let out = git(root).args(args).output().map_err(CompareError::Git)?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    Ok(if out.status.success() {
        Answer::Out(text(&out.stdout))
    } else {
        Answer::Refused(text(&out.stderr))
    })
}

impl Repo {
    /// The repository around `root`; an error (exit 2) when there is none.
    pub fn open(root: &Path) -> Result<Repo> {
        match run(root, &["rev-parse", "--show-prefix"])? {
            Answer::Out(prefix) => Ok(Repo {
                root: root.to_path_buf(),
                prefix,
            }),
            Answer::Refused(why) => Err(CompareError::NotARepo {
                root: root.to_path_buf(),
                why,
            }
            .into()),
        }
    }

    /// `workspace` (any case) or a git revision, resolved to its commit.
    pub fn rev(&self, name: &str) -> Result<Rev> {
        if name.eq_ignore_ascii_case("workspace") {
            return Ok(Rev::Workspace);
        }
        let spec = format!("{name}^{{commit}}");
        match run(&self.root, &["rev-parse", "--verify", "--quiet", &spec])? {
            Answer::Out(commit) if !commit.is_empty() => Ok(Rev::Git {
                name: name.to_string(),
                commit,
            }),
            _ => Err(CompareError::NotARev {
                name: name.to_string(),
                root: self.root.clone(),
            }
            .into()),
        }
    }

    /// The contents of workspace-relative `paths` at `commit`; `None` where the path is not
    /// in that commit's tree.
    pub fn read_all(&self, commit: &str, paths: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let mut child = git(&self.root)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(CompareError::CatFileSpawn)?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or(CompareError::CatFilePipe("stdin"))?;
        let request: String = paths
            .iter()
            .map(|p| format!("{commit}:{}{p}\n", self.prefix))
            .collect();
        // Written from a thread: git answers while it reads, and both pipes are bounded.
        let writer = std::thread::spawn(move || {
            let r = stdin.write_all(request.as_bytes());
            drop(stdin);
            r
        });
        let stdout = child
            .stdout
            .take()
            .ok_or(CompareError::CatFilePipe("stdout"))?;
        let mut rd = BufReader::new(stdout);
        let broken = |what: &str| CompareError::CatFileOdd(what.to_string());
        let mut out = Vec::with_capacity(paths.len());
        for _ in paths {
            let mut header = String::new();
            rd.read_line(&mut header)
                .map_err(CompareError::CatFileRead)?;
            let fields: Vec<&str> = header.split_whitespace().collect();
            match fields.as_slice() {
                [_, "missing"] | [_, "ambiguous"] => out.push(None),
                [_, "blob", size] => {
                    let n: usize = size.parse().map_err(|_| broken(&header))?;
                    let mut buf = vec![0; n + 1];
                    rd.read_exact(&mut buf).map_err(CompareError::CatFileRead)?;
                    buf.pop();
                    out.push(Some(buf));
                }
                // A tree (a directory) or anything else: not a file there.
                [_, _, size] => {
                    let n: u64 = size.parse().map_err(|_| broken(&header))?;
                    std::io::copy(&mut (&mut rd).take(n + 1), &mut std::io::sink())
                        .map_err(CompareError::CatFileRead)?;
                    out.push(None);
                }
                _ => return Err(broken(&header).into()),
            }
        }
        let _ = writer.join();
        let _ = child.wait();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn reads_files_at_a_revision_from_a_subdirectory_workspace() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("study");
        std::fs::create_dir_all(ws.join("reports")).unwrap();
        std::fs::write(ws.join("reports/eval.json"), "{\"f1\": 0.5}").unwrap();
        sh(d.path(), &["init", "-q"]);
        sh(d.path(), &["add", "."]);
        sh(d.path(), &["commit", "-q", "-m", "one"]);
        std::fs::write(ws.join("reports/eval.json"), "{\"f1\": 0.7}").unwrap();
        sh(d.path(), &["commit", "-q", "-am", "two"]);

        let repo = Repo::open(&ws).unwrap();
        let Rev::Git { commit, .. } = repo.rev("HEAD~1").unwrap() else {
            panic!("HEAD~1 is a commit")
        };
        let got = repo
            .read_all(
                &commit,
                &[
                    "reports/eval.json".into(),
                    "nope.json".into(),
                    "reports".into(),
                ],
            )
            .unwrap();
        assert_eq!(got[0].as_deref(), Some(&b"{\"f1\": 0.5}"[..]));
        assert_eq!(got[1], None);
        assert_eq!(got[2], None, "a directory is not a file");
        assert_eq!(repo.rev("workspace").unwrap(), Rev::Workspace);
        let e = repo.rev("no-such-branch").unwrap_err().to_string();
        assert!(e.contains("`no-such-branch` is not a git revision"), "{e}");
    }

    #[test]
    fn outside_a_repository_the_error_says_so() {
        let d = tempfile::tempdir().unwrap();
        let e = Repo::open(d.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("is not in a git repository"), "{e}");
    }
}
