//! DVC's content hashes, to check a workspace against `dvc.lock` and `.dvc` files.
//!
//! - a file: the md5 of its bytes (DVC 3, `hash: md5`). Entries written by DVC 2 (no
//!   `hash` field) hashed text files with CRLF turned into LF first; a file that differs
//!   only that way is also accepted for those.
//! - a directory: `<md5>.dir`, the md5 of a JSON listing of its files sorted by relative
//!   path, `[{"md5": "...", "relpath": "a/b.txt"}, ...]`, written as Python's
//!   `json.dumps(..., sort_keys=True)` does (`", "` and `": "` separators, non-ASCII as
//!   `\uXXXX`). The listing is also the `.dir` object in DVC's cache.
//!
//! Each check reads every byte once; `pipe import-dvc` runs it once per path, then pipe
//! hashes with blake3 as it always does.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use md5::{Digest as _, Md5};
use rayon::prelude::*;

/// One file of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub relpath: String,
    pub md5: String,
}

/// The md5 (hex) of a file's bytes, and of the same bytes with CRLF as LF when the file
/// looks like text (DVC 2's hash), if that differs.
pub fn file_md5(path: &Path) -> std::io::Result<(String, Option<String>)> {
    let mut f = std::fs::File::open(path)?;
    let mut plain = Md5::new();
    let mut unix = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut text = true;
    let mut first = true;
    let mut saw_cr = false;
    let mut pending_cr = false;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        plain.update(chunk);
        if first {
            // DVC's text test: no NUL in the first 512 bytes.
            text = !chunk[..chunk.len().min(512)].contains(&0);
            first = false;
        }
        if text {
            let mut out = Vec::with_capacity(chunk.len() + 1);
            for &b in chunk {
                if pending_cr {
                    pending_cr = false;
                    if b != b'\n' {
                        out.push(b'\r');
                    }
                }
                if b == b'\r' {
                    pending_cr = true;
                    saw_cr = true;
                } else {
                    out.push(b);
                }
            }
            unix.update(&out);
        }
    }
    if pending_cr {
        unix.update(b"\r");
    }
    let plain = hex::encode(plain.finalize());
    let unix = (text && saw_cr).then(|| hex::encode(unix.finalize()));
    Ok((plain, unix))
}

/// The md5 of some bytes, hex.
pub fn bytes_md5(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

/// Every file under `dir` with its md5, sorted by relative path (symlinks are followed, as
/// DVC does; `.dvc`-internal and `.git` directories are skipped).
pub fn dir_entries(dir: &Path) -> std::io::Result<Vec<DirEntry>> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    let mut entries: Vec<DirEntry> = files
        .par_iter()
        .map(|rel| {
            let (md5, _) = file_md5(&dir.join(rel))?;
            Ok(DirEntry {
                relpath: rel.clone(),
                md5,
            })
        })
        .collect::<std::io::Result<_>>()?;
    entries.sort_by(|a, b| a.relpath.cmp(&b.relpath));
    Ok(entries)
}

/// Every file below `root`, as paths relative to it (a list of directories still to read,
/// not recursion: no depth of nesting overflows the stack).
fn walk(root: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let mut dirs = vec![String::new()];
    while let Some(rel) = dirs.pop() {
        let here = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        for e in std::fs::read_dir(&here)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name == ".git" || name == ".dvc" {
                continue;
            }
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if std::fs::metadata(e.path())?.is_dir() {
                dirs.push(child);
            } else {
                out.push(child);
            }
        }
    }
    Ok(())
}

/// The `.dir` listing of entries, byte for byte as DVC writes it.
pub fn dir_listing(entries: &[DirEntry]) -> String {
    let mut s = String::with_capacity(entries.len() * 64 + 2);
    s.push('[');
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str("{\"md5\": ");
        py_json_string(&e.md5, &mut s);
        s.push_str(", \"relpath\": ");
        py_json_string(&e.relpath, &mut s);
        s.push('}');
    }
    s.push(']');
    s
}

/// `<md5>.dir` of a directory in the workspace.
pub fn dir_md5(dir: &Path) -> std::io::Result<(String, Vec<DirEntry>)> {
    let entries = dir_entries(dir)?;
    let md5 = format!("{}.dir", bytes_md5(dir_listing(&entries).as_bytes()));
    Ok((md5, entries))
}

/// Parses a `.dir` listing (from DVC's cache).
pub fn parse_listing(bytes: &[u8]) -> Option<Vec<DirEntry>> {
    let v: Vec<serde_json::Value> = serde_json::from_slice(bytes).ok()?;
    v.into_iter()
        .map(|x| {
            Some(DirEntry {
                relpath: x.get("relpath")?.as_str()?.to_string(),
                md5: x.get("md5")?.as_str()?.to_string(),
            })
        })
        .collect()
}

/// A JSON string as Python's `json.dumps` (ensure_ascii) writes it.
fn py_json_string(v: &str, out: &mut String) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether a workspace path matches an md5 from DVC (`.dir` for a directory); `None` when
/// the path does not exist.
pub fn matches(path: &Path, md5: &str, legacy: bool) -> std::io::Result<Option<bool>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        let (got, _) = dir_md5(path)?;
        return Ok(Some(got == md5));
    }
    let (plain, unix) = file_md5(path)?;
    Ok(Some(
        plain == md5 || (legacy && unix.as_deref() == Some(md5)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_is_pythons_json() {
        let e = vec![
            DirEntry {
                relpath: "x.txt".into(),
                md5: "60b725f10c9c85c70d97880dfe8191b3".into(),
            },
            DirEntry {
                relpath: "y.txt".into(),
                md5: "3b5d5c3712955042212316173ccf37be".into(),
            },
            DirEntry {
                relpath: "é.txt".into(),
                md5: "66ddcd97cfdeabb2f6fb8a999b4bc76f".into(),
            },
        ];
        let s = dir_listing(&e);
        assert!(
            s.contains("{\"md5\": \"60b725f10c9c85c70d97880dfe8191b3\", \"relpath\": \"x.txt\"}, ")
        );
        assert!(s.contains("\"relpath\": \"\\u00e9.txt\"}]"));
        // The digest DVC 3.67 gave this directory (`dvc add`).
        assert_eq!(bytes_md5(s.as_bytes()), "22c4c6b03910c42cdcb506a0c358e69e");
        assert_eq!(parse_listing(s.as_bytes()).unwrap(), e);
    }

    #[test]
    fn files_hash_plain_and_as_dvc_2_did() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a");
        std::fs::write(&p, b"a\r\nb\n").unwrap();
        let (plain, unix) = file_md5(&p).unwrap();
        assert_eq!(plain, bytes_md5(b"a\r\nb\n"));
        assert_eq!(unix.unwrap(), bytes_md5(b"a\nb\n"));
        assert_eq!(
            matches(&p, &bytes_md5(b"a\nb\n"), true).unwrap(),
            Some(true)
        );
        assert_eq!(
            matches(&p, &bytes_md5(b"a\nb\n"), false).unwrap(),
            Some(false)
        );
        assert_eq!(matches(&d.path().join("nope"), "x", false).unwrap(), None);
        std::fs::write(&p, b"\0\r\n").unwrap();
        assert_eq!(file_md5(&p).unwrap().1, None);
    }
}
