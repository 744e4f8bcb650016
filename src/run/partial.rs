//! A directory out present in part: some of the files its lock entry lists are in the
//! workspace, each as recorded, and nothing else is (what `pipe pull data/raw/cam07`
//! leaves). `status` says so rather than "modified", and a stage reading the directory
//! does not run on the part (see `sched::task`).

use std::path::Path;

use pipe_cache::Summary;

use crate::workspace::Workspace;
use crate::wspath::WsPath;

/// `(present, total)` files when `out` (recorded as `hash`, a directory whose manifest the
/// cache holds) is present in part; `None` when it is whole, absent, changed otherwise (a
/// file not in the manifest, or one whose content differs), or the manifest is not here.
pub fn partial(ws: &Workspace, out: &WsPath, hash: &Summary) -> Option<(usize, usize)> {
    if !hash.is_dir() {
        return None;
    }
    let manifest = ws.store.read_manifest(&hash.digest).ok()?;
    let mut files = Vec::new();
    list(&out.to_abs(&ws.root), "", &mut files).ok()?;
    if files.is_empty() || files.len() >= manifest.len() {
        return None;
    }
    let clock = ws.state.clock().ok()?;
    for f in &files {
        let e = manifest.entries().iter().find(|e| e.path == *f)?;
        let rel = format!("{out}/{f}");
        let now = pipe_cache::tree::digest_path(&ws.root, &rel, &ws.state, clock).ok()??;
        if now.digest != e.digest {
            return None;
        }
    }
    Some((files.len(), manifest.len()))
}

/// Every file under `dir`, relative to it.
fn list(dir: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir.join(rel))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if e.file_type()?.is_dir() {
            list(dir, &child, out)?;
        } else {
            out.push(child);
        }
    }
    Ok(())
}
