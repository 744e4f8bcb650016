//! Directory manifests: what a directory out or dep holds, as one cache object.
//!
//! A directory's digest is the blake3 of its manifest's canonical encoding:
//!
//! ```text
//! pipe-manifest 1
//! <hex digest> <size> <x|-> <path>
//! ...
//! ```
//!
//! one line per regular file, sorted by path (bytewise), `/`-separated paths relative to the
//! directory, `x` when any exec bit is set. In a path `\` is written `\\` (and a newline
//! `\n`, a carriage return `\r`: the format can carry them, though [`check_path`] refuses
//! every control character today). Nothing else (mtimes, owners, the directory's own
//! location) enters the digest: the same files give the same digest on any machine.
//!
//! Decoding is validating. A manifest may come from a teammate's remote, so
//! [`Manifest::decode`] accepts only what [`Manifest::encode`] could have written for a
//! tree a checkout can recreate exactly, and [`Manifest::new`] holds a walked tree to the
//! same rules; every reader (pull, fetch, checkout, `cache verify --remote`) gets them:
//!
//! | rule | why |
//! |---|---|
//! | relative, no empty, `.` or `..` component | a checkout never leaves the out |
//! | no component `.git` or `.pipe` | the walk never enters them: checked out, they would read as a modified out forever, and would hand git or pipe state to whoever wrote the manifest |
//! | no control character (NUL, newline, ESC, C1) | the OS cannot create NUL; the rest would be printed raw to a terminal |
//! | a name <= 255 bytes, a path <= 4095 | what Linux can create (NAME_MAX, PATH_MAX) |
//! | no duplicate, no file that is also a directory of another entry | one tree, not two |
//! | sorted bytewise, each line exactly as the encoder writes it | one manifest per tree: its digest is the tree's |
//! | sizes that add up below 2^64 | a total is computed |
//!
//! `.git` and `.pipe` follow git and DVC: git refuses a `.git` component anywhere in a tree,
//! DVC ignores `.git` whatever its type; the walk skips both names at any depth.

use std::fmt::Write as _;

use crate::Digest;

const HEADER: &str = "pipe-manifest 1\n";

/// The longest name of one path component (Linux's NAME_MAX).
pub const MAX_NAME: usize = 255;
/// The longest path of an entry (Linux's PATH_MAX, less its terminating NUL).
pub const MAX_PATH: usize = 4095;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub digest: Digest,
    pub size: u64,
    pub exec: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    entries: Vec<Entry>,
}

/// Why a manifest is refused. Paths are shown escaped (`\n`, `\u{1b}`): a manifest from
/// elsewhere never writes raw control characters to a terminal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest path `{}` {why}", .path.escape_debug())]
    BadPath { path: String, why: &'static str },
    #[error("manifest lists `{}` twice", .0.escape_debug())]
    Duplicate(String),
    #[error(
        "manifest lists `{}` as a file and as a directory (`{}`)",
        .file.escape_debug(),
        .under.escape_debug()
    )]
    FileIsDir { file: String, under: String },
    #[error("manifest line {line}: {msg}")]
    Syntax { line: usize, msg: String },
}

/// Whether an entry's `path` is `within` or lies below it (`cam07` holds `cam07/a`, not
/// `cam070/a`): the part of a directory a path inside it names.
pub fn is_under(path: &str, within: &str) -> bool {
    path == within
        || path
            .strip_prefix(within)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether `p` may be an entry's path (see the table in the module's header); why not.
