//! `pipe import-dvc [DIR] [--dry] [--force]`: a DVC project -> pipe.toml + pipe.lock,
//! with nothing recomputed that DVC already computed.
//!
//! 1. Read the project (`crate::dvc::read`): every dvc.yaml, `.dvc` file and the remotes
//!    of `.dvc/config`, with a note (file:line and why) for each construct not carried,
//!    and every dvc.lock. A path that leaves the project, in any of them, is refused with
//!    its file:line before anything is written.
//! 2. `--dry`: pipe.toml's text and the notes, for the caller to show; write nothing.
//! 3. Refuse an existing pipe.toml without `--force`; write pipe.toml and load it as any
//!    pipeline (a pipeline pipe cannot load is put back as it was, and the error shown).
//! 4. Remotes -> `.pipe/config.toml` (no credentials).
//! 5. Tracked data (`.dvc` files) whose workspace content matches its md5: stored in the
//!    cache and recorded in the lock, as `pipe add` does.
//! 6. Stages whose command, params, deps and outs still match `dvc.lock` (md5, checked once
//!    per path): outs stored in the cache, lock entry recorded with blake3 hashes, so
//!    `pipe status` says up to date and `pipe repro` runs nothing. The others are listed
//!    as stale with the reason.

use std::path::Path;

use toml::Value;

use crate::dvc::{self, Import, lock::Checker};
use crate::error::{Error, Result};
use crate::graph::StageIdx;
use crate::graph::StageKind;
use crate::report::printer::{Printer, Tone};
use crate::run::commit;
use crate::run::decide::Inputs;
use crate::run::observe::observe;
use crate::spec::{DataDef, Params};
use crate::wspath::WsPath;

use super::Session;
use super::error::OpsError;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub dry: bool,
    pub force: bool,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub stages: usize,
    /// Stages (pipe names) whose lock entry was imported.
    pub locked: Vec<String>,
    /// Stages left stale, with why.
    pub stale: Vec<(String, String)>,
    /// Tracked data recorded.
    pub data: Vec<String>,
    pub remotes: Vec<String>,
    /// `--dry`: pipe.toml's text and what is not carried over, to show (nothing written).
    pub preview: Option<String>,
}

pub fn import_dvc(p: &Printer, dir: &Path, o: &ImportOptions) -> Result<ImportReport> {
    let root = std::path::absolute(dir).map_err(|err| OpsError::Resolve {
        path: dir.to_path_buf(),
        err,
    })?;
    let imp = dvc::read(&root)?;
    let locks = read_locks(&root, &imp)?;
    let text = dvc::render::pipeline(&imp);
    let mut report = ImportReport {
        stages: imp.stages.len(),
        ..ImportReport::default()
    };
    let pipeline = root.join("pipe.toml");
    // Every check a load runs, on the text in memory: `--dry` fails as the import would,
    // and an error points into the DVC file it came from, not a pipe.toml never written.
    let (spec, graph) = check(&pipeline, &text, &imp)?;
    if o.dry {
        report.preview = Some(crate::report::import::preview(&text, &imp.notes));
        return Ok(report);
    }
    let old = std::fs::read_to_string(&pipeline).ok();
    if old.is_some() && !o.force {
        return Err(OpsError::PipelineExists { path: pipeline }.into());
    }
    write(&pipeline, &text)?;
    // The pipeline as checked above is what was written: its workspace is all that is
    // left to open (not a second parse of a large pipeline).
    let opened = Session::from_loaded(spec, graph).inspect(|s| super::warn_workspace(p, &s.ws));
    let s = match opened {
        Ok(s) => s,
        Err(e) => {
            match &old {
                Some(t) => write(&pipeline, t)?,
                None => {
                    let _ = std::fs::remove_file(&pipeline);
                }
            }
            p.warn("the imported pipeline does not load; nothing was written (see it with --dry)");
            return Err(e);
        }
    };
    p.verb(
        "Wrote",
        Tone::Good,
        &format!(
            "pipe.toml ({} stages, {} tracked paths)",
            imp.stages.len(),
            imp.data.len()
        ),
    );
    for n in &imp.notes {
        p.warn(&format!("{}: {}", n.at, n.what));
    }

    report.remotes = remotes(p, &s, &root, &imp)?;
    let checker = Checker::default();
    data(p, &s, &root, &imp, &checker, &mut report)?;
    stages(p, &s, &root, &imp, &locks, &checker, &mut report)?;
    s.ws.state.save()?;
    s.fold_lock()?;
    super::init::refresh_gitignore(&s.ws.dir, &super::cached_outs(&s))?;
    for (name, why) in &report.stale {
        p.detail("Stale", &format!("{name}: {why}"));
    }
    let single = imp.stages.iter().filter(|d| d.single_stage_file).count();
    let from = match (single, imp.stages.len()) {
        (0, _) => "dvc.lock",
        (a, b) if a == b => "their single-stage files",
        _ => "dvc.lock and single-stage files",
    };
    p.verb(
        "Imported",
        Tone::Good,
        &format!(
            "{} of {} stages up to date from {from}, {} tracked paths, {} remotes",
            report.locked.len(),
            report.stages,
            report.data.len(),
            report.remotes.len()
        ),
    );
    Ok(report)
}

