//! How pipe knows that a folder is its cache, and so that it may delete in it.
//!
//! pipe removes things in its cache: a dead process's temps (`tmp/`), corrupt objects
//! (`quarantine/`), unreferenced objects (`pipe gc`). Pointed (`cache.dir`) at a folder
//! that holds the user's own files, it must remove none of them. So a cache carries a mark,
//! written when pipe makes it:
//!
//! ```text
//! <cache>/CACHEDIR.TAG          the Cache Directory Tagging spec's tag (backup tools skip it)
//! <cache>/pipe-cache-version    "1": the layout version
//! ```
//!
//! Opening a cache ([`claim`]):
//!
//! - a missing or empty folder is made pipe's: both files are written;
//! - a folder with `pipe-cache-version` is pipe's (a version newer than this pipe knows is
//!   refused: an older pipe must not delete in a layout it does not know);
//! - a non-empty folder without it is *adopted* when it is unmistakably a cache made by a
//!   pipe from before the mark (below), and marked; any other is refused, and nothing in it
//!   is touched.
//!
//! The adoption rule: every name in it is one a pipe cache has, holding what pipe puts
//! there, checked all the way down (a listing of names, once):
//!
//! - `objects/`, `runs/`: only two-hex-digit fan-out directories, holding only names of 62
//!   hex digits (`runs/` also `.pipe-tmp-…`, the temps of a record being written);
//! - `quarantine/`: only names of 64 hex digits (corrupt objects);
//! - `tmp/`: only lease files `live-<pid>`, the `gate`, and names `.pipe-tmp-<pid>-…` or
//!   `clock-<pid>`;
//! - `roots/`: only names of 32 hex digits (the workspaces that use the cache) and
//!   `.pipe-tmp-…` (one being written): a cache whose mark could not be written (a failed
//!   write, a full disk) but that a workspace registered in is still adopted;
//! - the files `trusted`, `trusted.lk` (the table of hashed objects and its lock) and
//!   `.pipe-tmp-…` (its temp while written), and `CACHEDIR.TAG`.
//!
//! A user's folder with a `tmp/2024-results/` or a `notes.txt` fails it; a pipe cache
//! passes it whatever was stored, since pipe never wrote anything else.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

pub const VERSION_FILE: &str = "pipe-cache-version";
pub const TAG_FILE: &str = "CACHEDIR.TAG";
/// The layout this pipe writes and reads.
pub const VERSION: u32 = 1;

const TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by pipe (its content-addressed cache).\n\
# For information about cache directory tags, see https://bford.info/cachedir/\n";

/// How a folder became (or was found) pipe's cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// It carried the mark.
    Marked,
    /// It was missing or empty, and is marked now.
    Made,
    /// An unmarked cache of an older pipe, marked now.
    Adopted,
}

/// Why a folder is not taken as pipe's cache: the folder and what in it is not pipe's.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{} is not a pipe cache: it holds {}, which pipe did not make; pipe keeps its cache in an empty folder or one it made (marked by {VERSION_FILE}), and deletes files only there",
        dir.display(),
        list(found)
    )]
    Foreign {
        dir: std::path::PathBuf,
        found: Vec<String>,
    },
    #[error(
        "{} is a pipe cache of layout {found}, newer than this pipe knows ({VERSION}): upgrade pipe",
        dir.display()
    )]
    Newer { dir: std::path::PathBuf, found: u32 },
    #[error(transparent)]
    Io(#[from] Error),
}

