//! `pipe init`: set a workspace up: `.pipe/` with its `.gitignore` and a commented
//! config, and, in a git repository, the lock merge driver and a managed block of outs in
//! the root `.gitignore` (kept current by later runs).
//!
//! Every file written here goes through the workspace's root (`Workspace::dir`); the root
//! `.gitignore` and `.gitattributes` are the user's files too, so each is read, edited
//! and written back under one flock (`.pipe/gitignore.lk`): a `pipe add` and the end of a
//! `pipe repro` in another terminal never lose each other's edit.

use std::path::Path;

use pipe_cache::RootDir;

use crate::error::{Error, Result};
use crate::report::printer::{self, Tone};
use crate::workspace::DOT;

const CONFIG_TEMPLATE: &str = "# pipe configuration (committed). Machine-specific settings and secrets go to\n# config.local.toml beside this file, which git ignores.\n\n[cache]\n# dir = \"/shared/pipe-cache\"             # a cache shared by several users or checkouts\n# link = [\"reflink\", \"copy\"]           # how outs are checked out, first that works\n# shared = \"group\"                        # group-writable cache\n\n# [remote.team]\n# url = \"s3://bucket/prefix\"              # or a directory on a shared filesystem\n# endpoint = \"http://127.0.0.1:9000\"      # for S3-compatible servers\n# [core]\n# remote = \"team\"\n";

pub const GITIGNORE_BEGIN: &str = "# >>> pipe outs (managed by pipe; edit the pipeline instead)";
pub const GITIGNORE_END: &str = "# <<< pipe outs";

pub fn init(root: &Path, outs: &[String]) -> Result<()> {
    let dot = root.join(DOT);
    let existed = dot.exists();
    let ws = crate::workspace::Workspace::open(&root.join("pipe.toml"))?;
    ws.dir.write_new(
        &format!("{DOT}/{}", crate::config::FILE),
        CONFIG_TEMPLATE.as_bytes(),
    )?;
    let p = printer::get();
    p.verb(
        if existed {
            "Reinitialized"
        } else {
            "Initialized"
        },
        Tone::Good,
        &format!("pipe workspace in {}", dot.display()),
    );
    if root.join(".git").exists() {
        set_up_git(&ws.dir)?;
        update_gitignore(&ws.dir, outs)?;
        p.verb(
            "Configured",
            Tone::Good,
            "git: lock merge driver and ignored outs",
        );
    }
    Ok(())
}

/// Holds an exclusive flock on `.pipe/gitignore.lk` while a command reads, edits and
/// writes back a file of the user's at the root (`.gitignore`, `.gitattributes`), so that
/// two commands ending at once never lose each other's edit.
fn edit_lock(dir: &RootDir) -> Result<std::fs::File> {
    let rel = format!("{DOT}/gitignore.lk");
    let f = dir.lock_file(&rel)?;
    f.lock()
        .map_err(|e| Error::Env(format!("cannot lock {}: {e}", dir.abs(&rel).display())))?;
    Ok(f)
}

/// Reads a file at the root; a missing one is empty.
fn read_root_file(dir: &RootDir, name: &str) -> Result<String> {
    let path = dir.abs(name);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::Env(format!("cannot read {}: {e}", path.display()))),
    }
}

fn set_up_git(dir: &RootDir) -> Result<()> {
    let line = "*.lock merge=pipe-lock";
    {
        let _held = edit_lock(dir)?;
        let cur = read_root_file(dir, ".gitattributes")?;
        if !cur.lines().any(|l| l.trim() == line) {
            let mut s = cur;
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(line);
            s.push('\n');
            dir.write_atomic(".gitattributes", s.as_bytes(), false)?;
        }
    }
    for (k, v) in [
        ("merge.pipe-lock.name", "pipe lock files, merged by stage"),
        ("merge.pipe-lock.driver", "pipe merge-lock %O %A %B"),
    ] {
        let st = std::process::Command::new("git")
            .args(["config", k, v])
            .current_dir(dir.path())
            .status()
            .map_err(|e| Error::Env(format!("cannot run git: {e}")))?;
        if !st.success() {
            return Err(Error::Env(format!("`git config {k}` failed")));
        }
    }
    Ok(())
}

/// Rewrites the managed block of the root `.gitignore` to list `outs`; only when the
/// block exists (or `pipe init` creates it). Read, edited and written back under
/// `edit_lock`, through the root (a `.gitignore` link is replaced, never written through).
pub fn update_gitignore(dir: &RootDir, outs: &[String]) -> Result<()> {
    let _held = edit_lock(dir)?;
    let cur = read_root_file(dir, ".gitignore")?;
    let mut block = String::new();
    block.push_str(GITIGNORE_BEGIN);
    block.push('\n');
    for o in outs {
        block.push('/');
        block.push_str(o);
        block.push('\n');
    }
    block.push_str(GITIGNORE_END);
    let next = match (cur.find(GITIGNORE_BEGIN), cur.find(GITIGNORE_END)) {
        (Some(a), Some(b)) if b > a => {
            format!("{}{}{}", &cur[..a], block, &cur[b + GITIGNORE_END.len()..])
        }
        _ => {
            let mut s = cur.clone();
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&block);
            s.push('\n');
            s
        }
    };
    if next != cur {
        dir.write_atomic(".gitignore", next.as_bytes(), false)?;
    }
    Ok(())
}

/// Keeps an existing managed block current (after a run); does nothing without one.
pub fn refresh_gitignore(dir: &RootDir, outs: &[String]) -> Result<()> {
    let cur = read_root_file(dir, ".gitignore")?;
    if cur.contains(GITIGNORE_BEGIN) {
        update_gitignore(dir, outs)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An edit of `.gitignore` waits for another command's: it starts from what that one
    /// wrote, so neither loses the other's lines.
    #[test]
    fn a_gitignore_edit_waits_for_the_one_in_progress() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(DOT)).unwrap();
        std::fs::write(d.path().join(".gitignore"), "/mine\n").unwrap();
        let dir = RootDir::open(d.path()).unwrap();
        let held = edit_lock(&dir).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let other = dir.clone();
        let t = std::thread::spawn(move || {
            let r = update_gitignore(&other, &["b.txt".to_string()]);
            tx.send(()).unwrap();
            r
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "it waits for the lock"
        );
        // The command holding it adds a line of its own meanwhile.
        std::fs::write(d.path().join(".gitignore"), "/mine\n/theirs\n").unwrap();
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        t.join().unwrap().unwrap();
        let text = std::fs::read_to_string(d.path().join(".gitignore")).unwrap();
        assert!(text.starts_with("/mine\n/theirs\n"), "{text}");
        assert!(text.contains("/b.txt\n"), "{text}");
    }
}
