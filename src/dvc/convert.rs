//! `dvc.yaml` -> pipe stages.
//!
//! | DVC | pipe |
//! |---|---|
//! | `cmd` (string or list) | `cmd` (string or list) |
//! | `wdir` (relative to the dvc.yaml) | `wdir` (relative to pipe.toml) |
//! | `deps`, `outs`, `metrics`, `plots` | the same lists; `cache`, `persist`, `desc` kept |
//! | `params: [key]` | `params = ["key"]` (`{ file, keys }` outside the root directory) |
//! | `params: [{other.yaml: [keys]}]` | `{ file = "other.yaml", keys = [...] }` |
//! | `params: [{other.yaml: }]` (whole file) | `{ file, keys = [every top-level key] }` |
//! | `frozen`, `always_changed`, `desc` | the same |
//! | `vars` inline | `[vars]` (root dvc.yaml), resolved at import elsewhere |
//! | `vars` files, `params.yaml` | `[pipeline] params` (templates keep reading them) |
//! | `foreach` (list, dict, `${...}`) | one stage per item, `NAME@KEY` named `NAME.KEY` |
//! | `matrix` | one stage per combination, named `NAME.KEY` as DVC's `NAME@KEY` |
//! | top-level `metrics`, `plots` | the stage's out becomes a metric / plot |
//! | a URL dep (`https://`, `s3://`) | not carried, named ([`is_url`]) |
//! | a top-level plot definition (`id: {y: {file: col}}`) | not carried, named with its files |
//!
//! Matrix and foreach become plain stages, not a pipe sweep: a sweep moves its cells' outs
//! under `sweeps/NAME/`, and a DVC project's scripts and later stages read the paths the
//! dvc.yaml names. `@` is reserved for sweep cells in pipe, so `train@us` is `train.us`;
//! any other character a stage name cannot hold becomes `_`. Stages of a `dvc.yaml` in a
//! subdirectory are prefixed with the directory (`sub/dir` -> `sub.dir.`), their `wdir` is
//! that directory, and their templates are resolved at import (pipe resolves templates
//! from the root's params files only).
//!
//! Everything else (`meta`, plot templates and axes, `push: false`, per-out `remote`,
//! `artifacts`, ...) is listed as a note with its file:line and why.
//!
//! A path is taken as the project has it, never rewritten: one that leaves the project
//! (`wdir: ../..`, an out `../../x.txt`, an absolute `/tmp`) is refused with its file:line
//! ([`join`]), here and in `dvc.lock` and `.dvc` files alike.

use std::path::Path;

use toml::{Table, Value};

use super::template::{self, Scope, TemplateError};
use super::{Note, Notes};
use crate::spec::limits::{self, MOST_STAGES};
use crate::spec::yaml::{self, Node};
use crate::spec::{SourceFile, SpecError};

/// An out, metric or plot.
#[derive(Debug, Clone)]
pub struct OutDecl {
    pub path: String,
    pub cache: bool,
    pub persist: bool,
    pub desc: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ParamDecl {
    /// A key in the pipeline's params files.
    Key(String),
    /// Keys in a named file (workspace-relative).
    File { file: String, keys: Vec<String> },
}

/// One pipe stage made from a DVC stage (or one of its foreach/matrix instances).
#[derive(Debug, Clone)]
pub struct StageDecl {
    pub name: String,
    /// Its name in `dvc.lock` (`train@us`).
    pub dvc_name: String,
    /// The directory of its dvc.yaml (workspace-relative, "" for the root).
    pub dir: String,
    pub desc: Option<String>,
    pub cmd: Vec<String>,
    pub cmd_list: bool,
    /// Workspace-relative; "" for the root.
    pub wdir: String,
    pub deps: Vec<String>,
    pub params: Vec<ParamDecl>,
    pub outs: Vec<OutDecl>,
    pub metrics: Vec<OutDecl>,
    pub plots: Vec<OutDecl>,
    pub frozen: bool,
    pub always_changed: bool,
    /// `dvc.yaml:LINE` of the stage, for messages.
    pub at: String,
    /// Read from a single-stage file (`train.dvc` with a `cmd`, DVC before 1.0), which is
    /// its own lock ([`Import::single_locks`](super::Import)); `false` for a dvc.yaml stage,
    /// whose lock is the dvc.lock beside it.
    pub single_stage_file: bool,
}

impl StageDecl {
    /// A stage named `dvc_name` in directory `dir` (its wdir too, until one is read), at
    /// `at`, with nothing else yet.
    pub fn new(dir: &str, dvc_name: &str, pipe_name: String, at: String) -> StageDecl {
        StageDecl {
            name: pipe_name,
            dvc_name: dvc_name.to_string(),
            dir: dir.to_string(),
            desc: None,
            cmd: Vec::new(),
            cmd_list: false,
            wdir: dir.to_string(),
            deps: Vec::new(),
            params: Vec::new(),
            outs: Vec::new(),
            metrics: Vec::new(),
            plots: Vec::new(),
            frozen: false,
            always_changed: false,
            at,
            single_stage_file: false,
        }
    }
}

/// What one dvc.yaml gives.
#[derive(Debug, Default)]
pub struct Converted {
    pub stages: Vec<StageDecl>,
    /// Inline vars of the root dvc.yaml.
    pub vars: Table,
    /// Params and vars files pipe must read (workspace-relative), in order.
    pub params_files: Vec<String>,
}

/// Where a dvc.yaml is, and what it reads.
pub struct Source<'a> {
    pub root: &'a Path,
    /// Workspace-relative directory of the dvc.yaml ("" for the root).
    pub dir: &'a str,
    pub file: &'a SourceFile,
}