fn list(found: &[String]) -> String {
    let shown: Vec<String> = found.iter().take(3).map(|f| format!("`{f}`")).collect();
    let more = found.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Makes sure `dir` is pipe's cache (see the module docs): marks a new one, adopts an old
/// one, refuses any other. With `shared_group`, the files it writes are group-writable.
pub fn claim(dir: &Path, shared_group: bool) -> Result<Claim, Refusal> {
    match fs::read_to_string(dir.join(VERSION_FILE)) {
        Ok(text) => {
            let found = text.trim().parse::<u32>().unwrap_or(u32::MAX);
            if found > VERSION {
                return Err(Refusal::Newer {
                    dir: dir.to_path_buf(),
                    found,
                });
            }
            if !dir.join(TAG_FILE).exists() {
                write_mark(dir, TAG_FILE, TAG, shared_group);
            }
            return Ok(Claim::Marked);
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read", dir.join(VERSION_FILE), e).into()),
    }
    let claim = match fs::read_dir(dir).map(|mut rd| rd.next().is_none()) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(dir).at("create directory", dir)?;
            if shared_group {
                let _ = fs::set_permissions(
                    dir,
                    fs::Permissions::from_mode(crate::fsutil::SHARED_DIR_MODE),
                );
            }
            Claim::Made
        }
        Err(e) => return Err(Error::io("list", dir, e).into()),
        Ok(true) => Claim::Made,
        Ok(false) => {
            let found = foreign(dir)?;
            if !found.is_empty() {
                return Err(Refusal::Foreign {
                    dir: dir.to_path_buf(),
                    found,
                });
            }
            tracing::debug!("{}: an older pipe's cache, marked now", dir.display());
            Claim::Adopted
        }
    };
    write_mark(dir, TAG_FILE, TAG, shared_group);
    write_mark(dir, VERSION_FILE, &format!("{VERSION}\n"), shared_group);
    Ok(claim)
}

/// Writes a mark file (best effort: a cache shared read-only is used unmarked).
fn write_mark(dir: &Path, name: &str, text: &str, shared_group: bool) {
    let p = dir.join(name);
    let mode = shared_group.then_some(crate::fsutil::SHARED_FILE_MODE);
    if let Err(e) = crate::fsutil::write_atomic_mode(&p, text.as_bytes(), true, mode) {
        tracing::debug!("cannot mark the cache: {e}");
    }
}

/// The names in `dir` (relative to it) that a pipe cache would not hold; empty when it is
/// unmistakably one (see the module docs).
fn foreign(dir: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for (name, is_dir) in names(dir)? {
        let ok = match (name.as_str(), is_dir) {
            ("objects", true) => fan_out(dir, &name, false, &mut found)?,
            ("runs", true) => fan_out(dir, &name, true, &mut found)?,
            ("quarantine", true) => {
                check_names(dir, &name, |n, d| !d && hex(n, 64), &mut found)?;
                true
            }
            ("tmp", true) => {
                check_names(dir, &name, |n, d| !d && tmp_name(n), &mut found)?;
                true
            }
            ("roots", true) => {
                let ok = |n: &str, d: bool| {
                    !d && (hex(n, 32) || n.starts_with(crate::rootdir::TEMP_PREFIX))
                };
                check_names(dir, &name, ok, &mut found)?;
                true
            }
            ("trusted" | "trusted.lk" | TAG_FILE, false) => true,
            (n, false) if n.starts_with(crate::rootdir::TEMP_PREFIX) => true,
            _ => false,
        };
        if !ok {
            found.push(if is_dir { format!("{name}/") } else { name });
        }
    }
    found.sort();
    Ok(found)
}

/// `objects/` or `runs/`: fan-out directories of hex names. Returns whether `top` itself is
/// fine (what is wrong inside is pushed to `found`).
fn fan_out(dir: &Path, top: &str, temps: bool, found: &mut Vec<String>) -> Result<bool> {
    for (sub, is_dir) in names(&dir.join(top))? {
        if !(is_dir && hex(&sub, 2)) {
            found.push(format!("{top}/{sub}"));
            continue;
        }
        check_names(
            dir,
            &format!("{top}/{sub}"),
            |n, d| !d && (hex(n, 62) || (temps && n.starts_with(crate::rootdir::TEMP_PREFIX))),
            found,
        )?;
    }
    Ok(true)
}

fn check_names(
    dir: &Path,
    rel: &str,
    ok: impl Fn(&str, bool) -> bool,
    found: &mut Vec<String>,
) -> Result<()> {
    for (n, is_dir) in names(&dir.join(rel))? {
        if !ok(&n, is_dir) {
            found.push(format!("{rel}/{n}{}", if is_dir { "/" } else { "" }));
        }
    }
    Ok(())
}

