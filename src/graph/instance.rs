//! Instantiating a `StageDef` with a params view: resolving `${...}`, joining paths onto
//! the wdir, collecting the params the stage reads. Sweep cells pass a remap that moves
//! the cell's outs into its own namespace.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Value;

use super::stage::{Out, Stage, StageId, StageKind};
use crate::spec::interp::{self, InterpError};
use crate::spec::params::{self, View};
use crate::spec::toml_text;
use crate::spec::{Body, OutRole, Spec, SpecError, StageDef};
use crate::wspath::{WsPath, WsPathError};

/// Moves paths of a sweep cell into its namespace; identity for the base pipeline.
pub trait Remap {
    /// `is_out`: the path is one of the stage's outs (else a dep).
    fn remap(&self, path: &WsPath, is_out: bool) -> Result<WsPath, RemapError>;
}

/// Why a `${...}` of a stage has no value (said at its place in the pipeline file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    /// Neither a `[vars]` entry nor a param; `why` says what the params files hold.
    #[error("unknown variable `{name}`: not in [vars], and {why}")]
    Unknown { name: String, why: String },
    #[error("`{0}` is a table; only values can be interpolated")]
    Table(String),
    #[error("unknown list `{0}` (use deps, outs, metrics or plots)")]
    UnknownList(String),
    #[error("`{list}[{i}]`: the stage has {len} {list}")]
    NoSuchPath { list: String, i: usize, len: usize },
}

/// Why a path of a sweep cell or an experiment cannot be moved into its namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemapError {
    #[error(transparent)]
    Path(#[from] WsPathError),
    #[error(
        "dep `{dep}` contains `{out}`, an out of a swept stage, which each cell writes under its own directory; depend on `{out}` itself"
    )]
    ContainsMovedOut { dep: WsPath, out: WsPath },
}

pub struct NoRemap;

impl Remap for NoRemap {
    fn remap(&self, path: &WsPath, _: bool) -> Result<WsPath, RemapError> {
        Ok(path.clone())
    }
}

pub struct Instance<'a> {
    pub spec: &'a Spec,
    pub def_index: usize,
    pub view: View<'a>,
    pub id: StageId,
}

