//! `pipe add PATH...`: track a file or directory that no stage makes (raw data, a
//! pretrained encoder), so that push, pull, fetch, checkout, status and gc treat it as an
//! out.
//!
//! Where it is recorded: the path in the pipeline file's `[data]` table (which the graph
//! turns into a frozen stage `data:PATH` with one cached out; stages reading the path
//! depend on it), its content in `pipe.lock` under `[stage."data:PATH"]`. One pipeline file
//! and one lock, rather than a `PATH.pipe` file beside each path: the loader learns every
//! tracked path without walking the tree, a fresh clone knows what `pipe pull` must bring
//! before any of it is there, and the hash lives where every other hash lives, with the
//! lock's merge driver and journal.
//!
//! Flow: check every path (inside the workspace, exists, not an out of a stage), write the
//! `[data]` keys, store the content in the cache and record the lock entry (as a stage's
//! commit does), then list the path in the managed block of `.gitignore`. A path already
//! tracked is simply recorded again (after an edit of the data).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::report::printer::{Printer, Tone, bytes};
use crate::run::commit;
use crate::run::decide::Inputs;
use crate::spec::DataDef;
use crate::wspath::WsPath;

use super::error::OpsError;

/// Tracks `paths` (relative to the current directory) in the pipeline `pipeline`.
pub fn add(p: &Printer, pipeline: &Path, paths: &[PathBuf]) -> Result<Vec<WsPath>> {
    let root = pipeline
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut wanted = Vec::with_capacity(paths.len());
    for p in paths {
        let wp = workspace_path(&root, p)?;
        if std::fs::symlink_metadata(wp.to_abs(&root)).is_err() {
            return Err(OpsError::AddMissing { path: wp }.into());
        }
        if !wanted.contains(&wp) {
            wanted.push(wp);
        }
    }
    let old = match std::fs::read_to_string(pipeline) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            return Err(OpsError::Read {
                path: pipeline.to_path_buf(),
                err,
            }
            .into());
        }
    };
    if old.is_some() {
        // Paths that stages write cannot be tracked data (checked before anything changes).
        let s = super::open(p, pipeline)?;
        for wp in &wanted {
            if let Some(i) = s.graph.producer_of(wp)
                && !s.graph[i].is_data()
            {
                return Err(OpsError::AddProduced {
                    path: wp.clone(),
                    stage: s.graph[i].id.to_string(),
                }
                .into());
            }
        }
    }
    let text = with_data_keys(old.as_deref().unwrap_or(""), &wanted)?;
    if old.as_deref() != Some(text.as_str()) {
        write(pipeline, &text)?;
    }
    let s = match super::open(p, pipeline) {
        Ok(s) => s,
        Err(e) => {
            // The new keys made the pipeline invalid (a path inside an out, say): put it back.
            match &old {
                Some(t) => write(pipeline, t)?,
                None => {
                    let _ = std::fs::remove_file(pipeline);
                }
            }
            return Err(e);
        }
    };
    for wp in &wanted {
        let id = DataDef::lock_id(wp);
        let Some(i) = s.graph.find(&id) else {
            return Err(OpsError::DataNotInGraph { path: wp.clone() }.into());
        };
        let st = &s.graph[i];
        let entry = commit::commit(
            &s.ws,
            st,
            &Inputs::new(st, Default::default(), Default::default()),
            Vec::new(),
            None,
        )?;
        if let Some(h) = entry.outs.get(wp.as_str()) {
            let what = if h.is_dir() {
                let n = h.files();
                let files = if n == 1 { "file" } else { "files" };
                format!("{wp} ({n} {files}, {})", bytes(h.size))
            } else {
                format!("{wp} ({})", bytes(h.size))
            };
            p.verb("Added", Tone::Good, &what);
        }
    }
    s.ws.state.save()?;
    s.fold_lock()?;
    super::init::refresh_gitignore(&s.ws.dir, &super::cached_outs(&s))?;
    Ok(wanted)
}

/// A command-line path as a workspace path.
pub(crate) fn workspace_path(root: &Path, p: &Path) -> Result<WsPath> {
    let abs = std::path::absolute(p).map_err(|err| OpsError::Resolve {
        path: p.to_path_buf(),
        err,
    })?;
    let rel = abs.strip_prefix(root).map_err(|_| OpsError::AddOutside {
        path: p.to_path_buf(),
        root: root.to_path_buf(),
    })?;
    let s = rel.to_string_lossy();
    let s = s.trim_end_matches('/');
    let wp = WsPath::parse(s).map_err(|e| OpsError::AddPath {
        path: p.to_path_buf(),
        why: e.to_string(),
    })?;
    if wp.is_root()
        || wp
            .components()
            .next()
            .is_some_and(|c| c == ".pipe" || c == ".git")
    {
        return Err(OpsError::AddReserved {
            path: p.to_path_buf(),
        }
        .into());
    }
    Ok(wp)
}

/// The pipeline text with `paths` in its `[data]` table (kept as it is otherwise).
pub fn with_data_keys(text: &str, paths: &[WsPath]) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(OpsError::PipelineToml)?;
    let data = doc
        .entry("data")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    let Some(table) = data.as_table_mut() else {
        return Err(OpsError::DataNotTable.into());
    };
    for p in paths {
        if !table.contains_key(p.as_str()) {
            table.insert(p.as_str(), toml_edit::value(toml_edit::InlineTable::new()));
        }
    }
    Ok(doc.to_string())
}

pub(crate) fn write(path: &Path, text: &str) -> Result<()> {
    pipe_cache::fsutil::write_file_atomic(path, text.as_bytes(), false).map_err(|err| {
        OpsError::Write {
            path: path.to_path_buf(),
            err,
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_are_added_once_and_the_rest_is_kept() {
        let p = [WsPath::parse("data/raw").unwrap()];
        let t = with_data_keys("# mine\n[stage.a]\ncmd = \"x\"\n", &p).unwrap();
        assert!(t.starts_with("# mine\n[stage.a]\ncmd = \"x\"\n"), "{t}");
        assert!(t.contains("[data]\n\"data/raw\" = {}\n"), "{t}");
        assert_eq!(with_data_keys(&t, &p).unwrap(), t);
        assert!(with_data_keys("data = 1\n", &p).is_err());
    }
}