impl Source<'_> {
    fn at(&self, node: &Node) -> String {
        format!("{}:{}", self.file.name, node.span.start.line())
    }

    fn note(&self, notes: &mut Notes, node: &Node, what: impl Into<String>) {
        notes.push(Note {
            at: self.at(node),
            what: what.into(),
        });
    }

    fn err(&self, node: &Node, msg: impl std::fmt::Display) -> SpecError {
        self.file
            .error(yaml::span(self.file, node), msg.to_string())
    }

    /// `rel` (relative to this dvc.yaml's directory) as a project path; `Err` (at `node`)
    /// when it leaves the project.
    fn ws(&self, rel: &str, node: &Node) -> Result<String, SpecError> {
        join(self.dir, rel).map_err(|m| self.err(node, m))
    }
}

/// Why a DVC path cannot be a project path ([`join`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("`{0}` is an absolute path: it leaves the project")]
    Absolute(String),
    /// `rel` climbs above the root from `base` (`""`: from the root).
    #[error("{}", leaves(rel, base))]
    Leaves { rel: String, base: String },
}

fn leaves(rel: &str, base: &str) -> String {
    if base.is_empty() {
        format!("`{rel}` leaves the project")
    } else {
        format!("`{rel}` (from `{base}`) leaves the project")
    }
}

/// Why an out or a params entry of a DVC stage cannot be declared (said at its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeclError {
    #[error("an empty out")]
    EmptyOut,
    #[error("stage `{stage}`: a `{role}` entry is a path or `PATH: {{options}}`")]
    OutShape { stage: String, role: String },
    #[error("stage `{stage}`: params file {e}")]
    ParamsFile { stage: String, e: JoinError },
    /// A whole params file that cannot be read (the loader's message).
    #[error("{0}")]
    Load(String),
    #[error("stage `{0}`: params keys are strings")]
    KeyNotString(String),
    #[error("stage `{stage}`: params of `{file}` must be a list of keys")]
    KeysNotList { stage: String, file: String },
    #[error("stage `{0}`: a params entry is a key or `FILE: [keys]`")]
    ParamShape(String),
}

