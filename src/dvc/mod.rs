//! Reading a DVC project, for `pipe import-dvc`.
//!
//! ```text
//! DIR/
//!   dvc.yaml, sub/dvc.yaml   -> convert: pipe stages (one pipe.toml at DIR)
//!   dvc.lock, sub/dvc.lock   -> lock: which stages still match the workspace (md5)
//!   data/raw.dvc             -> dotdvc: tracked data ([data])
//!   model.pkl.dvc, Dvcfile   -> stagefile: a stage (DVC before 1.0), its own lock
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
pub mod stagefile;
pub mod template;

use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::spec::limits::MOST_STAGES;
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
    /// What each single-stage file records of its stage's last run, by (directory, file
    /// name): such a file is its own lock.
    pub single_locks: std::collections::BTreeMap<(String, String), lock::LockedStage>,
}

/// Reads the DVC project at `root`.
pub fn read(root: &Path) -> Result<Import, SpecError> {
    let mut imp = Import::default();
    let mut found = Found::default();
    find(root, "", &mut found, &mut Ignores::new(), None)
        .map_err(|e| SpecError::new(format!("cannot list {}: {e}", root.display())))?;
    let Found {
        mut yamls,
        mut dvcs,
        nested,
        dvcignored,
        dvcignore_files,
    } = found;
    yamls.sort();
    dvcs.sort();
    for f in dvcignore_files {
        imp.notes.push(Note {
            at: f,
            what: "what it hides inside a directory out is not carried: pipe reads `.pipeignore` (the same syntax) when it hashes a directory; copy the patterns there to keep such files out".to_string(),
        });
    }
    for (path, why) in dvcignored {
        imp.notes.push(Note {
            at: path,
            what: format!("ignored by {why}: not imported, as DVC skips it"),
        });
    }
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
        if imp.stages.len().saturating_add(c.stages.len()) > MOST_STAGES {
            return Err(SpecError::new(format!(
                "{} makes {} stages, and the dvc.yaml files read before it {}; a pipeline holds at most {MOST_STAGES}",
                file.name,
                c.stages.len(),
                imp.stages.len()
            )));
        }
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
    for rel in &dvcs {
        match dotdvc::read(root, rel, &mut imp.notes)? {
            dotdvc::DotDvc::Data(d) => imp.data.extend(d),
            dotdvc::DotDvc::Stage(st, lock) => {
                imp.single_locks
                    .insert((st.dir.clone(), st.dvc_name.clone()), *lock);
                imp.stages.push(*st);
            }
        }
    }
    disambiguate(&mut imp.stages, &mut imp.notes);
    missing_params::prune(root, &mut imp);
    let (remotes, default) = config::read(root, &mut imp.notes)?;
    imp.remotes = remotes;
    imp.default_remote = default;
    Ok(imp)
}

/// DVC stages that would share a pipe name (`train@a` and a stage named `train.a`; `sub.x`
/// and `x` of `sub/dvc.yaml`), which DVC keeps apart, are kept apart: the one whose DVC
/// name is already the pipe name (a root stage needing no change) keeps it, or else the
/// first by (directory, DVC name); each other one gets `NAME_2`, `NAME_3`, ..., said once
/// with both spellings.
fn disambiguate(stages: &mut [convert::StageDecl], notes: &mut Notes) {
    use std::collections::{BTreeMap, BTreeSet};
    let address = |s: &convert::StageDecl| {
        if s.single_stage_file {
            // A single-stage file: its path.
            convert::within(&s.dir, &s.dvc_name)
        } else if s.dir.is_empty() {
            s.dvc_name.clone()
        } else {
            format!("{}:{}", convert::within(&s.dir, "dvc.yaml"), s.dvc_name)
        }
    };
    let mut by: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, s) in stages.iter().enumerate() {
        by.entry(s.name.clone()).or_default().push(i);
    }
    let mut taken: BTreeSet<String> = by.keys().cloned().collect();
    for (name, idx) in by.into_iter().filter(|(_, v)| v.len() > 1) {
        let mut order = idx;
        order.sort_by_key(|&i| {
            let s = &stages[i];
            let literal = s.dir.is_empty() && s.dvc_name == s.name;
            (!literal, s.dir.clone(), s.dvc_name.clone())
        });
        let keeper = address(&stages[order[0]]);
        for &i in &order[1..] {
            let mut n = 2;
            let new = loop {
                let c = format!("{name}_{n}");
                if taken.insert(c.clone()) {
                    break c;
                }
                n += 1;
            };
            notes.push(Note {
                at: stages[i].at.clone(),
                what: format!(
                    "stage `{}` is `{new}` in pipe: `{name}` is taken by stage `{keeper}`",
                    address(&stages[i])
                ),
            });
            stages[i].name = new;
        }
    }
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
    /// dvc.yaml and `.dvc` files a `.dvcignore` hides (path, and the pattern:
    /// `` `.dvcignore:3` (`data/`) ``).
    dvcignored: Vec<(String, String)>,
    /// `.dvcignore` files with at least one pattern.
    dvcignore_files: Vec<String>,
}