/// Loads `text` as the pipeline file `pipeline` would be (spec and graph, as `pipe` loads
/// any pipeline), without writing it. An error inside it is given in DVC's terms: the
/// dvc.yaml or `.dvc` file and line the offending stage or data entry came from.
fn check(
    pipeline: &Path,
    text: &str,
    imp: &Import,
) -> Result<(crate::spec::Spec, crate::graph::Graph)> {
    let loaded = crate::spec::from_bytes(pipeline, text.as_bytes().to_vec()).and_then(|spec| {
        let graph = crate::graph::Graph::build(&spec)?;
        Ok((spec, graph))
    });
    let e = match loaded {
        Ok(done) => return Ok(done),
        Err(e) => e,
    };
    let line = e
        .location()
        .and_then(|l| l.strip_prefix("pipe.toml:"))
        .and_then(|lc| lc.split(':').next())
        .and_then(|l| l.parse::<usize>().ok());
    let (at, what) = line
        .and_then(|l| dvc::render::origin(text, imp, l))
        .unwrap_or_else(|| ("the converted pipeline".to_string(), String::new()));
    Err(OpsError::DvcWontLoad {
        at,
        what,
        message: e.message().to_string(),
    }
    .into())
}

/// Every dvc.lock of the project, by directory; a dep, out or params file of a stage that
/// leaves the project is refused (`dvc.lock:LINE: ...`, exit 2).
fn read_locks(root: &Path, imp: &Import) -> Result<Locks> {
    let mut locks = Locks::new();
    for dir in &imp.dirs {
        locks.insert(dir.clone(), dvc::lock::read(root, dir)?);
    }
    for decl in &imp.stages {
        if let Some(locked) = locked(imp, &locks, decl) {
            dvc::lock::check_paths(locked, &decl.wdir).map_err(OpsError::from)?;
        }
    }
    Ok(locks)
}

type Locks =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, dvc::lock::LockedStage>>;

/// What DVC recorded of `decl`'s last run: its dvc.lock entry, or what its single-stage
/// file holds.
fn locked<'a>(
    imp: &'a Import,
    locks: &'a Locks,
    decl: &dvc::convert::StageDecl,
) -> Option<&'a dvc::lock::LockedStage> {
    if decl.single_stage_file {
        imp.single_locks
            .get(&(decl.dir.clone(), decl.dvc_name.clone()))
    } else {
        locks.get(&decl.dir).and_then(|l| l.get(&decl.dvc_name))
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    pipe_cache::fsutil::write_file_atomic(path, text.as_bytes(), false).map_err(|err| {
        OpsError::Write {
            path: path.to_path_buf(),
            err,
        }
        .into()
    })
}

fn remotes(p: &Printer, s: &Session, root: &Path, imp: &Import) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for r in &imp.remotes {
        let url = local_url(root, &r.url);
        let o = super::remote_config::AddOptions {
            default: imp.default_remote.as_deref() == Some(r.name.as_str()),
            local: false,
            force: true,
            options: r.options.clone(),
        };
        match super::remote_config::add(p, &s.ws, &r.name, &url, &o) {
            Ok(()) => done.push(r.name.clone()),
            Err(e) => p.warn(&format!(
                "remote `{}` ({}) not imported: {e}",
                r.name, r.url
            )),
        }
    }
    Ok(done)
}

/// A DVC local remote's path is relative to `.dvc/`; pipe's to the workspace.
fn local_url(root: &Path, url: &str) -> String {
    if url.contains("://") || url.starts_with('/') {
        return url.to_string();
    }
    let mut abs = root.join(".dvc");
    for part in url.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                abs.pop();
            }
            p => abs.push(p),
        }
    }
    abs.display().to_string()
}

fn data(
    p: &Printer,
    s: &Session,
    root: &Path,
    imp: &Import,
    checker: &Checker,
    report: &mut ImportReport,
) -> Result<()> {
    let lock = s.ws.lock.read()?;
    for d in &imp.data {
        let Ok(wp) = WsPath::parse(&d.path) else {
            continue;
        };
        let id = DataDef::lock_id(&wp);
        let Some(i) = s.graph.find(&id) else {
            continue;
        };
        let Some(md5) = &d.md5 else {
            report.stale.push((id, format!("{} has no md5", d.at)));
            continue;
        };
        match checker.matches(root, &d.path, md5, d.legacy) {
            Ok(Some(true)) => {}
            Ok(Some(false)) => {
                report
                    .stale
                    .push((id, format!("{} differs from {}", d.path, d.at)));
                continue;
            }
            Ok(None) if from_dvc_cache(p, &s.ws.dir, &d.path, md5)? => {}
            Ok(None) => {
                report.stale.push((
                    id,
                    format!(
                        "{} is missing, and DVC's cache lacks it (run `dvc pull` first)",
                        d.path
                    ),
                ));
                continue;
            }
            Err(err) => {
                return Err(OpsError::Read {
                    path: d.path.clone().into(),
                    err,
                }
                .into());
            }
        }
        if lock.contains_key(&id) && !stale_entry(s, i, &lock)? {
            report.data.push(d.path.clone());
            continue;
        }
        let st = &s.graph[i];
        commit::commit(
            &s.ws,
            st,
            &Inputs::new(st, Default::default(), Default::default()),
            Vec::new(),
            None,
        )?;
        report.data.push(d.path.clone());
    }
    Ok(())
}