pub fn check_path(p: &str) -> Result<(), &'static str> {
    if p.is_empty() {
        return Err("is empty");
    }
    if p.len() > MAX_PATH {
        return Err("is longer than 4095 bytes");
    }
    if p.starts_with('/') {
        return Err("is absolute");
    }
    if p.chars().any(char::is_control) {
        return Err("has a control character");
    }
    for c in p.split('/') {
        match c {
            "" => return Err("has an empty component"),
            "." | ".." => return Err("has a `.` or `..` component"),
            ".git" | ".pipe" => return Err("has a `.git` or `.pipe` component"),
            c if c.len() > MAX_NAME => return Err("has a name longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(())
}

impl Manifest {
    /// Builds a manifest; entries may come in any order. Refuses what no tree on disk can
    /// be (see the module's header).
    pub fn new(mut entries: Vec<Entry>) -> Result<Self, ManifestError> {
        entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Self::validate(&entries)?;
        Ok(Manifest { entries })
    }

    /// The rules of the module's header, for entries already sorted by path.
    fn validate(entries: &[Entry]) -> Result<(), ManifestError> {
        for e in entries {
            check_path(&e.path).map_err(|why| ManifestError::BadPath {
                path: e.path.clone(),
                why,
            })?;
        }
        for w in entries.windows(2) {
            if w[0].path == w[1].path {
                return Err(ManifestError::Duplicate(w[0].path.clone()));
            }
        }
        // A file `a` and an entry under `a/`: every directory an entry implies must not be
        // a file. Sorted order does not put them side by side (`a-b` sorts between `a` and
        // `a/b`), so look every parent up.
        let files: std::collections::HashSet<&str> =
            entries.iter().map(|e| e.path.as_str()).collect();
        for e in entries {
            let mut at = 0;
            while let Some(i) = e.path[at..].find('/') {
                let dir = &e.path[..at + i];
                if files.contains(dir) {
                    return Err(ManifestError::FileIsDir {
                        file: dir.to_string(),
                        under: e.path.clone(),
                    });
                }
                at += i + 1;
            }
        }
        entries
            .iter()
            .try_fold(0u64, |sum, e| sum.checked_add(e.size))
            .ok_or(ManifestError::Syntax {
                line: 1,
                msg: "the sizes add up past 2^64 bytes".into(),
            })?;
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn total_size(&self) -> u64 {
        // Cannot overflow: `validate` checked the sum.
        self.entries.iter().map(|e| e.size).sum()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::with_capacity(HEADER.len() + self.entries.len() * 100);
        s.push_str(HEADER);
        for e in &self.entries {
            encode_entry(&mut s, e);
        }
        s.into_bytes()
    }

    pub fn digest(&self) -> Digest {
        Digest::of_bytes(&self.encode())
    }

    /// Reads a manifest, accepting only the canonical encoding of a valid one (see the
    /// module's header): whatever decodes re-encodes to the same bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::Syntax {
            line: 1,
            msg: "not UTF-8".into(),
        })?;
        let body = text.strip_prefix(HEADER).ok_or(ManifestError::Syntax {
            line: 1,
            msg: "missing `pipe-manifest 1` header".into(),
        })?;
        let mut entries: Vec<Entry> = Vec::new();
        let mut again = String::new();
        for (i, raw) in body.split_inclusive('\n').enumerate() {
            let lineno = i + 2;
            let syntax = |msg: &str| ManifestError::Syntax {
                line: lineno,
                msg: msg.into(),
            };
            let line = raw
                .strip_suffix('\n')
                .ok_or_else(|| syntax("the last line does not end with a newline"))?;
            let mut parts = line.splitn(4, ' ');
            let (Some(d), Some(size), Some(mode), Some(path)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(syntax("expected `<digest> <size> <mode> <path>`"));
            };
            let digest = d.parse().map_err(|_| syntax("bad digest"))?;
            let size = size.parse().map_err(|_| syntax("bad size"))?;
            let exec = match mode {
                "x" => true,
                "-" => false,
                _ => return Err(syntax("mode must be `x` or `-`")),
            };
            let e = Entry {
                path: unescape(path).ok_or_else(|| syntax("bad escape in path"))?,
                digest,
                size,
                exec,
            };
            if let Some(prev) = entries.last()
                && prev.path >= e.path
            {
                return Err(syntax(&format!(
                    "`{}` is not after `{}`: entries are sorted by path, each once",
                    e.path.escape_debug(),
                    prev.path.escape_debug()
                )));
            }
            again.clear();
            encode_entry(&mut again, &e);
            if again != raw {
                return Err(syntax("not written as pipe writes it (not canonical)"));
            }
            entries.push(e);
        }
        Self::validate(&entries)?;
        Ok(Manifest { entries })
    }
}

