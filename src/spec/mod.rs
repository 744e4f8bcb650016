//! The pipeline spec: reading `pipe.toml` (and its params files) into validated stage and
//! sweep definitions. Templates (`${...}`) stay unresolved here: a stage is instantiated
//! once for the base pipeline and once per sweep cell, with different params, by `graph`.
//!
//! [`load`]: the file's text ([`schema`]'s plain serde types, spans kept) -> the params
//! files ([`params`]) -> each `[stage.NAME]` into a [`StageDef`] (its name, what it runs,
//! outs, params, resources, env and a built-in's arity, one function each) -> each
//! `[sweep.NAME]` into a typed [`SweepDef`] ([`sweep`]: overrides typed against the params)
//! -> `[data]`. Nothing after this re-checks what it checked.
//!
//! Errors are [`SpecError`]s pointing at the file, line and column.

pub mod diag;
pub mod duration;
pub mod exp_name;
pub mod interp;
pub mod limits;
pub mod naming;
pub mod null;
pub mod params;
pub mod python;
pub mod schema;
pub mod sweep;
pub mod toml_text;
pub mod vars;
pub mod yaml;

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

pub use diag::{SourceFile, SpecError};
pub use params::{Params, View};
use schema::{OutToml, ParamRefToml, PipelineToml, StageToml};
pub use sweep::SweepDef;

use crate::builtin;
use crate::wspath::WsPath;

/// A loaded, statically validated pipeline.
#[derive(Debug)]
pub struct Spec {
    /// The workspace root: the directory holding the pipeline file.
    pub root: PathBuf,
    /// The pipeline file.
    pub path: PathBuf,
    pub file: SourceFile,
    pub name: Option<String>,
    pub vars: toml::Table,
    pub params: Params,
    pub stages: Vec<StageDef>,
    pub sweeps: Vec<SweepDef>,
    /// Tracked data (`[data]`, written by `pipe add`).
    pub data: Vec<DataDef>,
}

/// A tracked file or directory (`[data]`): its content is recorded in the lock under
/// [`DataDef::lock_id`] and cached, so push, pull, checkout, status and gc treat it as an
/// out, but no stage makes it and `repro` never touches it.
#[derive(Debug, Clone)]
pub struct DataDef {
    pub path: WsPath,
    /// Span of the path key in `[data]`.
    pub span: Range<usize>,
    pub desc: Option<String>,
    /// Where imported data comes from (`pipe import`); `None` for `pipe add`'s.
    pub source: Option<schema::DataSourceToml>,
}

impl DataDef {
    /// The lock entry's id: `data:PATH` (a stage name cannot hold `:`).
    pub fn lock_id(path: &WsPath) -> String {
        format!("{DATA_PREFIX}{path}")
    }
}

/// The prefix of tracked data's ids in the lock and the graph.
pub const DATA_PREFIX: &str = "data:";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutRole {
    Out,
    Metric,
    Plot,
}

impl OutRole {
    pub fn key(self) -> &'static str {
        match self {
            OutRole::Out => "outs",
            OutRole::Metric => "metrics",
            OutRole::Plot => "plots",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OutDef {
    pub path: Spanned<String>,
    pub role: OutRole,
    pub cache: bool,
    pub persist: bool,
    /// How a plot is drawn (plots only).
    pub chart: Option<ChartDef>,
}

/// The chart kinds a plot declaration may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    #[default]
    Line,
    Scatter,
    Bar,
    Confusion,
}

impl Template {
    pub const NAMES: [&'static str; 4] = ["line", "scatter", "bar", "confusion"];

    pub fn parse(s: &str) -> Option<Template> {
        Some(match s {
            "line" => Template::Line,
            "scatter" => Template::Scatter,
            "bar" => Template::Bar,
            "confusion" => Template::Confusion,
            _ => return None,
        })
    }
}

/// A plot's `x`, `y`, `template` and `title`; unset columns are chosen from the data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartDef {
    pub x: Option<String>,
    pub y: Vec<String>,
    pub template: Template,
    pub title: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ParamRef {
    pub key: String,
    pub file: Option<WsPath>,
    pub span: Range<usize>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Cmd(Spanned<Vec<String>>),
    Uses(Spanned<String>, builtin::BuiltinSig),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpus: u32,
    pub gpus: u32,
    pub mem: u64,
}

/// How a stage is placed under a cluster executor (`resources.time`, `resources.partition`,
/// `local`); the local executor ignores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Wall time in seconds.
    pub time: Option<u64>,
    pub partition: Option<String>,
    /// Run on the submitting host, never as a cluster job.
    pub local: bool,
}

/// One `[stage.NAME]` table, validated but not yet instantiated.
#[derive(Debug, Clone)]
pub struct StageDef {
    pub name: String,
    /// Span of the name in `[stage.NAME]`.
    pub span: Range<usize>,
    pub desc: Option<String>,
    pub body: Body,
    pub wdir: Option<Spanned<String>>,
    pub deps: Vec<Spanned<String>>,
    pub params: Vec<ParamRef>,
    pub outs: Vec<OutDef>,
    pub resources: Resources,
    pub resources_span: Option<Range<usize>>,
    pub placement: Placement,
    pub frozen: bool,
    pub always_changed: bool,
    pub retries: u32,
    pub env: Vec<Spanned<String>>,
}

impl StageDef {
    pub fn outs_of(&self, role: OutRole) -> impl Iterator<Item = &OutDef> {
        self.outs.iter().filter(move |o| o.role == role)
    }
}

/// Reads and validates the pipeline file at `path`.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let abs = std::path::absolute(path)
        .map_err(|e| SpecError::new(format!("cannot resolve {}: {e}", path.display())))?;
    let bytes = std::fs::read(&abs).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            "no pipeline file".to_string()
        } else {
            format!("cannot read pipeline file: {e}")
        };
        SpecError::new(format!("{what} at {}", diag::display_path(&abs))).help(
            "run pipe in the directory holding pipe.toml, or name the file with `pipe -f FILE`",
        )
    })?;
    from_bytes(&abs, bytes)
}