/// `a/b` + `c` -> `a/b/c`, with `.` and `..` resolved lexically ("" is the root): a
/// project path. `Err` (a sentence naming `rel`) when `rel` is absolute or climbs above
/// the project's root: such a path is refused, never clamped to the root or rewritten.
pub fn join(base: &str, rel: &str) -> Result<String, JoinError> {
    if rel.starts_with('/') {
        return Err(JoinError::Absolute(rel.to_string()));
    }
    let mut parts: Vec<&str> = base
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(JoinError::Leaves {
                        rel: rel.to_string(),
                        base: base.to_string(),
                    });
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// A DVC dep or out that is not a project path but a URL (`https://`, `s3://`,
/// `remote://NAME/...`): DVC's external deps.
pub fn is_url(path: &str) -> bool {
    path.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// File `name` (one path segment, e.g. `dvc.yaml`) in project directory `dir`.
pub fn within(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The mapping entries of a node, keys as strings.
pub fn entries<'n>(
    src: &SourceFile,
    node: &'n Node,
) -> Result<Vec<(String, &'n Node, &'n Node)>, SpecError> {
    match &node.data {
        saphyr::YamlDataOwned::Mapping(m) => m
            .iter()
            .map(|(k, v)| Ok((yaml::key_str(src, k)?, k, v)))
            .collect(),
        _ => Err(src.error(yaml::span(src, node), "expected a mapping here")),
    }
}

fn null() -> Value {
    Value::Array(Vec::new())
}

fn is_null(node: &Node) -> bool {
    matches!(
        node.data,
        saphyr::YamlDataOwned::Value(saphyr::ScalarOwned::Null)
    )
}

/// Loads a YAML/JSON/TOML file's table, for vars and whole-file params.
pub fn load_table(root: &Path, ws_rel: &str) -> Result<Option<Table>, SpecError> {
    let wp = crate::wspath::WsPath::parse(ws_rel).map_err(|e| SpecError::new(e.to_string()))?;
    Ok(crate::spec::Params::load_file(root, &wp)?.map(|f| f.table))
}

/// Merges `b` into `a`, tables recursively.
pub fn merge(a: &mut Table, b: &Table) {
    for (k, v) in b {
        match (a.get_mut(k), v) {
            (Some(Value::Table(x)), Value::Table(y)) => merge(x, y),
            _ => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Converts one dvc.yaml.
pub fn convert(src: &Source, notes: &mut Notes) -> Result<Converted, SpecError> {
    let mut out = Converted::default();
    let Some(doc) = yaml::parse(src.file)? else {
        return Ok(out);
    };
    let root_file = src.dir.is_empty();
    // The context templates read: params.yaml, then vars (files and inline) in order.
    let mut global = Table::new();
    let default_params = within(src.dir, "params.yaml");
    if let Some(t) = load_table(src.root, &default_params)? {
        merge(&mut global, &t);
        out.params_files.push(default_params);
    }
    let top = entries(src.file, &doc)?;
    if let Some((_, _, vars)) = top.iter().find(|(k, _, _)| k == "vars") {
        let items = match &vars.data {
            saphyr::YamlDataOwned::Sequence(s) => s.iter().collect::<Vec<_>>(),
            _ => vec![*vars],
        };
        for it in items {
            match &it.data {
                saphyr::YamlDataOwned::Mapping(_) => {
                    let v = yaml::to_value_or(src.file, it, &Value::String(String::new()))?;
                    if let Value::Table(t) = v {
                        merge(&mut global, &t);
                        if root_file {
                            merge(&mut out.vars, &t);
                        }
                    }
                }
                _ => {
                    let Some(Value::String(spec)) = yaml::to_value(src.file, it)? else {
                        return Err(src.err(it, "a vars entry is a file name or a mapping"));
                    };
                    let (file, keys) = match spec.split_once(':') {
                        Some((f, k)) => (f.to_string(), Some(k.to_string())),
                        None => (spec.clone(), None),
                    };
                    let ws = src.ws(&file, it)?;
                    let Some(t) = load_table(src.root, &ws)? else {
                        return Err(src.err(it, format!("vars file `{ws}` does not exist")));
                    };
                    let t = match &keys {
                        Some(k) => {
                            let mut sub = Table::new();
                            for key in k.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                                if let Some(v) = template::lookup(&t, key) {
                                    crate::spec::params::set(&mut sub, key, v.clone());
                                }
                            }
                            src.note(
                                notes,
                                it,
                                format!("vars `{spec}`: pipe reads all of `{ws}`, not only the keys named"),
                            );
                            sub
                        }
                        None => t,
                    };
                    merge(&mut global, &t);
                    if !out.params_files.contains(&ws) {
                        out.params_files.push(ws);
                    }
                }
            }
        }
    }
    for (key, knode, value) in &top {
        match key.as_str() {
            "vars" => {}
            "stages" => {
                for (name, nnode, body) in entries(src.file, value)? {
                    stage(src, &name, nnode, body, &global, &mut out, notes)?;
                }
            }
            "metrics" | "plots" => {} // applied by `apply_top_level` once every file is read
            "params" => src.note(
                notes,
                knode,
                "top-level `params` (files for `dvc params diff`) has no pipe equivalent; \
                 stages' params are imported",
            ),
            "artifacts" | "datasets" => src.note(
                notes,
                knode,
                format!(
                    "`{key}` (DVC's model registry / dataset declarations) has no pipe equivalent"
                ),
            ),
            other => src.note(
                notes,
                knode,
                format!("unknown top-level key `{other}` ignored"),
            ),
        }
    }
    Ok(out)
}

/// Top-level `metrics` and `plots`: the path becomes the producing stage's metric or plot.
pub fn apply_top_level(
    src: &Source,
    stages: &mut [StageDecl],
    notes: &mut Notes,
) -> Result<(), SpecError> {
    let Some(doc) = yaml::parse(src.file)? else {
        return Ok(());
    };
    for (key, _, value) in entries(src.file, &doc)? {
        let plot = match key.as_str() {
            "metrics" => false,
            "plots" => true,
            _ => continue,
        };
        let saphyr::YamlDataOwned::Sequence(items) = &value.data else {
            return Err(src.err(value, format!("`{key}` must be a list")));
        };
        for it in items {
            let (path, opts) = match &it.data {
                saphyr::YamlDataOwned::Mapping(_) => {
                    let e = entries(src.file, it)?;
                    let Some((p, _, o)) = e.into_iter().next() else {
                        continue;
                    };
                    (p, Some(o))
                }
                _ => match yaml::to_value(src.file, it)? {
                    Some(Value::String(s)) => (s, None),
                    _ => return Err(src.err(it, format!("a `{key}` entry is a path"))),
                },
            };
            // A plot definition (DVC 3): an id, its data named by the files of `y` (and `x`).
            let mut sources: Vec<String> = Vec::new();
            if let Some(o) = opts
                && let Ok(fields) = entries(src.file, o)
            {
                for (k, _, v) in fields {
                    if matches!(k.as_str(), "x" | "y")
                        && let Ok(files) = entries(src.file, v)
                    {
                        for (f, _, _) in files {
                            if !sources.contains(&f) {
                                sources.push(f);
                            }
                        }
                    }
                }
            }
            if let Some(o) = opts
                && !is_null(o)
                && sources.is_empty()
            {
                src.note(
                    notes,
                    it,
                    format!("plot `{path}`: its template, axes and titles are not carried (pipe has no plot definitions)"),
                );
            }
            let ws = src.ws(&path, it)?;
            let mut moved = false;
            for st in stages.iter_mut() {
                let here = |o: &OutDecl| join(&st.wdir, &o.path).is_ok_and(|p| p == ws.as_str());
                if let Some(i) = st.outs.iter().position(here) {
                    let o = st.outs.remove(i);
                    if plot {
                        st.plots.push(o);
                    } else {
                        st.metrics.push(o);
                    }
                    moved = true;
                } else if st.metrics.iter().any(here) || st.plots.iter().any(here) {
                    moved = true;
                } else if let Some(inner) = st.outs.iter().find_map(|o| {
                    let out = join(&st.wdir, &o.path).ok()?;
                    let rest = ws.as_str().strip_prefix(&out)?.strip_prefix('/')?;
                    Some(format!("{}/{rest}", o.path.trim_end_matches('/')))
                }) {
                    // Inside one of its directory outs: the stage's metric or plot, a
                    // file of that out (as DVC shows it), not an out of its own.
                    let o = OutDecl {
                        path: inner,
                        cache: true,
                        persist: false,
                        desc: None,
                    };
                    if plot {
                        st.plots.push(o);
                    } else {
                        st.metrics.push(o);
                    }
                    moved = true;
                }
            }
            if !moved && !sources.is_empty() {
                src.note(
                    notes,
                    it,
                    format!(
                        "top-level plot `{path}` is a plot definition drawn from {}: not carried (pipe has no plot definitions; a stage's `plots` names the files pipe shows)",
                        sources.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                    ),
                );
            } else if !moved {
                src.note(
                    notes,
                    it,
                    format!(
                        "top-level {} `{path}`: no stage writes it, so pipe has nothing to attach it to",
                        if plot { "plot" } else { "metric" }
                    ),
                );
            }
        }
    }
    Ok(())
}

/// One DVC stage: its own vars read, then one [`StageDecl`] per `foreach` item or
/// `matrix` combination (or one), pushed onto `out.stages`.
fn stage(
    src: &Source,
    name: &str,
    nnode: &Node,
    body: &Node,
    global: &Table,
    out: &mut Converted,
    notes: &mut Notes,
) -> Result<(), SpecError> {
    let fields = entries(src.file, body)?;
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _, _)| n == k)
            .map(|(_, kn, v)| (*kn, *v))
    };
    let local = match get("vars") {
        Some((kn, v)) => stage_vars(src, name, kn, v, notes)?,
        None => Table::new(),
    };
    // Outside the root dvc.yaml every template is resolved here (see the module header).
    let (local_base, global_view) = if src.dir.is_empty() {
        (local, global.clone())
    } else {
        let mut all = global.clone();
        merge(&mut all, &local);
        (all, Table::new())
    };
    let mut ctx = global.clone();
    merge(&mut ctx, &local_base);
    let expansion = Expansion {
        src,
        name,
        ctx: &ctx,
        local: &local_base,
    };
    let instances: Vec<(String, Table, &Node)> = if let Some((fk, each)) = get("foreach") {
        let Some((_, do_body)) = get("do") else {
            return Err(src.err(fk, format!("stage `{name}` has `foreach` without `do`")));
        };
        expansion.foreach(each, do_body, notes)?
    } else if let Some((_, matrix)) = get("matrix") {
        expansion.matrix(matrix, body, notes)?
    } else {
        vec![(String::new(), local_base.clone(), body)]
    };
    let count = instances.len();
    if out.stages.len().saturating_add(count) > MOST_STAGES {
        return Err(src.err(
            nnode,
            format!(
                "stage `{name}` makes {count} instances, and {} has {} before it; a pipeline holds at most {MOST_STAGES} stages",
                src.file.name,
                out.stages.len()
            ),
        ));
    }
    let mut group = GroupNotes::default();
    for (key, mut local, body) in instances {
        let mut own = Notes::new();
        // `vars` inside a foreach's `do` (DVC allows them there, not beside `foreach`):
        // under the instance's own names (`item`, `key`, the stage's).
        if get("foreach").is_some()
            && let Some((_, kn, v)) = entries(src.file, body)?
                .into_iter()
                .find(|(k, _, _)| k == "vars")
        {
            let mut t = stage_vars(src, name, kn, v, &mut own)?;
            merge(&mut t, &local);
            local = t;
        }
        let scope = Scope {
            local: &local,
            global: &global_view,
        };
        let dvc_name = if key.is_empty() {
            name.to_string()
        } else {
            format!("{name}@{key}")
        };
        let decl = instance(src, &dvc_name, nnode, body, &scope, &mut own)?;
        group.add(own, name, &dvc_name, count, notes);
        // A name pipe cannot keep (a `/`, a space, a `:`) is said once per instance, with
        // both spellings, so a clash or a target names what the user wrote in dvc.yaml too.
        if !dvc_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
        {
            src.note(
                notes,
                nnode,
                format!(
                    "stage `{dvc_name}` is `{}` in pipe (stage names keep letters, digits, `_`, `-` and `.`)",
                    decl.name
                ),
            );
        }
        out.stages.push(decl);
    }
    Ok(())
}

/// The notes of a foreach/matrix group's instances, said once per construct: the first
/// instance's notes name the group (`stage `m` (6 instances, e.g. `m@1-a`)`), and a later
/// instance's note at a line the first already noted as often is the same construct
/// again, dropped. A note only some instances have (one item's odd value) is kept.
#[derive(Default)]
struct GroupNotes {
    /// `file:line` -> how many notes the first instance made there.
    first: std::collections::HashMap<String, usize>,
    started: bool,
}

impl GroupNotes {
    fn add(&mut self, own: Notes, group: &str, dvc_name: &str, count: usize, notes: &mut Notes) {
        if count < 2 {
            notes.extend(own);
            return;
        }
        if !self.started {
            self.started = true;
            let named = format!("stage `{dvc_name}`");
            let as_group = format!("stage `{group}` ({count} instances, e.g. `{dvc_name}`)");
            for mut n in own {
                *self.first.entry(n.at.clone()).or_default() += 1;
                n.what = n.what.replacen(&named, &as_group, 1);
                notes.push(n);
            }
            return;
        }
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        for n in own {
            let k = seen.entry(n.at.clone()).or_default();
            *k += 1;
            if *k > self.first.get(&n.at).copied().unwrap_or(0) {
                notes.push(n);
            }
        }
    }
}

/// A stage's own `vars` (inline mappings and files), resolved at import.
fn stage_vars(
    src: &Source,
    name: &str,
    knode: &Node,
    v: &Node,
    notes: &mut Notes,
) -> Result<Table, SpecError> {
    let mut local = Table::new();
    let items = match &v.data {
        saphyr::YamlDataOwned::Sequence(s) => s.iter().collect::<Vec<_>>(),
        _ => vec![v],
    };
    for it in items {
        match yaml::to_value(src.file, it)? {
            Some(Value::Table(t)) => merge(&mut local, &t),
            Some(Value::String(f)) => {
                let ws = src.ws(f.split(':').next().unwrap_or(&f), it)?;
                match load_table(src.root, &ws)? {
                    Some(t) => merge(&mut local, &t),
                    None => return Err(src.err(it, format!("vars file `{ws}` does not exist"))),
                }
            }
            _ => return Err(src.err(it, "a vars entry is a file name or a mapping")),
        }
    }
    src.note(
        notes,
        knode,
        format!("stage `{name}`: its own vars are written into the stage (resolved at import)"),
    );
    Ok(local)
}

/// Expanding one DVC stage's `foreach` or `matrix` into instances: (DVC's key, the
/// instance's local names, its body).
struct Expansion<'a> {
    src: &'a Source<'a>,
    name: &'a str,
    /// What `${...}` of an axis reads: the globals with the stage's own vars on top.
    ctx: &'a Table,
    /// The stage's local names, to which each instance adds `item` (and `key`).
    local: &'a Table,
}