/// One entry's line, newline included.
fn encode_entry(s: &mut String, e: &Entry) {
    let _ = write!(
        s,
        "{} {} {} ",
        e.digest,
        e.size,
        if e.exec { 'x' } else { '-' }
    );
    for ch in e.path.chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            c => s.push(c),
        }
    }
    s.push('\n');
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(path: &str, content: &[u8], exec: bool) -> Entry {
        Entry {
            path: path.into(),
            digest: Digest::of_bytes(content),
            size: content.len() as u64,
            exec,
        }
    }

    #[test]
    fn digest_is_pinned() {
        // An accidental change of the encoding must fail this test: lock files and caches
        // everywhere depend on it.
        let m = Manifest::new(vec![
            entry("b/c.txt", b"c", true),
            entry("a.txt", b"a", false),
        ])
        .unwrap();
        assert_eq!(
            m.digest().to_hex(),
            Digest::of_bytes(m.encode().as_slice()).to_hex()
        );
        assert_eq!(
            String::from_utf8(m.encode()).unwrap(),
            format!(
                "pipe-manifest 1\n{} 1 - a.txt\n{} 1 x b/c.txt\n",
                Digest::of_bytes(b"a"),
                Digest::of_bytes(b"c")
            )
        );
        assert_eq!(
            m.digest().to_hex(),
            "c1e27e42f04d0ae3b7959d4aa5a895ad2ce6bc674c9e319e37a19469bc10bfce"
        );
    }

    /// A manifest's bytes as a forger would write them: `lines` as given, no checks.
    fn forged(lines: &[&str]) -> Vec<u8> {
        let mut s = HEADER.to_string();
        for l in lines {
            s.push_str(l);
        }
        s.into_bytes()
    }

    fn line(path: &str) -> String {
        let mut s = String::new();
        encode_entry(&mut s, &entry(path, b"x", false));
        s
    }

    #[test]
    fn every_path_rule_is_held_by_new_and_by_decode() {
        let long_name = "n".repeat(300);
        let long_path = vec!["d"; 2100].join("/");
        let cases: [(&str, &str); 14] = [
            ("../a", "has a `.` or `..` component"),
            ("a/../../b", "has a `.` or `..` component"),
            ("./a", "has a `.` or `..` component"),
            ("/etc/passwd", "is absolute"),
            ("a//b", "has an empty component"),
            ("a/", "has an empty component"),
            (".git/config", "has a `.git` or `.pipe` component"),
            (
                "sub/.git/hooks/post-checkout",
                "has a `.git` or `.pipe` component",
            ),
            (".pipe/config.toml", "has a `.git` or `.pipe` component"),
            ("a\0b", "has a control character"),
            ("a\u{1b}[2Jb", "has a control character"),
            ("a\nb", "has a control character"),
            (long_name.as_str(), "has a name longer than 255 bytes"),
            (long_path.as_str(), "is longer than 4095 bytes"),
        ];
        for (path, why) in cases {
            let e = Manifest::new(vec![entry("ok.txt", b"", false), entry(path, b"x", false)])
                .expect_err(path);
            assert_eq!(
                e,
                ManifestError::BadPath {
                    path: path.into(),
                    why
                }
            );
            // The same through decode: what verify passes, pull takes, and no further.
            let ls = [line(path)];
            let refs: Vec<&str> = ls.iter().map(String::as_str).collect();
            let d = Manifest::decode(&forged(&refs)).expect_err(path);
            assert!(
                matches!(&d, ManifestError::BadPath { why: w, .. } if *w == why),
                "{path:?}: {d}"
            );
            // Shown escaped: no raw control character reaches a terminal.
            assert!(!d.to_string().chars().any(char::is_control), "{d:?}");
        }
        // `.git` as part of a longer name is an ordinary name.
        Manifest::new(vec![
            entry(".gitignore", b"", false),
            entry("a.pipe", b"", false),
        ])
        .unwrap();
        let name = "n".repeat(255);
        Manifest::new(vec![entry(&name, b"", false)]).unwrap();
    }

    #[test]
    fn one_tree_per_manifest() {
        assert_eq!(
            Manifest::new(vec![entry("a", b"", false), entry("a", b"x", false)]),
            Err(ManifestError::Duplicate("a".into()))
        );
        // `a-b` sorts between `a` and `a/b`: the conflict is found anyway.
        let e = Manifest::new(vec![
            entry("a", b"", false),
            entry("a-b", b"", false),
            entry("a/b/c", b"", false),
        ])
        .unwrap_err();
        assert_eq!(
            e,
            ManifestError::FileIsDir {
                file: "a".into(),
                under: "a/b/c".into()
            }
        );
        let d = Manifest::decode(&forged(&[&line("a"), &line("a-b"), &line("a/b/c")]));
        assert!(matches!(d, Err(ManifestError::FileIsDir { .. })), "{d:?}");
    }

    #[test]
    fn decode_takes_only_the_canonical_encoding() {
        let (a, b) = (line("a"), line("b"));
        Manifest::decode(&forged(&[&a, &b])).unwrap();
        let unsorted = Manifest::decode(&forged(&[&b, &a])).unwrap_err();
        assert!(
            unsorted
                .to_string()
                .contains("line 3: `a` is not after `b`"),
            "{unsorted}"
        );
        let twice = Manifest::decode(&forged(&[&a, &a])).unwrap_err();
        assert!(twice.to_string().contains("line 3"), "{twice}");
        let d = Digest::of_bytes(b"x");
        for (bad, what) in [
            (format!("{d} +1 - a\n"), "a size with a sign"),
            (format!("{d} 01 - a\n"), "a size with a leading zero"),
            (format!("{d} 1 - a\r\n"), "a CRLF line"),
            (format!("{d} 1 - a"), "no final newline"),
            (
                format!("{} 1 - a\n", d.to_hex().to_uppercase()),
                "an upper-case digest",
            ),
        ] {
            let e = Manifest::decode(&forged(&[&bad])).expect_err(what);
            assert!(
                matches!(e, ManifestError::Syntax { line: 2, .. }),
                "{what}: {e}"
            );
        }
        let huge = format!("{d} {} - a\n", u64::MAX);
        let e = Manifest::decode(&forged(&[&huge, &line("b")])).unwrap_err();
        assert!(e.to_string().contains("past 2^64"), "{e}");
    }

    /// Names of valid entries: no two where one is the other's directory.
    fn tree(names: std::collections::BTreeSet<String>) -> Vec<String> {
        let all = names.clone();
        names
            .into_iter()
            .filter(|n| {
                !all.iter().any(|m| {
                    m.len() > n.len() && m.starts_with(n.as_str()) && m[n.len()..].starts_with('/')
                })
            })
            .collect()
    }

    proptest! {
        #[test]
        fn round_trips_and_order_does_not_matter(
            names in proptest::collection::btree_set("[a-z\\\\ é]{1,6}(/[a-z]{1,4})?", 0..20),
            seed in 0u64..1000,
        ) {
            let mut entries: Vec<Entry> = tree(names).iter().enumerate()
                .map(|(i, n)| entry(n, &(seed + i as u64).to_le_bytes(), i % 2 == 0))
                .collect();
            let m = Manifest::new(entries.clone()).unwrap();
            entries.reverse();
            let m2 = Manifest::new(entries).unwrap();
            prop_assert_eq!(m.digest(), m2.digest());
            let back = Manifest::decode(&m.encode()).unwrap();
            prop_assert_eq!(back, m);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Manifest::decode(&bytes);
        }

        /// Whatever decode accepts re-encodes to the very bytes it read, so its digest is
        /// the name it was fetched under: a byte flipped anywhere is refused or is another
        /// valid manifest, never a second spelling of one.
        #[test]
        fn whatever_decodes_is_canonical(at in 0usize..400, byte in any::<u8>()) {
            let m = Manifest::new(vec![
                entry("a b/c", b"1", true),
                entry("d", b"22", false),
                entry("e\\f", b"333", false),
            ]).unwrap();
            let mut bytes = m.encode();
            let i = at % bytes.len();
            bytes[i] = byte;
            if let Ok(back) = Manifest::decode(&bytes) {
                prop_assert_eq!(back.encode(), bytes);
            }
        }
    }
}