/// Validates `bytes` as the pipeline file at `abs` (an absolute path, which need not exist:
/// `pipe import-dvc` checks the pipeline it would write before writing it). Params files
/// are read from `abs`'s directory.
pub fn from_bytes(abs: &Path, bytes: Vec<u8>) -> Result<Spec, SpecError> {
    let abs = abs.to_path_buf();
    let root = abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let file = SourceFile::from_bytes(&abs, bytes)?;
    let doc: PipelineToml = toml::from_str(&file.text).map_err(|e| diag::from_toml(&file, &e))?;
    // Tracked data alone (a dataset registry) is a pipeline; a file with neither is a
    // mistake worth saying.
    if doc.stage.is_empty() && doc.data.is_empty() {
        return Err(file
            .error(0..0, format!("{} defines no stages and tracks no data", file.name))
            .help("a pipeline needs at least one `[stage.NAME]` table with `cmd = \"...\"` or `uses = \"NAME\"`, or tracked data (`pipe add PATH`); nothing was run or changed"));
    }
    vars::check_literal(&file)?;

    let meta = doc.pipeline;
    let mut params = default_params(&file, &root, meta.as_ref())?;
    let mut stages = Vec::with_capacity(doc.stage.len());
    for (name, body) in doc.stage {
        let def = stage_def(&file, name, body)?;
        load_named_params(&root, &def, &mut params)?;
        stages.push(def);
    }
    let sweeps = doc
        .sweep
        .iter()
        .map(|(name, body)| sweep::parse(&file, &stages, &params, name, body))
        .collect::<Result<_, _>>()?;
    let data = data_defs(&file, &abs, doc.data)?;
    Ok(Spec {
        root,
        path: abs,
        file,
        name: meta.as_ref().and_then(|m| m.name.clone()),
        vars: doc.vars,
        params,
        stages,
        sweeps,
        data,
    })
}

/// The pipeline's params files (`[pipeline] params`, default `params.toml`, or
/// `params.yaml` when only that exists), each loaded or noted missing.
fn default_params(
    file: &SourceFile,
    root: &Path,
    meta: Option<&schema::PipelineMetaToml>,
) -> Result<Params, SpecError> {
    let mut params = Params::default();
    let param_files: Vec<Spanned<String>> = meta
        .and_then(|m| m.params.clone())
        .unwrap_or_else(|| vec![Spanned::new(0..0, params::default_file(root).to_string())]);
    for p in &param_files {
        let wp = WsPath::parse(p.get_ref()).map_err(|e| file.error(p.span(), e.to_string()))?;
        let slot = match Params::load_file(root, &wp)? {
            Some(f) => params::Slot::Loaded(f),
            None => params::Slot::Missing(wp),
        };
        params.defaults.push(slot);
    }
    Ok(params)
}