impl<'a> Expansion<'a> {
    /// One instance per item of a list (keyed by the item, or its index when items are
    /// lists or mappings) or per entry of a mapping (keyed by its key, also `${key}`).
    fn foreach(
        &self,
        each: &Node,
        do_body: &'a Node,
        notes: &mut Notes,
    ) -> Result<Vec<(String, Table, &'a Node)>, SpecError> {
        let items = iterable(self.src, each, self.ctx, self.name, notes)?;
        expanded_note(self.src, notes, self.name, each);
        let is_map = matches!(items, Value::Table(_));
        let list: Vec<(String, Value)> = match items {
            Value::Table(t) => t.into_iter().collect(),
            Value::Array(a) => {
                let composite = a.iter().any(|x| x.is_table() || x.is_array());
                a.into_iter()
                    .enumerate()
                    .map(|(i, x)| {
                        let k = if composite {
                            i.to_string()
                        } else {
                            template::key_str(&x)
                        };
                        (k, x)
                    })
                    .collect()
            }
            _ => return Err(self.src.err(each, "`foreach` takes a list or a mapping")),
        };
        if list.len() > MOST_STAGES {
            return Err(self.src.err(
                each,
                format!(
                    "stage `{}`: its foreach makes {} instances; a pipeline holds at most {MOST_STAGES} stages",
                    self.name,
                    list.len()
                ),
            ));
        }
        let mut v = Vec::with_capacity(list.len());
        for (k, item) in list {
            let mut l = self.local.clone();
            l.insert("item".into(), item);
            if is_map {
                l.insert("key".into(), Value::String(k.clone()));
            }
            v.push((k, l, do_body));
        }
        Ok(v)
    }

