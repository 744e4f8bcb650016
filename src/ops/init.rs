//! `pipe init`: set a workspace up: `.pipe/` with its `.gitignore` and a commented
//! config, and, in a git repository, the lock merge driver and a managed block of outs in
//! the root `.gitignore` (kept current by later runs).

use std::path::Path;

use crate::error::{Error, Result};
use crate::report::printer::{self, Tone};
use crate::workspace::DOT;

const CONFIG_TEMPLATE: &str = "# pipe configuration (committed). Machine-specific settings and secrets go to\n# config.local.toml beside this file, which git ignores.\n\n[cache]\n# dir = \"/shared/pipe-cache\"             # a cache shared by several users or checkouts\n# link = [\"reflink\", \"copy\"]           # how outs are checked out, first that works\n# shared = \"group\"                        # group-writable cache\n\n# [remote.team]\n# url = \"s3://bucket/prefix\"              # or a directory on a shared filesystem\n# endpoint = \"http://127.0.0.1:9000\"      # for S3-compatible servers\n# [core]\n# remote = \"team\"\n";

pub const GITIGNORE_BEGIN: &str = "# >>> pipe outs (managed by pipe; edit the pipeline instead)";
pub const GITIGNORE_END: &str = "# <<< pipe outs";

pub fn init(root: &Path, outs: &[String]) -> Result<()> {
    let dot = root.join(DOT);
    let existed = dot.exists();
    crate::workspace::Workspace::open(&root.join("pipe.toml"))?;
    let cfg = dot.join(crate::config::FILE);
    if !cfg.exists() {
        std::fs::write(&cfg, CONFIG_TEMPLATE)
            .map_err(|e| Error::Env(format!("cannot write {}: {e}", cfg.display())))?;
    }
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
        set_up_git(root)?;
        update_gitignore(root, outs)?;
        p.verb(
            "Configured",
            Tone::Good,
            "git: lock merge driver and ignored outs",
        );
    }
    Ok(())
}

fn set_up_git(root: &Path) -> Result<()> {
    let attrs = root.join(".gitattributes");
    let line = "*.lock merge=pipe-lock";
    let cur = std::fs::read_to_string(&attrs).unwrap_or_default();
    if !cur.lines().any(|l| l.trim() == line) {
        let mut s = cur;
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(line);
        s.push('\n');
        std::fs::write(&attrs, s)
            .map_err(|e| Error::Env(format!("cannot write {}: {e}", attrs.display())))?;
    }
    for (k, v) in [
        ("merge.pipe-lock.name", "pipe lock files, merged by stage"),
        ("merge.pipe-lock.driver", "pipe merge-lock %O %A %B"),
    ] {
        let st = std::process::Command::new("git")
            .args(["config", k, v])
            .current_dir(root)
            .status()
            .map_err(|e| Error::Env(format!("cannot run git: {e}")))?;
        if !st.success() {
            return Err(Error::Env(format!("`git config {k}` failed")));
        }
    }
    Ok(())
}

/// Rewrites the managed block of the root `.gitignore` to list `outs`; only when the
/// block exists (or `pipe init` creates it).
pub fn update_gitignore(root: &Path, outs: &[String]) -> Result<()> {
    let path = root.join(".gitignore");
    let cur = std::fs::read_to_string(&path).unwrap_or_default();
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
        std::fs::write(&path, next)
            .map_err(|e| Error::Env(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Keeps an existing managed block current (after a run); does nothing without one.
pub fn refresh_gitignore(root: &Path, outs: &[String]) -> Result<()> {
    let cur = std::fs::read_to_string(root.join(".gitignore")).unwrap_or_default();
    if cur.contains(GITIGNORE_BEGIN) {
        update_gitignore(root, outs)?;
    }
    Ok(())
}
