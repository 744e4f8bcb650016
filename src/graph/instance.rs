//! Instantiating a `StageDef` with a params view: resolving `${...}`, joining paths onto
//! the wdir, collecting the params the stage reads. Sweep cells pass a remap that moves
//! the cell's outs into its own namespace.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Value;

use super::stage::{Out, Stage, StageId, StageKind};
use crate::spec::interp::{self, InterpError};
use crate::spec::params::{self, View};
use crate::spec::{Body, OutRole, Spec, SpecError, StageDef};
use crate::wspath::WsPath;

/// Moves paths of a sweep cell into its namespace; identity for the base pipeline.
pub trait Remap {
    /// `is_out`: the path is one of the stage's outs (else a dep).
    fn remap(&self, path: &WsPath, is_out: bool) -> Result<WsPath, String>;
}

pub struct NoRemap;

impl Remap for NoRemap {
    fn remap(&self, path: &WsPath, _: bool) -> Result<WsPath, String> {
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
    ) -> Result<String, String> {
        if let Some(v) = params::lookup(&self.spec.vars, name) {
            return scalar(name, v);
        }
        match self.view.get(None, name) {
            Some(v) => {
                let s = scalar(name, &v)?;
                used.insert(name.to_string(), v.into_owned());
                Ok(s)
            }
            None => Err(format!(
                "unknown variable `{name}`: not in [vars], and {}",
                self.view.params.explain_missing(None, name)
            )),
        }
    }

    pub fn build(&self, remap: &dyn Remap) -> Result<Stage, SpecError> {
        let def = self.def();
        let mut used: BTreeMap<String, Value> = BTreeMap::new();

        let wdir = match &def.wdir {
            None => WsPath::root(),
            Some(w) => {
                let s = interp::interpolate(w.get_ref(), |n| self.resolve_var(n, &mut used))
                    .map_err(|e| self.interp_err(w.span(), e))?;
                WsPath::parse(&s).map_err(|e| self.err(w.span(), format!("wdir: {e}")))?
            }
        };

        let mut deps = Vec::with_capacity(def.deps.len());
        let mut dep_spans = Vec::with_capacity(def.deps.len());
        for d in &def.deps {
            let s = interp::interpolate(d.get_ref(), |n| self.resolve_var(n, &mut used))
                .map_err(|e| self.interp_err(d.span(), e))?;
            let p = WsPath::join(&wdir, &s)
                .map_err(|e| self.err(d.span(), format!("dep of stage `{}`: {e}", def.name)))?;
            let p = remap.remap(&p, false).map_err(|m| self.err(d.span(), m))?;
            deps.push(p);
            dep_spans.push(d.span());
        }

        let mut outs = Vec::with_capacity(def.outs.len());
        for o in &def.outs {
            let s = interp::interpolate(o.path.get_ref(), |n| self.resolve_var(n, &mut used))
                .map_err(|e| self.interp_err(o.path.span(), e))?;
            let p = WsPath::join(&wdir, &s).map_err(|e| {
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
                .map_err(|m| self.err(o.path.span(), m))?;
            outs.push(Out {
                path: p,
                role: o.role,
                cache: o.cache,
                persist: o.persist,
                span: o.path.span(),
            });
        }

        // Declared params, then the tables a built-in reads, then keys used in templates.
        for p in &def.params {
            match self.view.get(p.file.as_ref(), &p.key) {
                Some(v) => {
                    used.insert(p.key.clone(), v.into_owned());
                }
                None => {
                    return Err(self.err(
                        p.span.clone(),
                        format!(
                            "stage `{}` reads param `{}`: {}",
                            def.name,
                            p.key,
                            self.view.params.explain_missing(p.file.as_ref(), &p.key)
                        ),
                    ));
                }
            }
        }
        let kind = match &def.body {
            Body::Uses(u, sig) => {
                for table in sig.params {
                    if let Some(v) = self.view.get(None, table) {
                        used.insert(table.to_string(), v.into_owned());
                    }
                }
                StageKind::Builtin(u.get_ref().clone())
            }
            Body::Cmd(cmds) => {
                let mut out = Vec::with_capacity(cmds.get_ref().len());
                for c in cmds.get_ref() {
                    let s = interp::interpolate(c, |n| {
                        if let Some((list, i)) = interp::indexed(n) {
                            return self.path_var(list, i, &wdir, &deps, &outs);
                        }
                        if n == "stage" {
                            return Ok(self.id.to_string());
                        }
                        self.resolve_var(n, &mut used)
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
                StageKind::Cmd(out)
            }
        };

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

    fn path_var(
        &self,
        list: &str,
        i: usize,
        wdir: &WsPath,
        deps: &[WsPath],
        outs: &[Out],
    ) -> Result<String, String> {
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
            other => {
                return Err(format!(
                    "unknown list `{other}` (use deps, outs, metrics or plots)"
                ));
            }
        };
        match paths.get(i) {
            Some(p) => Ok(shell_quote(&p.relative_to(wdir))),
            None => Err(format!(
                "`{list}[{i}]`: the stage has {} {list}",
                paths.len()
            )),
        }
    }
}

fn scalar(name: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Integer(_) | Value::Float(_) | Value::Boolean(_) | Value::Datetime(_) => {
            Ok(params::render(v))
        }
        Value::Array(a) => a
            .iter()
            .map(|x| scalar(name, x))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join(" ")),
        Value::Table(_) => Err(format!(
            "`{name}` is a table; only values can be interpolated"
        )),
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