    /// One instance per combination of the axes (in file order), keyed by its values
    /// joined with `-` (an axis's index where a value is a list or mapping).
    fn matrix(
        &self,
        matrix: &Node,
        body: &'a Node,
        notes: &mut Notes,
    ) -> Result<Vec<(String, Table, &'a Node)>, SpecError> {
        let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
        for (k, _, vals) in entries(self.src.file, matrix)? {
            expanded_note(
                self.src,
                notes,
                &format!("{}` matrix `{k}", self.name),
                vals,
            );
            match iterable(self.src, vals, self.ctx, self.name, notes)? {
                Value::Array(a) => axes.push((k, a)),
                _ => return Err(self.src.err(vals, format!("matrix `{k}` must be a list"))),
            }
        }
        let count = limits::product(axes.iter().map(|(_, vals)| vals.len()));
        if count > MOST_STAGES {
            let sizes: Vec<String> = axes
                .iter()
                .map(|(k, vals)| format!("{} `{k}`", vals.len()))
                .collect();
            return Err(self.src.err(
                matrix,
                format!(
                    "stage `{}`: its matrix makes {count} instances ({}); a pipeline holds at most {MOST_STAGES} stages",
                    self.name,
                    sizes.join(" x ")
                ),
            ));
        }
        let mut combos: Vec<(Vec<String>, Table)> = vec![(Vec::new(), Table::new())];
        for (k, vals) in &axes {
            let mut next = Vec::new();
            for (frags, t) in &combos {
                for (i, v) in vals.iter().enumerate() {
                    let mut f = frags.clone();
                    f.push(if v.is_table() || v.is_array() {
                        format!("{k}{i}")
                    } else {
                        template::key_str(v)
                    });
                    let mut t = t.clone();
                    t.insert(k.clone(), v.clone());
                    next.push((f, t));
                }
            }
            combos = next;
        }
        Ok(combos
            .into_iter()
            .map(|(f, item)| {
                let mut l = self.local.clone();
                l.insert("item".into(), Value::Table(item));
                (f.join("-"), l, body)
            })
            .collect())
    }
}

/// A `foreach` or matrix axis read from vars or params is expanded now, not at each run.
fn expanded_note(src: &Source, notes: &mut Notes, what: &str, node: &Node) {
    if let Ok(Some(Value::String(s))) = yaml::to_value(src.file, node)
        && let Some(expr) = template::whole(&s)
    {
        src.note(
            notes,
            node,
            format!("stage `{what}` over `${{{expr}}}` is expanded at import into one stage per item; re-import after changing its items"),
        );
    }
}

