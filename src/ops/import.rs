//! `pipe get SOURCE PATH`: a tracked path of another repository (a pipe workspace or a DVC
//! project), at a rev, downloaded and verified, untracked. `pipe import`: the same, kept
//! as tracked data with its source (`[data."OUT"] source = { url, path, rev }`) and the
//! commit it came from (`rev_lock` in the lock); `pipe update`: moves imports on.
//!
//! Flow (see `crate::import`): mirror the source and resolve the rev; find PATH in what
//! the source tracks at that commit and the remote holding it; fetch its objects into a
//! store, verified; check them out at OUT as independent copies. Nothing is written at OUT
//! unless every object arrived whole; `get` keeps nothing else (its mirror and store are in
//! a temp directory, removed at the end).

use std::path::{Path, PathBuf};

use pipe_cache::remote::RemoteSpec;
use pipe_cache::{Digest, RootDir, Store, StoreOptions};

use crate::error::{Error, Result};
use crate::import::ImportError;
use crate::import::fetch::{self, Fetched};
use crate::import::git::{Commit, Repo, mirror_name};
use crate::import::source::{self, SourceRemote, Tracked};
use crate::lock::LockEntry;
use crate::ops::error::OpsError;
use crate::report::printer::{Printer, Tone, bytes};
use crate::spec::DataDef;
use crate::spec::schema::DataSourceToml;
use crate::workspace::Workspace;
use crate::wspath::WsPath;
use pipe_cache::Summary;

use super::Session;

/// What to bring, from where (`pipe get` and `pipe import`).
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    pub source: String,
    pub path: String,
    /// Default: PATH's last component, in the current directory.
    pub out: Option<PathBuf>,
    pub rev: Option<String>,
    /// A remote of this workspace to fetch from instead of the source's own.
    pub remote: Option<String>,
    pub jobs: Option<usize>,
}

/// A temp directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let p = pipe_cache::fsutil::unique_path(&std::env::temp_dir(), "get");
        std::fs::create_dir_all(&p).map_err(|err| OpsError::CreateDir {
            path: p.clone(),
            err,
        })?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `pipe get`: `pipeline` is this workspace's pipeline file (for `--remote` only).
pub fn get(p: &Printer, pipeline: &Path, o: &SourceOptions) -> Result<()> {
    let out = match &o.out {
        Some(p) => p.clone(),
        None => PathBuf::from(last_component(&o.path)?),
    };
    let out = std::path::absolute(&out).map_err(|err| OpsError::Resolve {
        path: out.clone(),
        err,
    })?;
    if std::fs::symlink_metadata(&out).is_ok() {
        return Err(ImportError::OutExists {
            out: out.display().to_string(),
        }
        .into());
    }
    let (Some(parent), Some(name)) = (out.parent(), out.file_name().and_then(|n| n.to_str()))
    else {
        return Err(
            ImportError::BadArgument(format!("`{}` cannot be written", out.display())).into(),
        );
    };
    let ours = our_remote(pipeline, o.remote.as_deref())?;
    let tmp = TempDir::new()?;
    let repo = Repo::open(&o.source, &tmp.0.join("mirror.git"), false)?;
    let commit = repo.resolve(o.rev.as_deref())?;
    let scratch = tmp.0.join("meta");
    let has_ours = ours.is_some();
    let (tracked, mut remote) = source::locate(&repo, &commit, &o.path, &scratch, ours)?;
    let root = pipeline.parent().unwrap_or(Path::new("."));
    let dot = root.join(crate::workspace::DOT);
    if !has_ours && dot.is_dir() {
        let cfg = crate::config::Config::load(&dot)?;
        with_local_settings(&mut remote.spec, &cfg, root);
    }
    let store = Store::open(&tmp.0.join("cache"), StoreOptions::default());
    let fetched = fetch_into(p, &repo, &tracked, &remote, &store, o.jobs)?;
    std::fs::create_dir_all(parent).map_err(|err| OpsError::CreateDir {
        path: parent.to_path_buf(),
        err,
    })?;
    let dir = RootDir::open(parent)?;
    place(&store, &fetched, &dir, name)?;
    p.verb(
        "Downloaded",
        Tone::Good,
        &format!(
            "{} from {} at {} to {}",
            tracked.path(),
            repo.url,
            commit.describe(),
            out.display()
        ),
    );
    Ok(())
}