/// The `.dvcignore` files met on the way down, deepest last: each one's directory
/// (workspace-relative), matcher and text (to give a pattern's line).
type Ignores = Vec<(String, Gitignore, String)>;

/// Whether the `.dvcignore` files in `ignores` hide `child` (workspace-relative): the
/// deepest file with a pattern that matches decides, and its last matching pattern (a
/// `!pattern` brings a path back), as git and DVC read such files. Returns the pattern,
/// as `` `sub/.dvcignore:3` (`*.dvc`) ``.
fn dvcignored(ignores: &Ignores, child: &str, is_dir: bool) -> Option<String> {
    for (dir, gi, text) in ignores.iter().rev() {
        let rel = child
            .strip_prefix(dir.as_str())
            .map(|r| r.trim_start_matches('/'))
            .unwrap_or(child);
        match gi.matched(rel, is_dir) {
            ignore::Match::None => continue,
            ignore::Match::Whitelist(_) => return None,
            ignore::Match::Ignore(g) => {
                let line = text
                    .lines()
                    .position(|l| l.trim_end() == g.original())
                    .map_or(String::new(), |i| format!(":{}", i + 1));
                return Some(format!(
                    "`{}{line}` (`{}`)",
                    convert::within(dir, ".dvcignore"),
                    g.original()
                ));
            }
        }
    }
    None
}

/// The `.dvcignore` of directory `rel`, if it has one, read with gitignore's syntax.
fn read_dvcignore(root: &Path, rel: &str) -> std::io::Result<Option<(Gitignore, String)>> {
    let path = root.join(rel).join(".dvcignore");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut b = GitignoreBuilder::new(root.join(rel));
    for line in text.lines() {
        b.add_line(None, line).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
    }
    let gi = b.build().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })?;
    Ok(Some((gi, text)))
}

/// Finds dvc.yaml directories and `.dvc` files, skipping `.git`, `.dvc` and `.pipe`, and
/// nested DVC projects (as DVC does). What a `.dvcignore` hides (a file, or anything under
/// a directory it hides) is kept apart, to be named, as DVC never reads it. `hidden` is
/// the pattern that hid this directory, if one did.
fn find(
    root: &Path,
    rel: &str,
    found: &mut Found,
    ignores: &mut Ignores,
    hidden: Option<&str>,
) -> std::io::Result<()> {
    let dir = root.join(rel);
    let own = match hidden {
        None => read_dvcignore(root, rel)?,
        Some(_) => None,
    };
    let pushed = own.is_some();
    if let Some((gi, text)) = own {
        if !gi.is_empty() {
            found
                .dvcignore_files
                .push(convert::within(rel, ".dvcignore"));
        }
        ignores.push((rel.to_string(), gi, text));
    }
    let mut entries = std::fs::read_dir(&dir)?.collect::<std::io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let child = convert::within(rel, &name);
        let ft = e.file_type()?;
        let is_dir = ft.is_dir();
        let why = match hidden {
            Some(h) => Some(h.to_string()),
            None if is_dir || name == "dvc.yaml" || name.ends_with(".dvc") || name == "Dvcfile" => {
                dvcignored(ignores, &child, is_dir)
            }
            None => None,
        };
        if is_dir {
            if matches!(name.as_str(), ".git" | ".dvc" | ".pipe") {
                continue;
            }
            if root.join(&child).join(".dvc").is_dir() {
                if why.is_none() {
                    found.nested.push(child);
                }
                continue;
            }
            find(root, &child, found, ignores, why.as_deref())?;
        } else if name == "dvc.yaml"
            || ((name.ends_with(".dvc") || name == "Dvcfile") && ft.is_file())
        {
            match why {
                Some(w) => found.dvcignored.push((child, w)),
                None if name == "dvc.yaml" => found.yamls.push(rel.to_string()),
                None => found.dvcs.push(child),
            }
        }
    }
    if pushed {
        ignores.pop();
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
    let mut input = Vec::new();
    for p in &paths {
        input.extend_from_slice(p.as_bytes());
        input.push(0);
    }
    // Written from a thread while this one reads: git answers path by path, so with
    // thousands of paths its output fills the pipe before it has read all of its input.
    let writer = child.stdin.take().map(|mut stdin| {
        std::thread::spawn(move || {
            // A write error shows as git's exit status below.
            let _ = stdin.write_all(&input);
        })
    });
    let out = child.wait_with_output();
    if let Some(w) = writer {
        let _ = w.join();
    }
    let Ok(out) = out else {
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