/// A `foreach` / matrix axis: a list or mapping written out, or `${name}` of one. As DVC
/// resolves it, the `${...}` inside its items are filled in from vars and params here
/// (`model: ["${model.name}", lin]` makes `train@cnn` and `train@lin`), and said in a note.
fn iterable(
    src: &Source,
    node: &Node,
    ctx: &Table,
    what: &str,
    notes: &mut Notes,
) -> Result<Value, SpecError> {
    // A null item is DVC's `None` (`m@None`), not an empty list.
    let v = yaml::to_value_or(src.file, node, &crate::spec::null::null())?;
    let v = match &v {
        Value::String(s) => {
            let Some(expr) = template::whole(s) else {
                return Err(src.err(node, "expected a list, a mapping or `${...}` of one"));
            };
            return template::lookup(ctx, expr).cloned().ok_or_else(|| {
                src.err(
                    node,
                    format!("`${{{expr}}}` is not defined in vars or params.yaml"),
                )
            });
        }
        _ => v,
    };
    let mut read = Vec::new();
    let v = fill_items(&v, ctx, &mut read).map_err(|e| src.err(node, e))?;
    if !read.is_empty() {
        let mut names: Vec<String> = Vec::new();
        for e in &read {
            let n = format!("`${{{e}}}`");
            if !names.contains(&n) {
                names.push(n);
            }
        }
        src.note(
            notes,
            node,
            format!(
                "stage `{what}`: items reading {} are filled in at import; re-import after changing them",
                names.join(", ")
            ),
        );
    }
    Ok(v)
}

/// Fills every `${...}` in the strings of `v` from `ctx`: a string that is one template
/// becomes the value itself (a number stays a number), others are rendered into the text.
/// The expressions read go to `read`.
fn fill_items(v: &Value, ctx: &Table, read: &mut Vec<String>) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) if s.contains("${") => {
            if let Some(expr) = template::whole(s) {
                read.push(expr.to_string());
                return template::lookup(ctx, expr)
                    .cloned()
                    .ok_or_else(|| TemplateError::Global(expr.to_string()));
            }
            let empty = Table::new();
            let r = template::substitute(
                s,
                &Scope {
                    local: ctx,
                    global: &empty,
                },
            )?;
            read.extend(
                s.split("${")
                    .skip(1)
                    .filter_map(|t| t.split_once('}'))
                    .map(|(e, _)| e.trim().to_string()),
            );
            Value::String(r.text)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| fill_items(x, ctx, read))
                .collect::<Result<_, _>>()?,
        ),
        Value::Table(t) => {
            let mut o = Table::new();
            for (k, x) in t {
                o.insert(k.clone(), fill_items(x, ctx, read)?);
            }
            Value::Table(o)
        }
        other => other.clone(),
    })
}

/// Substitutes templates in every string of a value.
fn subst(v: &Value, scope: &Scope, frozen: &mut Vec<String>) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) => {
            if let Some(expr) = template::whole(s) {
                let head = expr.split(['.', '[']).next().unwrap_or_default();
                if scope.local.contains_key(head)
                    && let Some(x) = template::lookup(scope.local, expr)
                    && (x.is_array() || x.is_table())
                {
                    return subst(x, scope, frozen);
                }
            }
            let r = template::substitute(s, scope)?;
            frozen.extend(r.frozen);
            Value::String(r.text)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| subst(x, scope, frozen))
                .collect::<Result<_, _>>()?,
        ),
        Value::Table(t) => {
            let mut o = Table::new();
            for (k, x) in t {
                let k = template::substitute(k, scope)?.text;
                o.insert(k, subst(x, scope, frozen)?);
            }
            Value::Table(o)
        }
        other => other.clone(),
    })
}

/// One instance of a DVC stage as a pipe stage: each key of its body applied
/// ([`Instance::field`]), every dep and out path checked against the wdir, and notes on
/// what was resolved at import.
fn instance(
    src: &Source,
    dvc_name: &str,
    nnode: &Node,
    body: &Node,
    scope: &Scope,
    notes: &mut Notes,
) -> Result<StageDecl, SpecError> {
    let mut inst = Instance {
        src,
        dvc_name,
        decl: StageDecl::new(
            src.dir,
            dvc_name,
            pipe_name(src.dir, dvc_name),
            src.at(nnode),
        ),
        paths: Vec::new(),
    };
    let mut frozen_exprs = Vec::new();
    for (key, knode, vnode) in entries(src.file, body)? {
        if matches!(key.as_str(), "vars" | "foreach" | "do" | "matrix") {
            continue;
        }
        let raw = yaml::to_value_or(src.file, vnode, &null())?;
        let v = subst(&raw, scope, &mut frozen_exprs)
            .map_err(|m| src.err(vnode, format!("stage `{dvc_name}`: {m}")))?;
        inst.field((&key, knode, vnode), v, notes)?;
    }
    let Instance { decl, paths, .. } = inst;
    if decl.cmd.is_empty() {
        return Err(src.err(nnode, format!("stage `{dvc_name}` has no `cmd`")));
    }
    for (path, node) in &paths {
        join(&decl.wdir, path).map_err(|m| src.err(node, format!("stage `{dvc_name}`: {m}")))?;
    }
    resolved_notes(src, dvc_name, nnode, body, frozen_exprs, notes);
    Ok(decl)
}