/// The spec of this workspace's remote `name`, credentials and all (`--remote`).
pub fn our_remote(pipeline: &Path, name: Option<&str>) -> Result<Option<RemoteSpec>> {
    let Some(name) = name else {
        return Ok(None);
    };
    let root = pipeline.parent().unwrap_or(Path::new("."));
    let cfg = crate::config::Config::load(&root.join(crate::workspace::DOT))?;
    Ok(Some(crate::sharing::spec_in(&cfg, root, Some(name))?))
}

/// The source's own remote with the credentials and profile this workspace configures
/// for the same url laid over (a remote in `config.local.toml` naming that url): secrets
/// never travel with a repository, so they come from here, as for any remote of ours
/// (else from the environment).
pub fn with_local_settings(spec: &mut RemoteSpec, cfg: &crate::config::Config, base: &Path) {
    for (name, r) in &cfg.remotes {
        if r.url.as_deref() != Some(spec.url.as_str()) {
            continue;
        }
        if let Ok(ours) = crate::sharing::spec_of(base, name, r) {
            if ours.credentials.is_some() {
                spec.credentials = ours.credentials;
            }
            if ours.profile.is_some() {
                spec.profile = ours.profile;
            }
            return;
        }
    }
}

/// Fetches `tracked` into `store`, with a progress bar and a `Fetched` line.
pub fn fetch_into(
    p: &Printer,
    repo: &Repo,
    tracked: &Tracked,
    remote: &SourceRemote,
    store: &Store,
    jobs: Option<usize>,
) -> Result<Fetched> {
    let rt = Session::runtime()?;
    let (progress, bar) = crate::report::transfer::progress(p, 0, 0, "Fetching");
    let got = rt.block_on(fetch::fetch(
        &repo.url, tracked, remote, store, jobs, &progress,
    ));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let got = got?;
    p.verb(
        "Fetched",
        Tone::Good,
        &format!(
            "{} object(s), {} from `{}` ({})",
            got.objects,
            bytes(got.bytes),
            remote.spec.name,
            remote.spec.url
        ),
    );
    Ok(got)
}

/// Checks `fetched` out as `name` in `dir`: independent, writable copies.
pub fn place(store: &Store, fetched: &Fetched, dir: &RootDir, name: &str) -> Result<()> {
    let h = &fetched.hash;
    if h.is_dir() {
        let m = store.read_manifest(&h.digest)?;
        store.checkout_tree_as(&m, dir, name, true)?;
    } else {
        store.checkout_file_as(&h.digest, dir, name, h.exec(), true)?;
    }
    Ok(())
}

/// What one import or update brought.
#[derive(Debug, Clone)]
pub struct Brought {
    pub path: WsPath,
    pub commit: Commit,
    pub hash: Summary,
}

fn last_component(path: &str) -> Result<&str> {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .ok_or_else(|| {
            ImportError::BadArgument(format!("`{path}` names no file or directory")).into()
        })
}

fn read_pipeline(pipeline: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(pipeline) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(OpsError::Read {
            path: pipeline.to_path_buf(),
            err,
        }
        .into()),
    }
}

