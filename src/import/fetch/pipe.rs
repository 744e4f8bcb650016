//! A pipe source: its remote has our layout; the manifest, then the files under the part asked.

use pipe_cache::remote::Remote;
use pipe_cache::remote::transfer::{self, Progress};
use pipe_cache::{Digest, Store, Summary, manifest};

use super::{Cx, Fetched, Part, part, store_manifest};
use crate::import::error::ImportError;

pub(super) async fn fetch_pipe(
    cx: &Cx<'_>,
    remote: &Remote,
    store: &Store,
    h: &Summary,
    sub: Option<&str>,
    progress: &Progress,
) -> Result<Fetched, ImportError> {
    let mut out = Fetched {
        hash: *h,
        objects: 0,
        bytes: 0,
    };
    let short = |d: &Digest| format!("{} ({})", cx.path, d.short());
    if !h.is_dir() {
        if !store.intact(&h.digest) {
            let got =
                transfer::download_sized(remote, store, vec![(h.digest, Some(h.size))], progress)
                    .await
                    .map_err(|e| cx.remote_err(e))?;
            out.objects += got.objects;
            out.bytes += got.bytes;
            cx.check(got, &short)?;
        }
        return Ok(out);
    }
    if !store.intact(&h.digest) {
        let got = transfer::download_manifests(remote, store, vec![h.digest], &transfer::quiet())
            .await
            .map_err(|e| cx.remote_err(e))?;
        out.objects += got.objects;
        out.bytes += got.bytes;
        cx.check(got, &|d| {
            format!("the manifest of `{}` ({})", cx.path, d.short())
        })?;
    }
    let m = store
        .read_manifest(&h.digest)
        .map_err(|e| cx.corrupt(h.digest.short(), e.to_string()))?;
    let entries = m.entries().iter().map(|e| (e.path.clone(), e.clone()));
    let chosen: Vec<manifest::Entry> = match part(entries, sub) {
        Part::Nothing => return Err(cx.not_tracked()),
        Part::File(e) => {
            out.hash = Summary::file(e.digest, e.size, e.exec);
            vec![e]
        }
        Part::Dir(v) => v
            .into_iter()
            .map(|(path, e)| manifest::Entry { path, ..e })
            .collect(),
    };
    let mut seen = std::collections::HashSet::new();
    let wanted: Vec<(Digest, Option<u64>)> = chosen
        .iter()
        .filter(|e| seen.insert(e.digest) && !store.intact(&e.digest))
        .map(|e| (e.digest, Some(e.size)))
        .collect();
    let names: std::collections::HashMap<Digest, String> =
        chosen.iter().map(|e| (e.digest, e.path.clone())).collect();
    let got = transfer::download_sized(remote, store, wanted, progress)
        .await
        .map_err(|e| cx.remote_err(e))?;
    out.objects += got.objects;
    out.bytes += got.bytes;
    cx.check(got, &|d| {
        names
            .get(d)
            .map(|p| format!("`{}/{p}`", cx.path))
            .unwrap_or_else(|| d.short())
    })?;
    if sub.is_some() && !out.hash.is_dir() {
        return Ok(out);
    }
    if sub.is_some() {
        out.hash = store_manifest(store, chosen)
            .map_err(|e| cx.corrupt(cx.path.clone(), e.to_string()))?;
    }
    Ok(out)
}
