//! A directory out present in part: some of the files its lock entry lists are in the
//! workspace, each as recorded, and nothing else is (what `pipe pull data/raw/cam07`
//! leaves). `status` says so rather than "modified", and a stage reading the directory
//! does not run on the part (see `sched::task`).

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
    // The same walk as hashing: `.pipeignore`d files are no more part of the out here
    // than in its digest.
    let files = pipe_cache::walk::walk_dir(&out.to_abs(&ws.root)).ok()?;
    if files.is_empty() || files.len() >= manifest.len() {
        return None;
    }
    let clock = ws.state.clock().ok()?;
    let entries = manifest.entries();
    for f in &files {
        // Entries are sorted by path.
        let k = entries
            .binary_search_by(|e| e.path.as_str().cmp(&f.rel))
            .ok()?;
        let rel = format!("{out}/{}", f.rel);
        let now = pipe_cache::tree::digest_path(&ws.root, &rel, &ws.state, clock).ok()??;
        if now.digest != entries[k].digest {
            return None;
        }
    }
    Some((files.len(), manifest.len()))
}