/// `pipe import SOURCE PATH`: fetches PATH at REV into the cache, checks it out at OUT,
/// records `[data."OUT"] source = { url, path, rev }` and the entry (with `rev_lock`).
/// An OUT already imported is imported again (from the new source and rev); anything else
/// at OUT is refused.
pub fn import(p: &Printer, pipeline: &Path, o: &SourceOptions) -> Result<Brought> {
    let root = pipeline.parent().unwrap_or(Path::new(".")).to_path_buf();
    let out = match &o.out {
        Some(p) => p.clone(),
        None => PathBuf::from(last_component(&o.path)?),
    };
    let wp = super::add::workspace_path(&root, &out)?;
    let old = read_pipeline(pipeline)?;
    let mut prev = None;
    // A pipeline whose stages read the import does not load before it: the one with the
    // import (below) is what must load.
    if let Some(s) = old.as_ref().and_then(|_| Session::open(pipeline).ok()) {
        if let Some(i) = s.graph.producer_of(&wp)
            && !s.graph[i].is_data()
        {
            return Err(ImportError::BadArgument(format!(
                "cannot import to `{wp}`: stage `{}` writes it",
                s.graph[i].id
            ))
            .into());
        }
        match s.spec.data.iter().find(|d| d.path == wp) {
            Some(d) if d.source.is_some() => {
                s.fold_lock()?;
                prev = s.ws.lock.read()?.remove(&DataDef::lock_id(&wp));
            }
            Some(_) => {
                return Err(ImportError::BadArgument(format!(
                    "`{wp}` is tracked data of `pipe add`: remove it from [data] to import over it"
                ))
                .into());
            }
            None => {}
        }
    }
    if prev.is_none() && std::fs::symlink_metadata(wp.to_abs(&root)).is_ok() {
        return Err(ImportError::OutExists {
            out: wp.to_string(),
        }
        .into());
    }
    let src = DataSourceToml {
        url: o.source.clone(),
        path: o.path.clone(),
        rev: o.rev.clone(),
        remote: o.remote.clone(),
    };
    // The pipeline with the import must load before anything is fetched; it is put back
    // as it was when the import fails.
    let text = with_source(old.as_deref().unwrap_or(""), &wp, &src)?;
    super::add::write(pipeline, &text)?;
    let put_back = |e: Error| -> Error {
        let back = match &old {
            Some(t) => super::add::write(pipeline, t),
            None => std::fs::remove_file(pipeline).map_err(|err| {
                OpsError::Remove {
                    path: pipeline.to_path_buf(),
                    err,
                }
                .into()
            }),
        };
        back.err().unwrap_or(e)
    };
    let s = Session::open(pipeline).map_err(put_back)?;
    let brought =
        bring(p, &s.ws, &wp, &src, o.rev.as_deref(), prev.as_ref(), o.jobs).map_err(put_back)?;
    record(&s, &brought)?;
    s.fold_lock()?;
    super::init::refresh_gitignore(&s.ws.dir, &super::cached_outs(&s))?;
    p.verb(
        "Imported",
        Tone::Good,
        &format!(
            "{} from {} `{}` at {}",
            wp,
            src.url,
            src.path,
            brought.commit.describe()
        ),
    );
    Ok(brought)
}

/// Records `b` as its path's lock entry, with the commit it came from.
fn record(s: &Session, b: &Brought) -> Result<()> {
    let id = DataDef::lock_id(&b.path);
    let Some(i) = s.graph.find(&id) else {
        return Err(OpsError::DataNotInGraph {
            path: b.path.clone(),
        }
        .into());
    };
    let mut outs = std::collections::BTreeMap::new();
    outs.insert(b.path.clone(), b.hash);
    let mut entry = LockEntry::new(&s.graph[i], Default::default(), Default::default(), outs);
    entry.rev_lock = Some(b.commit.sha.clone());
    s.ws.lock.record(&id, Some(&entry))?;
    Ok(())
}

/// Whether `h`'s objects are all intact in `store`.
fn complete(store: &Store, h: &Summary) -> bool {
    if !store.intact(&h.digest) {
        return false;
    }
    !h.is_dir()
        || store
            .read_manifest(&h.digest)
            .is_ok_and(|m| m.entries().iter().all(|e| store.intact(&e.digest)))
}

