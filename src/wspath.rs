//! `WsPath`: a path relative to the workspace root that cannot escape it.
//!
//! Pipelines name deps and outs relative to their stage's `wdir`; everything after the spec
//! parser works with these normalised, `/`-separated, workspace-relative paths, so two
//! spellings of one file (`data/./x`, `sub/../data/x`) are one path, and nothing can point
//! outside the workspace. A `WsPath` read back from disk (the lock, its journal, run-cache
//! and experiment records) is checked the same way as it is deserialized: a path that
//! would leave the workspace never becomes one. It borrows as a `str`, so maps keyed by
//! paths are looked up with `path.as_str()` as well as with `&path`.

use std::borrow::Borrow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct WsPath(String);

/// As written (`""` is the root, as [`WsPath::as_str`] gives it), checked as [`WsPath::parse`]
/// checks a path of a pipeline.
impl<'de> Deserialize<'de> for WsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(WsPath::root());
        }
        WsPath::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Equality, order and hash are the string's: a map keyed by `WsPath` is looked up by `&str`.
impl Borrow<str> for WsPath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsPathError {
    #[error("`{0}` is absolute; paths in a pipeline are relative to it")]
    Absolute(String),
    #[error("`{0}` leaves the workspace")]
    Escapes(String),
    #[error("the path is empty")]
    Empty,
    /// A newline would split a `.gitignore` pattern in two, a NUL cannot be a file name,
    /// and no control character can be shown or typed back: all are refused.
    #[error("{0:?} holds the control character {1}; paths in a pipeline must be printable")]
    Control(String, String),
    /// No file system holds a longer name: refused where the path is written, not when
    /// the stage's command first fails to make it.
    #[error("{0} is a name of {1} bytes; a file or directory name holds at most {LONGEST_NAME}")]
    NameTooLong(String, usize),
    /// No system call takes a longer path (Linux's `PATH_MAX` less its NUL).
    #[error("the path is {0} bytes; a path holds at most {LONGEST_PATH}")]
    TooLong(usize),
}

/// The longest file or directory name, in bytes (Linux, macOS and NTFS alike).
pub const LONGEST_NAME: usize = 255;

/// The longest path relative to the workspace, in bytes.
pub const LONGEST_PATH: usize = 4095;

/// A name as an error shows it, quoted: whole when short, else its first 60 characters.
fn quoted(name: &str) -> String {
    match name.char_indices().nth(60) {
        None => format!("`{name}`"),
        Some((end, _)) => format!("`{}...`", &name[..end]),
    }
}

impl WsPath {
    /// The workspace root itself.
    pub fn root() -> Self {
        WsPath(String::new())
    }

    /// Joins `rel` (as written in a pipeline) onto `base` and normalises it.
    pub fn join(base: &WsPath, rel: &str) -> Result<WsPath, WsPathError> {
        if rel.is_empty() {
            return Err(WsPathError::Empty);
        }
        if let Some(c) = rel.chars().find(|c| c.is_control()) {
            return Err(WsPathError::Control(
                rel.to_string(),
                format!("U+{:04X}", u32::from(c)),
            ));
        }
        if rel.starts_with('/') {
            return Err(WsPathError::Absolute(rel.to_string()));
        }
        let mut parts: Vec<&str> = base.components().collect();
        for c in rel.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(WsPathError::Escapes(rel.to_string()));
                    }
                }
                c if c.len() > LONGEST_NAME => {
                    return Err(WsPathError::NameTooLong(quoted(c), c.len()));
                }
                c => parts.push(c),
            }
        }
        let path = parts.join("/");
        if path.len() > LONGEST_PATH {
            return Err(WsPathError::TooLong(path.len()));
        }
        Ok(WsPath(path))
    }

    /// Parses a path already relative to the workspace root.
    pub fn parse(rel: &str) -> Result<WsPath, WsPathError> {
        WsPath::join(&WsPath::root(), rel)
    }

    /// A value for range queries over ordered `WsPath` keys only (`data/` .. `data0`): it
    /// is not a normalised path.
    pub(crate) fn range_bound(s: String) -> WsPath {
        WsPath(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// True when `self` is `other` or lies inside it.
    pub fn is_within(&self, other: &WsPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.starts_with(&other.0)
                && self.0.as_bytes()[other.0.len()] == b'/')
    }

    /// `self` and `other` are the same path or one contains the other.
    pub fn overlaps(&self, other: &WsPath) -> bool {
        self.is_within(other) || other.is_within(self)
    }

    /// Every proper ancestor, nearest first (not the root).
    pub fn ancestors(&self) -> impl Iterator<Item = &str> {
        let s = self.0.as_str();
        s.match_indices('/').rev().map(move |(i, _)| &s[..i])
    }

    pub fn to_abs(&self, root: &Path) -> PathBuf {
        if self.0.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&self.0)
        }
    }

    /// The path of `self` relative to directory `base` (for commands run in a wdir).
    pub fn relative_to(&self, base: &WsPath) -> String {
        let a: Vec<&str> = self.components().collect();
        let b: Vec<&str> = base.components().collect();
        let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let mut out: Vec<&str> = std::iter::repeat_n("..", b.len() - common).collect();
        out.extend(&a[common..]);
        if out.is_empty() {
            ".".into()
        } else {
            out.join("/")
        }
    }
}