/// Outs dvc.lock names that the workspace lacks, brought back from DVC's cache (verified),
/// as `dvc checkout` would.
fn restore_missing(
    p: &Printer,
    dir: &pipe_cache::RootDir,
    wdir: &str,
    outs: &[dvc::lock::Hashed],
) -> Result<()> {
    for h in outs {
        let ws = dvc::convert::join(wdir, &h.path).map_err(|why| OpsError::At {
            at: h.at.clone(),
            why: why.to_string(),
        })?;
        if let Some(m) = &h.md5
            && std::fs::symlink_metadata(dir.path().join(&ws)).is_err()
        {
            from_dvc_cache(p, dir, &ws, m)?;
        }
    }
    Ok(())
}

fn from_dvc_cache(p: &Printer, dir: &pipe_cache::RootDir, ws: &str, md5: &str) -> Result<bool> {
    let ok = dvc::cache::restore(dir, dir.path(), md5, ws).map_err(|e| match e {
        e @ pipe_cache::Error::Escapes { .. } => Error::Cache(e),
        err => OpsError::DvcRestore {
            path: ws.to_string(),
            err,
        }
        .into(),
    })?;
    if ok {
        p.verb("Restored", Tone::Good, &format!("{ws} (from DVC's cache)"));
    }
    Ok(ok)
}

/// Whether a lock entry pipe already has no longer matches the workspace.
fn stale_entry(s: &Session, i: StageIdx, lock: &crate::lock::Entries) -> Result<bool> {
    let st = &s.graph[i];
    let obs = observe(&s.ws, st)?;
    let opts = crate::run::decide::Options {
        compare_data: true,
        ..Default::default()
    };
    Ok(crate::run::decide::decide(&s.ws, st, lock.get(st.id.as_str()), &obs, &[], opts).is_stale())
}

fn stages(
    p: &Printer,
    s: &Session,
    root: &Path,
    imp: &Import,
    locks: &Locks,
    checker: &Checker,
    report: &mut ImportReport,
) -> Result<()> {
    let files: std::cell::RefCell<std::collections::BTreeMap<String, Option<toml::Table>>> =
        Default::default();
    let param = |file: &str, key: &str| -> Option<Value> {
        let mut files = files.borrow_mut();
        let t = files.entry(file.to_string()).or_insert_with(|| {
            WsPath::parse(file)
                .ok()
                .and_then(|wp| Params::load_file(root, &wp).ok().flatten())
                .map(|f| f.table)
        });
        crate::spec::params::lookup(t.as_ref()?, key).cloned()
    };
    // Stages in dependency order, so an upstream that does not match leaves its
    // downstream stale too.
    let mut unmatched: std::collections::HashSet<StageIdx> = Default::default();
    for &i in s.graph.topo() {
        let st = &s.graph[i];
        let Some(decl) = imp.stages.iter().find(|d| d.name == st.id.as_str()) else {
            continue;
        };
        let Some(locked) = locked(imp, locks, decl) else {
            unmatched.insert(i);
            report.stale.push((
                decl.name.clone(),
                "not in dvc.lock (never run by DVC)".into(),
            ));
            continue;
        };
        if let Some(u) = s
            .graph
            .upstream(i)
            .into_iter()
            .find(|u| unmatched.contains(u))
        {
            unmatched.insert(i);
            report.stale.push((
                decl.name.clone(),
                format!("upstream stage {} does not match dvc.lock", s.graph[u].id),
            ));
            continue;
        }
        let StageKind::Cmd(cmd) = &st.kind else {
            continue;
        };
        restore_missing(p, &s.ws.dir, st.wdir.as_str(), &locked.outs)?;
        let deps: Vec<String> = st.deps.iter().map(|d| d.to_string()).collect();
        let outs: Vec<String> = st.outs.iter().map(|o| o.path.to_string()).collect();
        let why = dvc::lock::mismatch(
            root,
            checker,
            locked,
            st.wdir.as_str(),
            cmd,
            &deps,
            &outs,
            &param,
        )
        .map_err(|err| OpsError::DvcStage {
            stage: st.id.to_string(),
            err,
        })?;
        if let Some(why) = why {
            unmatched.insert(i);
            report.stale.push((decl.name.clone(), why));
            continue;
        }
        let obs = observe(&s.ws, st)?;
        let Some(inputs) = Inputs::of(st, &obs).filter(|_| obs.outs.values().all(Option::is_some))
        else {
            unmatched.insert(i);
            report.stale.push((
                decl.name.clone(),
                "a dep or out vanished while importing".into(),
            ));
            continue;
        };
        commit::commit(&s.ws, st, &inputs, Vec::new(), None)?;
        report.locked.push(decl.name.clone());
    }
    Ok(())
}