/// Loads the params files stage `def` names (`{ file = ..., keys = [...] }`) that are not
/// loaded yet.
fn load_named_params(root: &Path, def: &StageDef, params: &mut Params) -> Result<(), SpecError> {
    for p in &def.params {
        if let Some(f) = &p.file
            && !params.others.contains_key(f)
        {
            let slot = match Params::load_file(root, f)? {
                Some(pf) => params::Slot::Loaded(pf),
                None => params::Slot::Missing(f.clone()),
            };
            params.others.insert(f.clone(), slot);
        }
    }
    Ok(())
}

/// `[data]`: tracked paths, none of them the workspace's own (see [`workspace_owned`]).
fn data_defs(
    file: &SourceFile,
    pipeline: &Path,
    data: indexmap::IndexMap<Spanned<String>, Spanned<schema::DataToml>>,
) -> Result<Vec<DataDef>, SpecError> {
    let mut defs = Vec::with_capacity(data.len());
    for (path, body) in data {
        let span = path.span();
        let wp = WsPath::parse(path.get_ref())
            .map_err(|e| file.error(span.clone(), format!("tracked data: {e}")))?;
        if let Some(what) = workspace_owned(pipeline, &wp) {
            return Err(file.error(span, format!("`{wp}` cannot be tracked data: it is {what}")));
        }
        let body = body.into_inner();
        if let Some(src) = &body.source
            && (src.url.trim().is_empty() || src.path.trim().is_empty())
        {
            return Err(file.error(span, format!("`{wp}`: `source` needs a `url` and a `path`")));
        }
        defs.push(DataDef {
            path: wp,
            span,
            desc: body.desc,
            source: body.source,
        });
    }
    Ok(defs)
}

/// What `p` is when it belongs to the workspace rather than to a stage's outs or to
/// `[data]` (pipe writes or reads it itself, and caching it would replace it with a link
/// into the cache): the root, `.pipe/`, `.git/`, the pipeline file `pipeline` itself, its
/// lock, or a `.gitignore`.
pub fn workspace_owned(pipeline: &Path, p: &WsPath) -> Option<String> {
    // `.pipe` and `.git` at any depth: a walk never enters them (as DVC), so an out there
    // could never be hashed.
    if p.is_root() || p.components().any(|c| c == ".pipe" || c == ".git") {
        return Some("the workspace's own".into());
    }
    // The pipeline file sits at the workspace's root, and so does its lock: a path is one
    // of them, or would lie inside one (a cell named `pipe.toml` under `dir = "."`).
    let top = p.components().next().unwrap_or_default();
    let own = |f: &Path| f.file_name().is_some_and(|n| n == top);
    if own(pipeline) {
        return Some("the pipeline file".into());
    }
    if own(&pipeline.with_extension("lock")) {
        return Some("the pipeline's lock".into());
    }
    if p.components().last() == Some(".gitignore") {
        return Some("git's list of ignored files (pipe keeps its outs in the root one)".into());
    }
    None
}

/// Stage names: letters, digits, `_`, `-`, `.` (`@` is reserved for sweep cells), not only
/// dots: a name becomes a file's or a directory's (`.` and `..` would be the directory
/// itself or its parent).
pub fn valid_stage_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !only_dots(name)
}

/// True for `""`, `.`, `..`, `...`: names no file may take apart from its directory.
pub fn only_dots(name: &str) -> bool {
    name.chars().all(|c| c == '.')
}

/// One `[stage.NAME]` table, checked in the order its parts are written about: the name,
/// what it runs, its outs, params, resources and env, and a built-in's arity.
fn stage_def(
    file: &SourceFile,
    name: Spanned<String>,
    body: Spanned<StageToml>,
) -> Result<StageDef, SpecError> {
    let span = name.span();
    let name = name.into_inner();
    if !valid_stage_name(&name) {
        return Err(file.error(
            span,
            format!(
                "stage name {} may hold only letters, digits, `_`, `-` and `.`, and not only dots",
                naming::elided(&name)
            ),
        ));
    }
    if name.len() > limits::LONGEST_STAGE_ID {
        return Err(file.error(
            span,
            format!(
                "stage name {} is longer than {} bytes: pipe names a file after each stage (its log, `NAME.log`)",
                naming::elided(&name),
                limits::LONGEST_STAGE_ID
            ),
        ));
    }
    let header = body.span();
    let t = body.into_inner();
    let run = stage_body(file, &name, header.clone(), t.cmd, t.uses)?;
    let outs = stage_outs(file, &name, [t.outs, t.metrics, t.plots], t.persist)?;
    let params = param_refs(file, t.params)?;
    let (resources, resources_span, placement) =
        stage_resources(file, &name, header, t.resources, t.local)?;
    check_env_names(file, &t.env)?;
    if let Body::Uses(u, sig) = &run {
        check_builtin_arity(file, &name, u, sig, &t.deps, &outs)?;
    }
    Ok(StageDef {
        name,
        span,
        desc: t.desc,
        body: run,
        wdir: t.wdir,
        deps: t.deps,
        params,
        outs,
        resources,
        resources_span,
        placement,
        frozen: t.frozen,
        always_changed: t.always_changed,
        retries: t.retries,
        env: t.env,
    })
}

