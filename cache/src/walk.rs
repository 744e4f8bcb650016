//! Walking a directory tree: every regular file below a root, with the stat fields that
//! key the state db.
//!
//! The walk honours `.pipeignore` files (gitignore syntax) in the tree and in the walked
//! directory's ancestors, never lists `.pipe` or `.git` (directory or file), follows symbolic links
//! (a linked file counts as its content; a link cycle is an error), and spreads directories
//! over rayon's pool. It reads each directory once and stats each file once, relative to
//! its directory, which is about all the work a tree of unchanged files costs. The result is
//! sorted by path, so that a manifest built from it is canonical.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rayon::prelude::*;

use crate::error::{Error, IoContext, Result};

/// Name of the ignore files the walk honours.
pub const IGNORE_FILE: &str = ".pipeignore";

/// A regular file's identity as far as change detection is concerned. The ctime is in it
/// (as in git's index): `touch -d` can put an mtime back, but any write, chmod or rename
/// moves the ctime to now, so a same-size rewrite with its old mtime is still seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub exec: bool,
}

impl Stat {
    pub fn from_metadata(m: &fs::Metadata) -> Self {
        Stat {
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            exec: m.mode() & 0o111 != 0,
        }
    }
}

/// One file found by a walk: its path relative to the walked root (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkedFile {
    pub rel: String,
    pub stat: Stat,
}

/// What a path is on disk.
#[derive(Debug, Clone)]
pub enum PathStat {
    Missing,
    File(Stat),
    Dir,
}

/// Stats a path, following symbolic links.
pub fn stat_path(path: &Path) -> Result<PathStat> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(PathStat::Dir),
        Ok(m) if m.is_file() => Ok(PathStat::File(Stat::from_metadata(&m))),
        Ok(_) => Err(Error::invalid(
            path,
            "is neither a regular file nor a directory",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PathStat::Missing),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

/// The first symbolic link at `path` or anywhere below it (never followed), in no
/// particular order; `None` when there is none (or `path` does not exist). Cheap: the
/// directory entries' types tell links apart without a stat. `.pipe` and `.git` are
/// skipped as the walk skips them.
pub fn find_symlink(path: &Path) -> Result<Option<PathBuf>> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("stat", path, e)),
    };
    if meta.file_type().is_symlink() {
        return Ok(Some(path.to_path_buf()));
    }
    if !meta.is_dir() {
        return Ok(None);
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).at("read directory", &dir)? {
            let entry = entry.at("read directory", &dir)?;
            let ft = entry.file_type().at("stat", &entry.path())?;
            if ft.is_symlink() {
                return Ok(Some(entry.path()));
            }
            let name = entry.file_name();
            if ft.is_dir() && name != ".pipe" && name != ".git" {
                stack.push(entry.path());
            }
        }
    }
    Ok(None)
}

/// The ignore rules in force in one directory: its own `.pipeignore` and its parents'.
#[derive(Clone, Default)]
struct Rules(Vec<Arc<Gitignore>>);

impl Rules {
    fn with_file_in(&self, dir: &Path) -> Result<Rules> {
        let f = dir.join(IGNORE_FILE);
        if !f.is_file() {
            return Ok(self.clone());
        }
        let mut b = GitignoreBuilder::new(dir);
        if let Some(e) = b.add(&f) {
            return Err(Error::invalid(&f, e.to_string()));
        }
        let gi = b.build().map_err(|e| Error::invalid(&f, e.to_string()))?;
        let mut v = self.0.clone();
        v.push(Arc::new(gi));
        Ok(Rules(v))
    }

    fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        // The deepest file that has an opinion decides, as in git.
        for gi in self.0.iter().rev() {
            let m = gi.matched(path, is_dir);
            if m.is_ignore() {
                return true;
            }
            if m.is_whitelist() {
                return false;
            }
        }
        false
    }
}