/// Fetches what `src` tracks at `commit` into the cache, from the source's remote (or the
/// workspace's remote the import names).
fn fetch_at(
    p: &Printer,
    ws: &Workspace,
    repo: &Repo,
    commit: &Commit,
    src: &DataSourceToml,
    jobs: Option<usize>,
) -> Result<Fetched> {
    let ours = match &src.remote {
        Some(n) => Some(crate::sharing::spec_in(&ws.config, &ws.root, Some(n))?),
        None => None,
    };
    let imports = ws.dot.join("imports");
    let scratch = pipe_cache::fsutil::unique_path(&imports, "meta");
    let located = source::locate(repo, commit, &src.path, &scratch, ours);
    let _ = std::fs::remove_dir_all(&scratch);
    let (tracked, mut remote) = located?;
    if src.remote.is_none() {
        with_local_settings(&mut remote.spec, &ws.config, &ws.root);
    }
    fetch_into(p, repo, &tracked, &remote, &ws.store, jobs)
}

/// `pipe pull`'s fallback: imported data (`[data."PATH"] source`) that the local cache does
/// not hold whole after the fetch from our remote (not pushed there, or no remote at all)
/// is fetched from its source at the commit the lock pinned (`rev_lock`), and must hash
/// to what the lock records. `targets`: as `pull`'s (empty: every import). Returns the
/// paths it brought.
pub fn fetch_sources(
    p: &Printer,
    s: &Session,
    targets: &[String],
    jobs: Option<usize>,
) -> Result<Vec<String>> {
    let lock = s.ws.lock.read()?;
    let mut brought = Vec::new();
    for d in s.spec.data.iter().filter(|d| d.source.is_some()) {
        let Some(src) = &d.source else { continue };
        if !targets.is_empty()
            && !targets.iter().any(|t| {
                WsPath::parse(t.trim_end_matches('/')).is_ok_and(|t| t.overlaps(&d.path))
                    || t == &DataDef::lock_id(&d.path)
            })
        {
            continue;
        }
        let Some(entry) = lock.get(&DataDef::lock_id(&d.path)) else {
            continue;
        };
        let (Some(sha), Some(want)) = (&entry.rev_lock, entry.outs.get(d.path.as_str())) else {
            continue;
        };
        if complete(&s.ws.store, want) {
            continue;
        }
        // A source's failure names the out it was fetching.
        let named = |e: Error| match e {
            Error::Import(err) => ImportError::ForOut {
                out: d.path.to_string(),
                err,
            }
            .into(),
            e => e,
        };
        let repo = mirror(&s.ws, &src.url).map_err(named)?;
        let commit = repo.resolve(Some(sha)).map_err(|e| named(e.into()))?;
        let got = fetch_at(p, &s.ws, &repo, &commit, src, jobs).map_err(named)?;
        if got.hash.digest != want.digest {
            return Err(ImportError::SourceChanged {
                path: d.path.to_string(),
                url: src.url.clone(),
                commit: commit.describe(),
            }
            .into());
        }
        p.verb(
            "Fetched",
            Tone::Good,
            &format!(
                "{} from its source {} at {}",
                d.path,
                src.url,
                commit.describe()
            ),
        );
        brought.push(d.path.to_string());
    }
    Ok(brought)
}

/// The mirror of `url` under `.pipe/imports/`, brought up to date.
fn mirror(ws: &Workspace, url: &str) -> Result<Repo> {
    let dir = ws.dot.join("imports").join(mirror_name(url));
    Ok(Repo::open(url, &dir, true)?)
}

