//! Reading a DVC project, for `pipe import-dvc`.
//!
//! ```text
//! DIR/
//!   dvc.yaml, sub/dvc.yaml   -> convert: pipe stages (one pipe.toml at DIR)
//!   dvc.lock, sub/dvc.lock   -> lock: which stages still match the workspace (md5)
//!   data/raw.dvc             -> dotdvc: tracked data ([data])
//!   .dvc/config              -> config: remotes (no credentials)
//!   .dvc/cache/files/md5/..  -> cache: objects for outs the workspace lacks
//! ```
//!
//! Nothing here writes anything: [`read`] gives an [`Import`] (the stages, the tracked
//! data, the remotes and the notes on what could not be carried), [`render::pipeline`]
//! turns it into pipe.toml's text, and `ops::import_dvc` writes and records.

pub mod cache;
pub mod config;
pub mod convert;
pub mod dotdvc;
pub mod lock;
pub mod md5;
pub mod missing_params;
pub mod render;
pub mod template;

use std::path::Path;

use crate::spec::{SourceFile, SpecError};

/// Something in the DVC project that pipe does not carry, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `dvc.yaml:12`
    pub at: String,
    pub what: String,
}

pub type Notes = Vec<Note>;

/// Everything read from a DVC project.
#[derive(Debug, Default)]
pub struct Import {
    pub stages: Vec<convert::StageDecl>,
    pub vars: toml::Table,
    pub params_files: Vec<String>,
    pub data: Vec<dotdvc::Tracked>,
    pub remotes: Vec<config::Remote>,
    pub default_remote: Option<String>,
    pub notes: Notes,
    /// The dvc.yaml files read (workspace-relative directories).
    pub dirs: Vec<String>,
}

/// Reads the DVC project at `root`.
pub fn read(root: &Path) -> Result<Import, SpecError> {
    let mut imp = Import::default();
    let mut found = Found::default();
    find(root, "", &mut found)
        .map_err(|e| SpecError::new(format!("cannot list {}: {e}", root.display())))?;
    let Found {
        mut yamls,
        mut dvcs,
        nested,
    } = found;
    yamls.sort();
    dvcs.sort();
    for n in nested {
        imp.notes.push(Note {
            at: convert::within(&n, ".dvc"),
            what: format!(
                "`{n}/` is a DVC project of its own: not imported, as DVC leaves it out of this one (import it with `pipe import-dvc {n}`)"
            ),
        });
    }
    // What git ignores DVC does not read (a stray `.dvc` file, an ignored directory).
    for path in git_ignored(root, &yamls, &dvcs) {
        imp.notes.push(Note {
            at: path.clone(),
            what: "ignored by git: not imported, as DVC skips it".to_string(),
        });
        yamls.retain(|d| convert::within(d, "dvc.yaml") != path);
        dvcs.retain(|d| *d != path);
    }
    if yamls.is_empty() && dvcs.is_empty() {
        return Err(SpecError::new(format!(
            "no dvc.yaml or .dvc file under {}",
            root.display()
        )));
    }
    let mut files = Vec::new();
    for dir in &yamls {
        let rel = convert::within(dir, "dvc.yaml");
        let abs = root.join(&rel);
        let text = std::fs::read_to_string(&abs)
            .map_err(|e| SpecError::new(format!("cannot read {}: {e}", abs.display())))?;
        let file = SourceFile {
            name: rel,
            text: text.into(),
        };
        let src = convert::Source {
            root,
            dir,
            file: &file,
        };
        let c = convert::convert(&src, &mut imp.notes)?;
        imp.stages.extend(c.stages);
        if dir.is_empty() {
            imp.vars = c.vars;
            imp.params_files = c.params_files;
        }
        imp.dirs.push(dir.clone());
        files.push((dir.clone(), file));
    }
    for (dir, file) in &files {
        let src = convert::Source { root, dir, file };
        convert::apply_top_level(&src, &mut imp.stages, &mut imp.notes)?;
    }
    let mut seen = std::collections::BTreeMap::new();
    for s in &imp.stages {
        if let Some(prev) = seen.insert(s.name.clone(), s.at.clone()) {
            return Err(SpecError::new(format!(
                "stages at {prev} and {} both become pipe stage `{}`",
                s.at, s.name
            )));
        }
    }
    for rel in &dvcs {
        imp.data.extend(dotdvc::read(root, rel, &mut imp.notes)?);
    }
    missing_params::prune(root, &mut imp);
    let (remotes, default) = config::read(root, &mut imp.notes)?;
    imp.remotes = remotes;
    imp.default_remote = default;
    Ok(imp)
}

/// What [`find`] finds.
#[derive(Default)]
struct Found {
    /// Directories holding a dvc.yaml (workspace-relative).
    yamls: Vec<String>,
    /// `.dvc` files.
    dvcs: Vec<String>,
    /// Subdirectories that are DVC projects of their own (they hold a `.dvc/`).
    nested: Vec<String>,
}

/// Finds dvc.yaml directories and `.dvc` files, skipping `.git`, `.dvc` and `.pipe`, and
/// nested DVC projects (as DVC does).
fn find(root: &Path, rel: &str, found: &mut Found) -> std::io::Result<()> {
    let dir = root.join(rel);
    for e in std::fs::read_dir(&dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let child = convert::within(rel, &name);
        let ft = e.file_type()?;
        if ft.is_dir() {
            if matches!(name.as_str(), ".git" | ".dvc" | ".pipe") {
                continue;
            }
            if root.join(&child).join(".dvc").is_dir() {
                found.nested.push(child);
                continue;
            }
            find(root, &child, found)?;
        } else if name == "dvc.yaml" {
            found.yamls.push(rel.to_string());
        } else if name.ends_with(".dvc") && ft.is_file() {
            found.dvcs.push(child);
        }
    }
    Ok(())
}

/// The dvc.yaml and `.dvc` files (workspace-relative) git ignores, asked of git itself
/// (`git check-ignore`, so every ignore source counts). Not a git work tree, or no git:
/// none, as DVC without git ignores nothing.
fn git_ignored(root: &Path, yamls: &[String], dvcs: &[String]) -> Vec<String> {
    use std::io::Write as _;
    let paths: Vec<String> = yamls
        .iter()
        .map(|d| convert::within(d, "dvc.yaml"))
        .chain(dvcs.iter().cloned())
        .collect();
    if paths.is_empty() || !root.join(".git").exists() {
        return Vec::new();
    }
    let child = std::process::Command::new("git")
        .args(["check-ignore", "--no-index", "-z", "--stdin"])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return Vec::new();
    };
    if let Some(mut stdin) = child.stdin.take() {
        let mut input = Vec::new();
        for p in &paths {
            input.extend_from_slice(p.as_bytes());
            input.push(0);
        }
        // A write error shows as git's output below.
        let _ = stdin.write_all(&input);
    }
    let Ok(out) = child.wait_with_output() else {
        return Vec::new();
    };
    // Exit 1: nothing ignored; 128: not a work tree or another failure.
    if !out.status.success() {
        return Vec::new();
    }
    out.stdout
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .filter(|s| paths.contains(s))
        .collect()
}