/// A name pipe makes in a cache's `tmp/`.
fn tmp_name(n: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    n == "gate"
        || n.strip_prefix("live-").is_some_and(digits)
        || n.strip_prefix("clock-").is_some_and(digits)
        || n.strip_prefix(crate::rootdir::TEMP_PREFIX)
            .and_then(|r| r.split_once('-'))
            .is_some_and(|(pid, _)| digits(pid))
}

fn hex(n: &str, len: usize) -> bool {
    n.len() == len && n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The names in `dir` and whether each is a directory (a link is not).
fn names(dir: &Path) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).at("list", dir)? {
        let e = e.at("list", dir)?;
        let is_dir = e.file_type().at("stat", &e.path())?.is_dir();
        out.push((e.file_name().to_string_lossy().into_owned(), is_dir));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_folder_is_marked_and_a_marked_one_is_taken() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("cache");
        assert_eq!(claim(&c, false).unwrap(), Claim::Made);
        assert_eq!(
            fs::read_to_string(c.join(VERSION_FILE)).unwrap(),
            format!("{VERSION}\n")
        );
        assert!(
            fs::read_to_string(c.join(TAG_FILE))
                .unwrap()
                .starts_with("Signature: 8a477f597d28d172789f06886806bc55")
        );
        // Marked, anything may be in it.
        fs::create_dir_all(c.join("tmp/whatever")).unwrap();
        assert_eq!(claim(&c, false).unwrap(), Claim::Marked);
        let empty = d.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert_eq!(claim(&empty, false).unwrap(), Claim::Made);
    }

    #[test]
    fn a_folder_of_the_users_files_is_refused_and_left_as_it_is() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path();
        fs::create_dir_all(c.join("tmp/2024-results")).unwrap();
        fs::write(c.join("tmp/2024-results/report.txt"), "r").unwrap();
        fs::write(c.join("tmp/12345-other.tmp"), "o").unwrap();
        fs::create_dir_all(c.join("objects")).unwrap();
        let e = claim(c, false).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(&e, Refusal::Foreign { found, .. } if found == &["tmp/12345-other.tmp", "tmp/2024-results/"]),
            "{msg}"
        );
        assert!(msg.contains("is not a pipe cache"), "{msg}");
        assert!(!c.join(VERSION_FILE).exists() && !c.join(TAG_FILE).exists());
        // A newer layout is refused too.
        let n = tempfile::tempdir().unwrap();
        fs::write(n.path().join(VERSION_FILE), "7\n").unwrap();
        assert!(matches!(
            claim(n.path(), false),
            Err(Refusal::Newer { found: 7, .. })
        ));
    }

    #[test]
    fn an_older_pipes_cache_is_adopted() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path();
        let h = "ab".to_string() + &"c".repeat(62);
        fs::create_dir_all(c.join("objects/ab")).unwrap();
        fs::write(c.join("objects/ab").join(&h[2..]), "x").unwrap();
        fs::create_dir_all(c.join("runs/ab")).unwrap();
        fs::write(c.join("runs/ab/.pipe-tmp-Xa1b2c"), "").unwrap();
        fs::create_dir_all(c.join("quarantine")).unwrap();
        fs::write(c.join("quarantine").join(&h), "y").unwrap();
        fs::create_dir_all(c.join("tmp")).unwrap();
        for n in ["live-12", "gate", ".pipe-tmp-12-0-abcd", "clock-12"] {
            fs::write(c.join("tmp").join(n), "").unwrap();
        }
        fs::write(c.join("trusted"), "").unwrap();
        fs::write(c.join("trusted.lk"), "").unwrap();
        fs::create_dir_all(c.join("roots")).unwrap();
        fs::write(c.join("roots").join("0123456789abcdef".repeat(2)), "{}").unwrap();
        assert_eq!(claim(c, false).unwrap(), Claim::Adopted);
        assert!(c.join(VERSION_FILE).exists() && c.join(TAG_FILE).exists());
        // One stray name and it is not.
        let d2 = tempfile::tempdir().unwrap();
        fs::create_dir_all(d2.path().join("objects/zz")).unwrap();
        assert!(matches!(
            claim(d2.path(), false),
            Err(Refusal::Foreign { found, .. }) if found == ["objects/zz"]
        ));
    }
}