/// What a stage runs: a shell command (`cmd`) or a built-in (`uses`), never both.
fn stage_body(
    file: &SourceFile,
    name: &str,
    header: Range<usize>,
    cmd: Option<Spanned<schema::CmdToml>>,
    uses: Option<Spanned<String>>,
) -> Result<Body, SpecError> {
    match (cmd, uses) {
        (Some(_), Some(u)) => Err(file
            .error(
                u.span(),
                format!("stage `{name}` has both `cmd` and `uses`"),
            )
            .help("a stage runs either a shell command (`cmd`) or a built-in (`uses`)")),
        (None, None) => Err(file
            .error(
                header,
                format!("stage `{name}` has neither `cmd` nor `uses`"),
            )
            .help("add `cmd = \"...\"` (a shell command) or `uses = \"NAME\"` (a built-in)")),
        (Some(cmd), None) => {
            let s = cmd.span();
            let cmds = cmd.into_inner().0;
            if cmds.is_empty() || cmds.iter().any(|c| c.trim().is_empty()) {
                return Err(file.error(s, format!("stage `{name}` has an empty command")));
            }
            Ok(Body::Cmd(Spanned::new(s, cmds)))
        }
        (None, Some(uses)) => {
            let sig = builtin::signature(uses.get_ref())
                .map_err(|e| file.error(uses.span(), e.to_string()))?;
            Ok(Body::Uses(uses, sig))
        }
    }
}

/// `outs`, `metrics` and `plots` (in that order), each with its chart keys checked;
/// `persist` of the stage makes every one persist.
fn stage_outs(
    file: &SourceFile,
    name: &str,
    [outs, metrics, plots]: [Vec<Spanned<OutToml>>; 3],
    persist_all: bool,
) -> Result<Vec<OutDef>, SpecError> {
    let mut defs = Vec::with_capacity(outs.len() + metrics.len() + plots.len());
    for (role, list) in [
        (OutRole::Out, outs),
        (OutRole::Metric, metrics),
        (OutRole::Plot, plots),
    ] {
        for o in list {
            let s = o.span();
            let OutToml {
                path,
                cache,
                persist,
                chart,
                ..
            } = o.into_inner();
            let chart = chart_def(file, name, role, &path, chart, s.clone())?;
            defs.push(OutDef {
                path: Spanned::new(s, path),
                role,
                cache,
                persist: persist || persist_all,
                chart,
            });
        }
    }
    Ok(defs)
}

/// `params`: keys of the pipeline's params files, or keys of a named file.
fn param_refs(
    file: &SourceFile,
    refs: Vec<Spanned<ParamRefToml>>,
) -> Result<Vec<ParamRef>, SpecError> {
    let mut params = Vec::new();
    for p in refs {
        let s = p.span();
        match p.into_inner() {
            ParamRefToml::Key(key) => {
                check_key(file, &key, s.clone())?;
                params.push(ParamRef {
                    key,
                    file: None,
                    span: s,
                });
            }
            ParamRefToml::File(f) => {
                let wp =
                    WsPath::parse(&f.file).map_err(|e| file.error(s.clone(), e.to_string()))?;
                for key in f.keys {
                    check_key(file, &key, s.clone())?;
                    params.push(ParamRef {
                        key,
                        file: Some(wp.clone()),
                        span: s.clone(),
                    });
                }
            }
        }
    }
    Ok(params)
}