impl Instance<'_> {
    fn def(&self) -> &StageDef {
        &self.spec.stages[self.def_index]
    }

    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> SpecError {
        self.spec.file.error(span, msg)
    }

    /// Maps an error inside a string value to the exact characters when the value is
    /// written plainly in the file, else to the whole value.
    fn interp_err(&self, value_span: Range<usize>, e: InterpError) -> SpecError {
        let raw = self.spec.file.text.get(value_span.clone()).unwrap_or("");
        let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
        let span = if raw.len() >= 2 && !inner.contains('\\') && e.range.end <= inner.len() {
            value_span.start + 1 + e.range.start..value_span.start + 1 + e.range.end
        } else {
            value_span
        };
        let msg = format!("stage `{}`: {}", self.def().name, e.msg);
        self.err(span, msg)
    }

    /// Resolves `${name}` from vars, then params (recording the key in `used`).
    fn resolve_var(
        &self,
        name: &str,
        used: &mut BTreeMap<String, Value>,
    ) -> Result<String, VarError> {
        if let Some(v) = params::lookup(&self.spec.vars, name) {
            return scalar(name, v);
        }
        match self.view.get(None, name) {
            Some(v) => {
                let s = scalar(name, &v)?;
                used.insert(name.to_string(), v.into_owned());
                Ok(s)
            }
            None => Err(VarError::Unknown {
                name: name.to_string(),
                why: self.view.params.explain_missing(None, name),
            }),
        }
    }

    /// The stage instance: its wdir, deps and outs (moved by `remap`), the params it reads
    /// (declared, a built-in's tables, then those its templates name) and its command.
    pub fn build(&self, remap: &dyn Remap) -> Result<Stage, SpecError> {
        let def = self.def();
        let mut used: BTreeMap<String, Value> = BTreeMap::new();
        let wdir = self.wdir(&mut used)?;
        let (deps, dep_spans) = self.deps(&wdir, remap, &mut used)?;
        let outs = self.outs(&wdir, remap, &mut used)?;
        self.declared_params(&mut used)?;
        let kind = self.kind(&wdir, &deps, &outs, &mut used)?;
        let mut flat = BTreeMap::new();
        let mut tables = toml::Table::new();
        for (k, v) in &used {
            params::flatten_into(k, v, &mut flat);
            params::set(&mut tables, k, v.clone());
        }
        Ok(Stage {
            id: self.id.clone(),
            def: self.def_index,
            cell: None,
            desc: def.desc.clone(),
            kind,
            wdir,
            deps,
            dep_spans,
            outs,
            params: flat,
            param_tables: tables,
            resources: def.resources,
            placement: def.placement.clone(),
            frozen: def.frozen,
            always_changed: def.always_changed,
            retries: def.retries,
            env: def.env.iter().map(|e| e.get_ref().clone()).collect(),
            span: def.span.clone(),
        })
    }

    /// `wdir`, resolved (the workspace root when not given).
    fn wdir(&self, used: &mut BTreeMap<String, Value>) -> Result<WsPath, SpecError> {
        let Some(w) = &self.def().wdir else {
            return Ok(WsPath::root());
        };
        let s = interp::interpolate(w.get_ref(), interp::LONGEST_CMD, "the path", |n| {
            self.resolve_var(n, used)
        })
        .map_err(|e| self.interp_err(w.span(), e))?;
        WsPath::parse(&s).map_err(|e| self.err(w.span(), format!("wdir: {e}")))
    }

    /// The deps, resolved onto `wdir` and remapped, with where each is written.
    fn deps(
        &self,
        wdir: &WsPath,
        remap: &dyn Remap,
        used: &mut BTreeMap<String, Value>,
    ) -> Result<(Vec<WsPath>, Vec<Range<usize>>), SpecError> {
        let def = self.def();
        let mut deps = Vec::with_capacity(def.deps.len());
        let mut dep_spans = Vec::with_capacity(def.deps.len());
        for d in &def.deps {
            let s = interp::interpolate(d.get_ref(), interp::LONGEST_CMD, "the path", |n| {
                self.resolve_var(n, used)
            })
            .map_err(|e| self.interp_err(d.span(), e))?;
            let p = WsPath::join(wdir, &s)
                .map_err(|e| self.err(d.span(), format!("dep of stage `{}`: {e}", def.name)))?;
            let p = remap
                .remap(&p, false)
                .map_err(|e| self.err(d.span(), e.to_string()))?;
            deps.push(p);
            dep_spans.push(d.span());
        }
        Ok((deps, dep_spans))
    }

    /// The outs, metrics and plots, resolved onto `wdir` (none of them the workspace's
    /// own) and remapped.
    fn outs(
        &self,
        wdir: &WsPath,
        remap: &dyn Remap,
        used: &mut BTreeMap<String, Value>,
    ) -> Result<Vec<Out>, SpecError> {
        let def = self.def();
        let mut outs = Vec::with_capacity(def.outs.len());
        for o in &def.outs {
            let s = interp::interpolate(o.path.get_ref(), interp::LONGEST_CMD, "the path", |n| {
                self.resolve_var(n, used)
            })
            .map_err(|e| self.interp_err(o.path.span(), e))?;
            let p = WsPath::join(wdir, &s).map_err(|e| {
                self.err(
                    o.path.span(),
                    format!("{} of stage `{}`: {e}", o.role.key(), def.name),
                )
            })?;
            if let Some(what) = crate::spec::workspace_owned(&self.spec.path, &p) {
                return Err(self.err(
                    o.path.span(),
                    format!("stage `{}` cannot write `{p}`: it is {what}", def.name),
                ));
            }
            let p = remap
                .remap(&p, true)
                .map_err(|e| self.err(o.path.span(), e.to_string()))?;
            outs.push(Out {
                path: p,
                role: o.role,
                cache: o.cache,
                persist: o.persist,
                span: o.path.span(),
            });
        }
        Ok(outs)
    }

    /// The declared params' values (overrides applied) into `used`; a missing one is an
    /// error at its declaration.
    fn declared_params(&self, used: &mut BTreeMap<String, Value>) -> Result<(), SpecError> {
        let def = self.def();
        for p in &def.params {
            let Some(v) = self.view.get(p.file.as_ref(), &p.key) else {
                return Err(self.err(
                    p.span.clone(),
                    format!(
                        "stage `{}` reads param `{}`: {}",
                        def.name,
                        p.key,
                        self.view.params.explain_missing(p.file.as_ref(), &p.key)
                    ),
                ));
            };
            used.insert(p.key.clone(), v.into_owned());
        }
        Ok(())
    }

    /// What the stage runs: a built-in (whose params tables it reads), or its commands with
    /// every `${...}` resolved (`${deps[0]}` and the like relative to `wdir`, `${stage}` its
    /// id, else a var or a param).
    fn kind(
        &self,
        wdir: &WsPath,
        deps: &[WsPath],
        outs: &[Out],
        used: &mut BTreeMap<String, Value>,
    ) -> Result<StageKind, SpecError> {
        let def = self.def();
        let cmds = match &def.body {
            Body::Uses(u, sig) => {
                for table in sig.params {
                    if let Some(v) = self.view.get(None, table) {
                        used.insert(table.to_string(), v.into_owned());
                    }
                }
                return Ok(StageKind::Builtin(u.get_ref().clone()));
            }
            Body::Cmd(cmds) => cmds,
        };
        let mut out = Vec::with_capacity(cmds.get_ref().len());
        for c in cmds.get_ref() {
            let s = interp::interpolate(c, interp::LONGEST_CMD, "the command", |n| {
                if let Some((list, i)) = interp::indexed(n) {
                    return self.path_var(list, i, wdir, deps, outs);
                }
                if n == "stage" {
                    return Ok(self.id.to_string());
                }
                self.resolve_var(n, used)
            })
            .map_err(|e| {
                if cmds.get_ref().len() == 1 {
                    self.interp_err(cmds.span(), e)
                } else {
                    self.err(cmds.span(), format!("stage `{}`: {}", def.name, e.msg))
                }
            })?;
            out.push(s);
        }
        Ok(StageKind::Cmd(out))
    }

    fn path_var(
        &self,
        list: &str,
        i: usize,
        wdir: &WsPath,
        deps: &[WsPath],
        outs: &[Out],
    ) -> Result<String, VarError> {
        let paths: Vec<&WsPath> = match list {
            "deps" => deps.iter().collect(),
            "outs" => outs
                .iter()
                .filter(|o| o.role == OutRole::Out)
                .map(|o| &o.path)
                .collect(),
            "metrics" => outs
                .iter()
                .filter(|o| o.role == OutRole::Metric)
                .map(|o| &o.path)
                .collect(),
            "plots" => outs
                .iter()
                .filter(|o| o.role == OutRole::Plot)
                .map(|o| &o.path)
                .collect(),
            other => return Err(VarError::UnknownList(other.to_string())),
        };
        match paths.get(i) {
            Some(p) => Ok(shell_quote(&p.relative_to(wdir))),
            None => Err(VarError::NoSuchPath {
                list: list.to_string(),
                i,
                len: paths.len(),
            }),
        }
    }
}

fn scalar(name: &str, v: &Value) -> Result<String, VarError> {
    match v {
        // As DVC interpolates a null.
        v if crate::spec::null::is_null(v) => Ok("None".to_string()),
        Value::String(s) => Ok(s.clone()),
        Value::Integer(_) | Value::Float(_) | Value::Boolean(_) | Value::Datetime(_) => {
            Ok(toml_text::decimal(v))
        }
        Value::Array(a) => a
            .iter()
            .map(|x| scalar(name, x))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join(" ")),
        Value::Table(_) => Err(VarError::Table(name.to_string())),
    }
}

/// Quotes a path for `sh` when it holds anything but plain characters.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./=:,@+-%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