/// Resolves `rev` of `src`, fetches what it tracks into the cache (nothing when `prev`
/// came from the same commit and the cache holds it whole) and checks it out at `wp`.
fn bring(
    p: &Printer,
    ws: &Workspace,
    wp: &WsPath,
    src: &DataSourceToml,
    rev: Option<&str>,
    prev: Option<&LockEntry>,
    jobs: Option<usize>,
) -> Result<Brought> {
    let repo = mirror(ws, &src.url)?;
    let commit = repo.resolve(rev)?;
    let kept = prev
        .filter(|e| e.rev_lock.as_deref() == Some(commit.sha.as_str()))
        .and_then(|e| e.outs.get(wp.as_str()))
        .filter(|h| complete(&ws.store, h));
    let (hash, objects) = match kept {
        Some(h) => {
            p.verb(
                "Fetched",
                Tone::Good,
                &format!(
                    "0 object(s): the cache holds `{wp}` at {} already",
                    commit.describe()
                ),
            );
            (*h, 0)
        }
        None => {
            let f = fetch_at(p, ws, &repo, &commit, src, jobs)?;
            (f.hash, f.objects)
        }
    };
    let fetched = Fetched {
        hash,
        objects,
        bytes: 0,
    };
    place(&ws.store, &fetched, &ws.dir, wp.as_str())?;
    Ok(Brought {
        path: wp.clone(),
        commit,
        hash,
    })
}

/// The pipeline text with `[data."wp"] source = {...}` (its other keys kept).
pub fn with_source(text: &str, wp: &WsPath, src: &DataSourceToml) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(OpsError::PipelineToml)?;
    let mut inline = toml_edit::InlineTable::new();
    inline.insert("url", src.url.as_str().into());
    inline.insert("path", src.path.as_str().into());
    if let Some(r) = &src.rev {
        inline.insert("rev", r.as_str().into());
    }
    if let Some(r) = &src.remote {
        inline.insert("remote", r.as_str().into());
    }
    let fresh = !doc.contains_key("data");
    let data = doc
        .entry("data")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    let Some(table) = data.as_table_mut() else {
        return Err(OpsError::DataNotTable.into());
    };
    if fresh {
        table.set_implicit(true);
    }
    match table
        .get_mut(wp.as_str())
        .and_then(|i| i.as_table_like_mut())
    {
        Some(t) => {
            t.insert("source", toml_edit::value(inline));
        }
        None => {
            let mut t = toml_edit::Table::new();
            t.insert("source", toml_edit::value(inline));
            table.insert(wp.as_str(), toml_edit::Item::Table(t));
        }
    }
    Ok(doc.to_string())
}

/// `pipe update`: which imports, to which rev, and whether only to say.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    pub paths: Vec<PathBuf>,
    pub rev: Option<String>,
    pub dry: bool,
    pub jobs: Option<usize>,
}

/// `pipe update [PATH...]`: re-resolves each import's rev (a branch moves; a tag or a
/// commit stays put unless `rev` moves it), imports what changed, says old and new commit
/// and what changed; `dry`: only says.
pub fn update(p: &Printer, pipeline: &Path, o: &UpdateOptions) -> Result<()> {
    let s = Session::open(pipeline)?;
    let imported: Vec<&DataDef> = s.spec.data.iter().filter(|d| d.source.is_some()).collect();
    let chosen: Vec<&DataDef> = if o.paths.is_empty() {
        imported
    } else {
        let mut v = Vec::new();
        for p in &o.paths {
            let wp = super::add::workspace_path(&s.spec.root, p)?;
            match imported.iter().find(|d| d.path == wp) {
                Some(d) => v.push(*d),
                None => {
                    return Err(ImportError::BadArgument(format!(
                        "`{wp}` is not imported data (no `source` in its [data] entry)"
                    ))
                    .into());
                }
            }
        }
        v
    };
    s.fold_lock()?;
    let lock = s.ws.lock.read()?;
    let mut text = read_pipeline(pipeline)?.unwrap_or_default();
    let mut moved_rev = false;
    for d in chosen {
        let Some(src) = &d.source else { continue };
        let rev = o.rev.clone().or_else(|| src.rev.clone());
        let prev = lock.get(&DataDef::lock_id(&d.path));
        let old = prev.and_then(|e| e.rev_lock.clone());
        let repo = mirror(&s.ws, &src.url)?;
        let commit = repo.resolve(rev.as_deref())?;
        let old_short = old
            .as_deref()
            .map_or("-".to_string(), |o| o[..o.len().min(10)].to_string());
        let same = old.as_deref() == Some(commit.sha.as_str());
        if same && (o.rev.is_none() || o.rev == src.rev) {
            p.verb(
                "Unchanged",
                Tone::Info,
                &format!("{} at {}", d.path, commit.describe()),
            );
            continue;
        }
        if o.dry {
            p.verb(
                "Would update",
                Tone::Info,
                &format!("{}: {old_short} -> {}", d.path, commit.describe()),
            );
            continue;
        }
        let new_src = DataSourceToml {
            rev: rev.clone(),
            ..src.clone()
        };
        let b = bring(p, &s.ws, &d.path, &new_src, rev.as_deref(), prev, o.jobs)?;
        record(&s, &b)?;
        let changes = prev
            .and_then(|e| e.outs.get(d.path.as_str()))
            .and_then(|h| changes(&s.ws.store, h, &b.hash));
        if o.rev.is_some() && o.rev != src.rev {
            text = with_source(&text, &d.path, &new_src)?;
            moved_rev = true;
        }
        let what = match changes {
            Some((a, c, r)) => format!(" ({a} added, {c} changed, {r} removed)"),
            None => String::new(),
        };
        p.verb(
            "Updated",
            Tone::Good,
            &format!("{}: {old_short} -> {}{what}", d.path, commit.describe()),
        );
    }
    if moved_rev {
        super::add::write(pipeline, &text)?;
    }
    s.fold_lock()?;
    Ok(())
}