/// A DVC stage instance being read into a [`StageDecl`].
struct Instance<'a, 'n> {
    src: &'a Source<'a>,
    dvc_name: &'a str,
    decl: StageDecl,
    /// Every dep and out path with the node it came from: checked once the wdir is known.
    paths: Vec<(String, &'n Node)>,
}

impl<'n> Instance<'_, 'n> {
    /// Applies one key of the stage's body, `v` its value with templates substituted.
    fn field(
        &mut self,
        (key, knode, vnode): (&str, &Node, &'n Node),
        v: Value,
        notes: &mut Notes,
    ) -> Result<(), SpecError> {
        let (src, dvc_name) = (self.src, self.dvc_name);
        let bad =
            |what: &str| src.err(vnode, format!("stage `{dvc_name}`: `{key}` must be {what}"));
        match key {
            "cmd" => match v {
                Value::String(s) => self.decl.cmd = vec![s],
                Value::Array(a) => {
                    self.decl.cmd_list = true;
                    for x in a {
                        match x {
                            Value::String(s) => self.decl.cmd.push(s),
                            _ => return Err(bad("a string or a list of strings")),
                        }
                    }
                }
                _ => return Err(bad("a string or a list of strings")),
            },
            "wdir" => match v {
                Value::String(s) => {
                    self.decl.wdir = join(src.dir, &s)
                        .map_err(|m| src.err(vnode, format!("stage `{dvc_name}`: wdir {m}")))?
                }
                _ => return Err(bad("a path")),
            },
            "desc" => self.decl.desc = v.as_str().map(String::from),
            "frozen" => self.decl.frozen = v.as_bool().ok_or_else(|| bad("true or false"))?,
            "always_changed" => {
                self.decl.always_changed = v.as_bool().ok_or_else(|| bad("true or false"))?
            }
            "deps" => {
                for d in v.as_array().ok_or_else(|| bad("a list of paths"))? {
                    match d {
                        Value::String(s) if is_url(s) => src.note(
                            notes,
                            knode,
                            format!("stage `{dvc_name}`: dep `{s}` is not carried (pipe tracks paths in the project, not URLs: a change there does not make the stage stale)"),
                        ),
                        Value::String(s) => {
                            self.decl.deps.push(s.clone());
                            self.paths.push((s.clone(), vnode));
                        }
                        _ => return Err(bad("a list of paths")),
                    }
                }
            }
            "outs" | "metrics" | "plots" => {
                let list = v.as_array().ok_or_else(|| bad("a list"))?;
                let mut got = Vec::new();
                for o in list {
                    let d = out_decl(src, knode, dvc_name, key, o, notes).map_err(|m| src.err(vnode, m))?;
                    self.paths.push((d.path.clone(), vnode));
                    got.push(d);
                }
                match key {
                    "outs" => self.decl.outs = got,
                    "metrics" => self.decl.metrics = got,
                    _ => self.decl.plots = got,
                }
            }
            "params" => {
                for p in v.as_array().ok_or_else(|| bad("a list"))? {
                    param_decls(src, knode, &self.decl.wdir, dvc_name, p, &mut self.decl.params, notes)
                        .map_err(|m| src.err(vnode, m))?;
                }
            }
            "meta" => src.note(notes, knode, format!("stage `{dvc_name}`: `meta` is not carried (pipe stages have no free-form metadata)")),
            other => src.note(notes, knode, format!("stage `{dvc_name}`: unknown key `{other}` ignored")),
        }
        Ok(())
    }
}

/// Notes on templates written out as values at import: all of a sub-directory's, and the
/// expressions pipe has no syntax for.
fn resolved_notes(
    src: &Source,
    dvc_name: &str,
    nnode: &Node,
    body: &Node,
    mut frozen_exprs: Vec<String>,
    notes: &mut Notes,
) {
    let text = src.file.text.get(yaml::span(src.file, body)).unwrap_or("");
    if !src.dir.is_empty() && text.contains("${") {
        src.note(
            notes,
            nnode,
            format!("stage `{dvc_name}`: its templates are written out as values at import (pipe resolves templates from the root's params files only); re-import after changing them"),
        );
    }
    frozen_exprs.sort();
    frozen_exprs.dedup();
    if !frozen_exprs.is_empty() {
        src.note(
            notes,
            nnode,
            format!(
                "stage `{dvc_name}`: {} written out as values at import (pipe has no syntax for indexing or unpacking a dictionary); re-import after changing them",
                frozen_exprs.iter().map(|e| format!("${{{e}}}")).collect::<Vec<_>>().join(", ")
            ),
        );
    }
}

fn out_decl(
    src: &Source,
    knode: &Node,
    stage: &str,
    role: &str,
    v: &Value,
    notes: &mut Notes,
) -> Result<OutDecl, DeclError> {
    let (path, opts) = match v {
        Value::String(s) => {
            return Ok(OutDecl {
                path: s.clone(),
                cache: true,
                persist: false,
                desc: None,
            });
        }
        Value::Table(t) if t.len() == 1 => {
            let (p, o) = t.iter().next().ok_or(DeclError::EmptyOut)?;
            (p.clone(), o)
        }
        _ => {
            return Err(DeclError::OutShape {
                stage: stage.to_string(),
                role: role.to_string(),
            });
        }
    };
    // DVC caches metrics and plots too unless `cache: false`.
    let mut d = OutDecl {
        path: path.clone(),
        cache: true,
        persist: false,
        desc: None,
    };
    if let Value::Table(o) = opts {
        for (k, x) in o {
            match (k.as_str(), x) {
                ("cache", Value::Boolean(b)) => d.cache = *b,
                ("persist", Value::Boolean(b)) => d.persist = *b,
                ("desc", Value::String(s)) => d.desc = Some(s.clone()),
                ("push", Value::Boolean(true)) => {}
                ("push", Value::Boolean(false)) => src.note(notes, knode, format!("stage `{stage}`: `{path}` has `push: false`; pipe pushes every cached out")),
                ("remote", _) => src.note(notes, knode, format!("stage `{stage}`: `{path}`'s own `remote` is not carried; pipe pushes every out to the remote named on the command line or the default")),
                ("x" | "y" | "template" | "title" | "x_label" | "y_label" | "header", _) if role == "plots" => {
                    src.note(notes, knode, format!("stage `{stage}`: plot `{path}`'s `{k}` is not carried (pipe has no plot definitions)"))
                }
                (other, _) => src.note(notes, knode, format!("stage `{stage}`: `{path}`: option `{other}` is not carried")),
            }
        }
    }
    Ok(d)
}

#[allow(clippy::too_many_arguments)]
fn param_decls(
    src: &Source,
    knode: &Node,
    wdir: &str,
    stage: &str,
    v: &Value,
    out: &mut Vec<ParamDecl>,
    notes: &mut Notes,
) -> Result<(), DeclError> {
    let default_file = within(wdir, "params.yaml");
    match v {
        Value::String(key) => {
            if wdir.is_empty() {
                push_key(out, key);
            } else {
                push_file(out, &default_file, vec![key.clone()]);
            }
        }
        Value::Table(t) => {
            for (file, keys) in t {
                let ws = join(wdir, file).map_err(|e| DeclError::ParamsFile {
                    stage: stage.to_string(),
                    e,
                })?;
                let keys: Vec<String> = match keys {
                    Value::Array(a) if a.is_empty() => {
                        // The whole file: every top-level key it holds now.
                        match load_table(src.root, &ws)
                            .map_err(|e| DeclError::Load(e.message().to_string()))?
                        {
                            Some(t) => {
                                src.note(notes, knode, format!("stage `{stage}`: params file `{file}` (whole) is imported as its top-level keys now: {}", t.keys().cloned().collect::<Vec<_>>().join(", ")));
                                t.keys().cloned().collect()
                            }
                            None => {
                                src.note(notes, knode, format!("stage `{stage}`: params file `{ws}` does not exist; dropped"));
                                continue;
                            }
                        }
                    }
                    Value::Array(a) => a
                        .iter()
                        .map(|k| {
                            k.as_str()
                                .map(String::from)
                                .ok_or_else(|| DeclError::KeyNotString(stage.to_string()))
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(DeclError::KeysNotList {
                            stage: stage.to_string(),
                            file: file.clone(),
                        });
                    }
                };
                if ws == "params.yaml" && wdir.is_empty() {
                    for k in &keys {
                        push_key(out, k);
                    }
                } else {
                    push_file(out, &ws, keys);
                }
            }
        }
        _ => {
            return Err(DeclError::ParamShape(stage.to_string()));
        }
    }
    Ok(())
}

/// A key of the pipeline's params files, once (DVC reads a key named twice once).
fn push_key(out: &mut Vec<ParamDecl>, key: &str) {
    if !out
        .iter()
        .any(|p| matches!(p, ParamDecl::Key(k) if k == key))
    {
        out.push(ParamDecl::Key(key.to_string()));
    }
}

/// Keys of `file`, each once, into the one entry for that file.
fn push_file(out: &mut Vec<ParamDecl>, file: &str, keys: Vec<String>) {
    let mut keys_once: Vec<String> = Vec::with_capacity(keys.len());
    for k in keys {
        if !keys_once.contains(&k) {
            keys_once.push(k);
        }
    }
    for p in out.iter_mut() {
        if let ParamDecl::File { file: f, keys: k } = p
            && f == file
        {
            for key in keys_once {
                if !k.contains(&key) {
                    k.push(key);
                }
            }
            return;
        }
    }
    out.push(ParamDecl::File {
        file: file.to_string(),
        keys: keys_once,
    });
}

/// A DVC stage name (`train@us`, in `sub/dir`) as a pipe stage name (`sub.dir.train.us`).
pub fn pipe_name(dir: &str, dvc_name: &str) -> String {
    let mut s = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        s.push_str(part);
        s.push('.');
    }
    s.push_str(dvc_name);
    s.chars()
        .map(|c| match c {
            '@' => '.',
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') => c,
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(pipe_name("", "train@us"), "train.us");
        assert_eq!(
            pipe_name("sub/dir", "clean@raw/a b"),
            "sub.dir.clean.raw_a_b"
        );
        assert_eq!(join("sub", "../data/x").unwrap(), "data/x");
        assert_eq!(join("", "./a").unwrap(), "a");
        assert_eq!(join("a/b", "../..").unwrap(), "");
        assert!(join("", "..").is_err());
        assert_eq!(
            join("sub", "../../x.txt").unwrap_err().to_string(),
            "`../../x.txt` (from `sub`) leaves the project"
        );
        assert_eq!(
            join("", "..").unwrap_err().to_string(),
            "`..` leaves the project"
        );
        assert!(
            join("", "/tmp")
                .unwrap_err()
                .to_string()
                .contains("absolute")
        );
        assert!(join("a", "b/../../../c").is_err());
    }
}
