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
//! directory, `x` when any exec bit is set. In a path `\` is written `\\` and a newline `\n`,
//! (and a carriage return `\r`), so every manifest is line-oriented. Nothing else (mtimes, owners, the directory's own
//! location) enters the digest: the same files give the same digest on any machine.

use std::fmt::Write as _;

use crate::Digest;

const HEADER: &str = "pipe-manifest 1\n";

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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest path `{0}` is not a clean relative path")]
    BadPath(String),
    #[error("manifest lists `{0}` twice")]
    Duplicate(String),
    #[error("manifest line {line}: {msg}")]
    Syntax { line: usize, msg: String },
}

impl Manifest {
    /// Builds a manifest; entries may come in any order.
    pub fn new(mut entries: Vec<Entry>) -> Result<Self, ManifestError> {
        entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        for w in entries.windows(2) {
            if w[0].path == w[1].path {
                return Err(ManifestError::Duplicate(w[0].path.clone()));
            }
        }
        for e in &entries {
            if !is_clean_relative(&e.path) {
                return Err(ManifestError::BadPath(e.path.clone()));
            }
        }
        Ok(Manifest { entries })
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
        self.entries.iter().map(|e| e.size).sum()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::with_capacity(HEADER.len() + self.entries.len() * 100);
        s.push_str(HEADER);
        for e in &self.entries {
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
        s.into_bytes()
    }

    pub fn digest(&self) -> Digest {
        Digest::of_bytes(&self.encode())
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::Syntax {
            line: 1,
            msg: "not UTF-8".into(),
        })?;
        let body = text.strip_prefix(HEADER).ok_or(ManifestError::Syntax {
            line: 1,
            msg: "missing `pipe-manifest 1` header".into(),
        })?;
        let mut entries = Vec::new();
        for (i, line) in body.lines().enumerate() {
            let lineno = i + 2;
            let syntax = |msg: &str| ManifestError::Syntax {
                line: lineno,
                msg: msg.into(),
            };
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
            entries.push(Entry {
                path: unescape(path).ok_or_else(|| syntax("bad escape in path"))?,
                digest,
                size,
                exec,
            });
        }
        let m = Manifest::new(entries)?;
        Ok(m)
    }
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

/// No empty, `.` or `..` components, not absolute.
pub fn is_clean_relative(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
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

    #[test]
    fn rejects_duplicates_and_escapes() {
        assert_eq!(
            Manifest::new(vec![entry("a", b"", false), entry("a", b"x", false)]),
            Err(ManifestError::Duplicate("a".into()))
        );
        assert!(matches!(
            Manifest::new(vec![entry("../a", b"", false)]),
            Err(ManifestError::BadPath(_))
        ));
        assert!(matches!(
            Manifest::new(vec![entry("/a", b"", false)]),
            Err(ManifestError::BadPath(_))
        ));
    }

    proptest! {
        #[test]
        fn round_trips_and_order_does_not_matter(
            names in proptest::collection::btree_set("[a-z\\\\\n\r ]{1,6}(/[a-z]{1,4})?", 0..20),
            seed in 0u64..1000,
        ) {
            let mut entries: Vec<Entry> = names.iter().enumerate()
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
    }
}