/// Files added, changed and removed from `old` to `new`, when both are directories whose
/// manifests the cache holds (a file: one changed, or none).
fn changes(store: &Store, old: &Summary, new: &Summary) -> Option<(usize, usize, usize)> {
    if !old.is_dir() || !new.is_dir() {
        return (!old.is_dir() && !new.is_dir())
            .then(|| (0, usize::from(old.digest != new.digest), 0));
    }
    let a = store.read_manifest(&old.digest).ok()?;
    let b = store.read_manifest(&new.digest).ok()?;
    let before: std::collections::HashMap<&str, Digest> = a
        .entries()
        .iter()
        .map(|e| (e.path.as_str(), e.digest))
        .collect();
    let mut added = 0;
    let mut changed = 0;
    for e in b.entries() {
        match before.get(e.path.as_str()) {
            None => added += 1,
            Some(d) if *d != e.digest => changed += 1,
            Some(_) => {}
        }
    }
    let after: std::collections::HashSet<&str> =
        b.entries().iter().map(|e| e.path.as_str()).collect();
    let removed = before.keys().filter(|k| !after.contains(*k)).count();
    Some((added, changed, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_written_as_a_data_table_and_the_rest_is_kept() {
        let wp = WsPath::parse("data/raw").unwrap();
        let src = DataSourceToml {
            url: "../reg".into(),
            path: "datasets/full".into(),
            rev: Some("v1".into()),
            remote: None,
        };
        let t = with_source("# mine\n[stage.a]\ncmd = \"x\"\n", &wp, &src).unwrap();
        assert!(t.starts_with("# mine\n[stage.a]\ncmd = \"x\"\n"), "{t}");
        assert!(
            t.contains(
                "\n[data.\"data/raw\"]\nsource = { url = \"../reg\", path = \"datasets/full\", rev = \"v1\" }\n"
            ),
            "{t}"
        );
        assert!(!t.contains("\n[data]\n"), "{t}");
        // Again, with another rev: replaced, the entry's other keys kept.
        let t = t.replace("source", "desc = \"raw\"\nsource");
        let moved = DataSourceToml {
            rev: Some("v2".into()),
            ..src
        };
        let t = with_source(&t, &wp, &moved).unwrap();
        assert!(t.contains("desc = \"raw\""), "{t}");
        assert!(
            t.contains("rev = \"v2\"") && !t.contains("rev = \"v1\""),
            "{t}"
        );
        assert!(with_source("data = 1\n", &wp, &moved).is_err());
    }
}