/// Every regular file below `root`, sorted by relative path.
///
/// Level by level: the directories of one level are read in parallel, and what they hold
/// below them is the next level. Nothing recurses, so no depth of nesting overflows a
/// thread's stack (a chain of a thousand directories did, in the recursive walk of before).
pub fn walk_dir(root: &Path) -> Result<Vec<WalkedFile>> {
    fs::metadata(root).at("read directory", root)?;
    let mut rules = Rules::default();
    let ancestors: Vec<&Path> = root.ancestors().skip(1).collect();
    for a in ancestors.into_iter().rev() {
        rules = rules.with_file_in(a)?;
    }
    let mut out = Vec::new();
    let mut level = vec![Pending {
        path: root.to_path_buf(),
        rel: String::new(),
        parent_rules: Arc::new(rules),
        real: Arc::new(Above {
            real: fs::canonicalize(root).at("resolve", root)?,
            up: None,
        }),
    }];
    while !level.is_empty() {
        let read: Vec<Result<(Vec<WalkedFile>, Vec<Pending>)>> =
            level.into_par_iter().map(read_one).collect();
        let mut next = Vec::new();
        for r in read {
            let (files, below) = r?;
            out.extend(files);
            next.extend(below);
        }
        level = next;
    }
    out.par_sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// A directory still to read.
struct Pending {
    path: PathBuf,
    /// Its path below the walk's root ("" for the root).
    rel: String,
    /// The ignore rules in force above it (its own file adds to them).
    parent_rules: Arc<Rules>,
    /// Its real path, and those of the directories above it.
    real: Arc<Above>,
}

/// The real paths of a directory and of those above it, shared by everything below: a
/// directory reached through a link that is one of them is a cycle.
struct Above {
    real: PathBuf,
    up: Option<Arc<Above>>,
}

impl Above {
    fn contains(&self, p: &Path) -> bool {
        let mut at = Some(self);
        while let Some(a) = at {
            if a.real == p {
                return true;
            }
            at = a.up.as_deref();
        }
        false
    }
}

/// Reads one directory: its files, and its subdirectories to read next.
fn read_one(d: Pending) -> Result<(Vec<WalkedFile>, Vec<Pending>)> {
    use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

    let dir = &d.path;
    let prefix = d.rel.as_str();
    let rules = d.parent_rules.with_file_in(dir)?;
    let io = |e: rustix::io::Errno| std::io::Error::from_raw_os_error(e.raw_os_error());
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("read directory", dir, io(e)))?;
    let entries = Dir::read_from(&fd).map_err(|e| Error::io("read directory", dir, io(e)))?;
    let mut subdirs: Vec<(PathBuf, String, bool)> = Vec::new();
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read directory", dir, io(e)))?;
        let cname = entry.file_name();
        let bytes = cname.to_bytes();
        // `.git` and `.pipe` are never part of a tree, whatever their type (a `.git` file
        // is a submodule's link to its repository): see `manifest`'s rules.
        if matches!(bytes, b"." | b".." | b".git" | b".pipe") {
            continue;
        }
        let Ok(name) = std::str::from_utf8(bytes) else {
            return Err(Error::invalid(
                dir.join(String::from_utf8_lossy(bytes).as_ref()),
                "file name is not valid UTF-8",
            ));
        };
        // Stat relative to the open directory: no path to resolve, no allocation. A link
        // is followed (its target's kind and content count).
        let ft = entry.file_type();
        let follow = ft == FileType::Symlink || ft == FileType::Unknown;
        let flags = if follow {
            AtFlags::empty()
        } else {
            AtFlags::SYMLINK_NOFOLLOW
        };
        let st = if ft == FileType::Directory {
            None
        } else {
            Some(rustix::fs::statat(&fd, cname, flags).map_err(|e| {
                let what = if ft == FileType::Symlink {
                    "follow symbolic link"
                } else {
                    "stat"
                };
                Error::io(what, dir.join(name), io(e))
            })?)
        };
        let is_dir = match &st {
            None => true,
            Some(st) => FileType::from_raw_mode(st.st_mode) == FileType::Directory,
        };
        if !rules.0.is_empty() && rules.ignored(&dir.join(name), is_dir) {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            let mut r = String::with_capacity(prefix.len() + 1 + name.len());
            r.push_str(prefix);
            r.push('/');
            r.push_str(name);
            r
        };
        if is_dir {
            subdirs.push((dir.join(name), rel, follow));
            continue;
        }
        let Some(st) = st else { continue };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(Error::invalid(
                dir.join(name),
                "is neither a regular file nor a directory",
            ));
        }
        out.push(WalkedFile {
            rel,
            stat: Stat {
                ino: st.st_ino,
                size: st.st_size as u64,
                mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec as i64,
                ctime_ns: st.st_ctime * 1_000_000_000 + st.st_ctime_nsec as i64,
                exec: st.st_mode & 0o111 != 0,
            },
        });
    }
    drop(fd);
    let rules = Arc::new(rules);
    let mut below = Vec::with_capacity(subdirs.len());
    for (path, rel, linked) in subdirs {
        // Only links cost a syscall: a directory's real path is its parent's and its name.
        let real = if linked {
            fs::canonicalize(&path).at("resolve", &path)?
        } else {
            d.real.real.join(path.file_name().unwrap_or_default())
        };
        if linked && d.real.contains(&real) {
            return Err(Error::invalid(&path, "symbolic link cycle"));
        }
        below.push(Pending {
            path,
            rel,
            parent_rules: rules.clone(),
            real: Arc::new(Above {
                real,
                up: Some(d.real.clone()),
            }),
        });
    }
    Ok((out, below))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of nested directories as deep as a path can reach (2 bytes a level, PATH_MAX
    /// 4096): the recursive walk of before overflowed a thread's stack at about a thousand.
    #[test]
    fn a_chain_of_nested_directories_as_deep_as_a_path_goes_is_walked() {
        let d = tempfile::tempdir().unwrap();
        let depth = (4000 - d.path().as_os_str().len()) / 2;
        let mut p = d.path().to_path_buf();
        for _ in 0..depth {
            p.push("a");
        }
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("f"), "x").unwrap();
        let files = walk_dir(d.path()).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].rel, format!("{}f", "a/".repeat(depth)));
    }

    #[test]
    fn walk_is_sorted_and_honours_pipeignore() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("b/c")).unwrap();
        fs::create_dir_all(r.join(".git")).unwrap();
        fs::create_dir_all(r.join("logs")).unwrap();
        fs::write(r.join("b/c/z.txt"), "z").unwrap();
        fs::write(r.join("b/c/keep.log"), "z").unwrap();
        fs::write(r.join("b/c/.pipeignore"), "!keep.log\n").unwrap();
        fs::write(r.join("a.txt"), "a").unwrap();
        fs::write(r.join("skip.log"), "x").unwrap();
        fs::write(r.join("logs/x"), "x").unwrap();
        fs::write(r.join(".git/HEAD"), "x").unwrap();
        // A submodule's `.git` file and a `.pipe` anywhere are skipped as `.git/` is.
        fs::write(r.join("b/c/.git"), "gitdir: /elsewhere\n").unwrap();
        fs::create_dir_all(r.join("b/.pipe")).unwrap();
        fs::write(r.join("b/.pipe/x"), "x").unwrap();
        fs::write(r.join(IGNORE_FILE), "*.log\nlogs/\n").unwrap();
        let files: Vec<String> = walk_dir(r).unwrap().into_iter().map(|f| f.rel).collect();
        assert_eq!(
            files,
            vec![
                IGNORE_FILE,
                "a.txt",
                "b/c/.pipeignore",
                "b/c/keep.log",
                "b/c/z.txt"
            ]
        );
    }

    #[test]
    fn follows_links_and_refuses_cycles() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("t/real")).unwrap();
        fs::write(r.join("t/real/f"), "f").unwrap();
        std::os::unix::fs::symlink(r.join("t/real"), r.join("t/link")).unwrap();
        let files: Vec<String> = walk_dir(&r.join("t"))
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(files, vec!["link/f", "real/f"]);
        std::os::unix::fs::symlink(r.join("t"), r.join("t/real/up")).unwrap();
        let err = walk_dir(&r.join("t")).unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");
    }

    #[test]
    fn stat_kinds() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            stat_path(&d.path().join("nope")).unwrap(),
            PathStat::Missing
        ));
        assert!(matches!(stat_path(d.path()).unwrap(), PathStat::Dir));
        fs::write(d.path().join("f"), "12345").unwrap();
        match stat_path(&d.path().join("f")).unwrap() {
            PathStat::File(s) => assert_eq!(s.size, 5),
            other => panic!("{other:?}"),
        }
    }
}