/// `resources` (1 cpu, no gpu, no memory unless given; at least 1 cpu) and the cluster
/// placement (`resources.time`, `resources.partition`, `local`), with the span of the
/// `resources` table when there is one.
fn stage_resources(
    file: &SourceFile,
    name: &str,
    header: Range<usize>,
    resources: Option<Spanned<schema::ResourcesToml>>,
    local: bool,
) -> Result<(Resources, Option<Range<usize>>, Placement), SpecError> {
    let mut placement = Placement {
        local,
        ..Placement::default()
    };
    let (resources, resources_span) = match resources {
        Some(r) => {
            let s = r.span();
            let r = r.into_inner();
            if let Some(time) = &r.time {
                placement.time = Some(
                    duration::parse(time.get_ref())
                        .map_err(|m| file.error(time.span(), format!("`resources.time`: {m}")))?,
                );
            }
            if let Some(p) = &r.partition {
                if p.get_ref().trim().is_empty() {
                    return Err(file.error(p.span(), "`resources.partition` is empty"));
                }
                placement.partition = Some(p.get_ref().clone());
            }
            (
                Resources {
                    cpus: r.cpus.unwrap_or(1),
                    gpus: r.gpus.unwrap_or(0),
                    mem: r.mem.map(|m| m.into_inner().0).unwrap_or(0),
                },
                Some(s),
            )
        }
        None => (
            Resources {
                cpus: 1,
                gpus: 0,
                mem: 0,
            },
            None,
        ),
    };
    if resources.cpus == 0 {
        return Err(file.error(
            resources_span.clone().unwrap_or(header),
            format!("stage `{name}` asks for 0 cpus; a stage needs at least 1"),
        ));
    }
    Ok((resources, resources_span, placement))
}

/// `env`: each an environment variable's name.
fn check_env_names(file: &SourceFile, env: &[Spanned<String>]) -> Result<(), SpecError> {
    for e in env {
        let v = e.get_ref();
        if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(file.error(
                e.span(),
                format!("`{v}` is not an environment variable name"),
            ));
        }
    }
    Ok(())
}

/// Validates a plot's chart keys: only plots take them, the template is a known one, and
/// `y` names at least one column (a confusion matrix: exactly one, the predicted class).
fn chart_def(
    file: &SourceFile,
    stage: &str,
    role: OutRole,
    path: &str,
    c: schema::ChartToml,
    span: Range<usize>,
) -> Result<Option<ChartDef>, SpecError> {
    if role != OutRole::Plot {
        if !c.is_empty() {
            return Err(file
                .error(
                    span,
                    format!(
                        "stage `{stage}`: `{path}` is one of its {}, and only plots take `x`, `y`, `template` or `title`",
                        role.key()
                    ),
                )
                .help("declare it under `plots = [...]` to draw it"));
        }
        return Ok(None);
    }
    let template = match &c.template {
        None => Template::Line,
        Some(t) => Template::parse(t).ok_or_else(|| {
            file.error(
                span.clone(),
                format!("stage `{stage}`: plot `{path}` has an unknown template `{t}`"),
            )
            .help(format!("templates: {}", Template::NAMES.join(", ")))
        })?,
    };
    let y = c.y.map(schema::OneOrMany::into_vec).unwrap_or_default();
    if y.iter().chain(c.x.iter()).any(|col| col.trim().is_empty()) {
        return Err(file.error(
            span,
            format!("stage `{stage}`: plot `{path}` names an empty column"),
        ));
    }
    if template == Template::Confusion && y.len() > 1 {
        return Err(file
            .error(
                span,
                format!(
                    "stage `{stage}`: plot `{path}` is a confusion matrix, which takes one `y` (the predicted class), not {}",
                    y.len()
                ),
            )
            .help("x is the actual class column, y the predicted class column"));
    }
    Ok(Some(ChartDef {
        x: c.x,
        y,
        template,
        title: c.title,
    }))
}

fn check_key(file: &SourceFile, key: &str, span: Range<usize>) -> Result<(), SpecError> {
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(file.error(span, format!("`{key}` is not a param key like `train.lr`")));
    }
    Ok(())
}

fn check_builtin_arity(
    file: &SourceFile,
    name: &str,
    uses: &Spanned<String>,
    sig: &builtin::BuiltinSig,
    deps: &[Spanned<String>],
    outs: &[OutDef],
) -> Result<(), SpecError> {
    let count = |role| outs.iter().filter(|o| o.role == role).count();
    for (what, want, got) in [
        ("deps", sig.deps, deps.len()),
        ("outs", sig.outs, count(OutRole::Out)),
        ("metrics", sig.metrics, count(OutRole::Metric)),
        ("plots", sig.plots, count(OutRole::Plot)),
    ] {
        if want.len() != got {
            let listing = if want.is_empty() {
                "none".to_string()
            } else {
                want.iter()
                    .enumerate()
                    .map(|(i, d)| format!("{what}[{i}]: {d}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            return Err(file
                .error(
                    uses.span(),
                    format!(
                        "stage `{name}` uses built-in `{}`, which takes {} {what}, but the stage declares {got}",
                        sig.name,
                        want.len()
                    ),
                )
                .help(format!("`{}` {what}: {listing}", sig.name)));
        }
    }
    Ok(())
}