impl fmt::Display for WsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(".")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl fmt::Debug for WsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WsPath({})", self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_and_refuses_escapes() {
        let sub = WsPath::parse("sub").unwrap();
        assert_eq!(
            WsPath::join(&sub, "./a/../b//c").unwrap().as_str(),
            "sub/b/c"
        );
        assert_eq!(WsPath::join(&sub, "../x").unwrap().as_str(), "x");
        assert_eq!(
            WsPath::join(&sub, "../../x"),
            Err(WsPathError::Escapes("../../x".into()))
        );
        assert_eq!(
            WsPath::parse("/etc"),
            Err(WsPathError::Absolute("/etc".into()))
        );
        assert_eq!(WsPath::parse(""), Err(WsPathError::Empty));
        for bad in ["a\nb", "a\0b", "a\rb", "a\u{7f}b"] {
            assert!(
                matches!(WsPath::parse(bad), Err(WsPathError::Control(..))),
                "{bad:?}"
            );
        }
        assert!(WsPath::parse(".").unwrap().is_root());
    }

    #[test]
    fn refuses_what_no_file_system_holds() {
        let name = "n".repeat(LONGEST_NAME);
        assert!(WsPath::parse(&format!("d/{name}")).is_ok());
        assert!(matches!(
            WsPath::parse(&format!("d/{name}x/f")),
            Err(WsPathError::NameTooLong(_, 256))
        ));
        let deep = format!("{}bb", "a/".repeat(2_047));
        assert_eq!(deep.len(), LONGEST_PATH + 1);
        assert_eq!(WsPath::parse(&deep), Err(WsPathError::TooLong(4096)));
        assert!(WsPath::parse(&deep[2..]).is_ok());
        // Normalised first: a long spelling of a short path is that path.
        let round = format!("{}a", "x/../".repeat(1_000));
        assert_eq!(WsPath::parse(&round).unwrap().as_str(), "a");
    }

    #[test]
    fn containment() {
        let d = WsPath::parse("data").unwrap();
        let f = WsPath::parse("data/x").unwrap();
        let g = WsPath::parse("data2").unwrap();
        assert!(f.is_within(&d));
        assert!(!g.is_within(&d));
        assert!(d.overlaps(&f) && f.overlaps(&d));
        assert!(!d.overlaps(&g));
        assert!(f.is_within(&WsPath::root()));
        let abc = WsPath::parse("a/b/c").unwrap();
        let a: Vec<&str> = abc.ancestors().collect();
        assert_eq!(a, vec!["a/b", "a"]);
    }

    #[test]
    fn relative_paths_for_wdirs() {
        let p = WsPath::parse("data/x").unwrap();
        assert_eq!(
            p.relative_to(&WsPath::parse("src/sub").unwrap()),
            "../../data/x"
        );
        assert_eq!(p.relative_to(&WsPath::parse("data").unwrap()), "x");
        assert_eq!(p.relative_to(&WsPath::root()), "data/x");
    }

    #[test]
    fn read_back_checked_and_looked_up_as_a_str() {
        let ok: Vec<WsPath> = serde_json::from_str(r#"["", "data/x"]"#).unwrap();
        assert_eq!(ok, [WsPath::root(), WsPath::parse("data/x").unwrap()]);
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#"["","data/x"]"#);
        for bad in [r#"["../x"]"#, r#"["/etc/passwd"]"#, r#"["a\nb"]"#] {
            assert!(serde_json::from_str::<Vec<WsPath>>(bad).is_err(), "{bad}");
        }
        let m: std::collections::BTreeMap<WsPath, u8> = [(ok[1].clone(), 1)].into();
        assert_eq!(m.get("data/x"), Some(&1));
    }

    proptest! {
        #[test]
        fn never_escapes(s in "[a-z./]{0,20}") {
            if let Ok(p) = WsPath::parse(&s) {
                prop_assert!(!p.as_str().starts_with('/'));
                prop_assert!(p.components().all(|c| c != ".." && c != "."));
            }
        }
    }
}
