//! Sweep expansion: `[sweep.NAME]` tables into cells, and cells into stage instances.
//!
//! A sweep names stages to re-instantiate per cell; everything upstream of them is shared
//! by all cells and runs once. Cells come from
//!
//! - `matrix`: the cartesian product of param key -> values (keys in file order),
//! - `cells`: explicit overrides, each optionally named (`name = "no_temporal"`); given
//!   together with `matrix`, every cell is crossed with every matrix combination,
//! - `exclude`: rows that remove every product cell matching all their keys,
//! - `include`: rows that add cells,
//!
//! `set` applies fixed overrides to every cell (not part of the names), and `seeds`
//! replicates each cell once per seed (the seed goes to `seed_key`, default
//! `train.seed`). A cell is named after its overrides (`grid=4,window=8`: the key's last
//! segment unless two keys share it) unless it has a name, which stands for its own overrides
//! (matrix values it is crossed with are still appended); the instance id of a stage in it
//! is `train@grid=4,window=8,seed=1`. Its outs, and its deps on other swept stages' outs,
//! move under `<dir>/<cell>/` (default dir `sweeps/<sweep>`), so cells never clobber each
//! other or the base pipeline.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use indexmap::IndexMap;
use toml::{Spanned, Value};

use super::instance::{Instance, NoRemap, Remap};
use super::stage::{CellInfo, Stage, StageId, StageKind};
use crate::spec::params::{self, View, type_name};
use crate::spec::{Body, Spec, SpecError, SweepSrc};
use crate::wspath::WsPath;

/// Which way a reported metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Max,
    Min,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportCol {
    pub metric: String,
    pub better: Better,
}

/// One replicate of a cell: its instance ids.
#[derive(Debug, Clone)]
pub struct Replicate {
    pub seed: Option<i64>,
    /// The cell part of its stages' ids (`grid=4,seed=1`).
    pub key: String,
    pub stages: Vec<StageId>,
}

#[derive(Debug, Clone)]
pub struct CellPlan {
    pub name: String,
    pub overrides: Vec<(String, Value)>,
    pub replicates: Vec<Replicate>,
}

/// A sweep, expanded.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub name: String,
    pub span: Range<usize>,
    pub desc: Option<String>,
    pub stages: Vec<String>,
    /// Every overridden key, in column order.
    pub keys: Vec<String>,
    pub cells: Vec<CellPlan>,
    pub seed_key: Option<String>,
    pub report: Vec<ReportCol>,
    pub report_file: Option<WsPath>,
    pub dir: WsPath,
}

type Row = IndexMap<Spanned<String>, Spanned<Value>>;
type TypedFn<'a> = dyn Fn(&Spanned<String>, &Spanned<Value>) -> Result<Value, SpecError> + 'a;

struct CellSpec {
    name: Option<String>,
    overrides: Vec<(String, Value, Range<usize>)>,
    /// The first `named` overrides belong to the named cell: its name stands for them.
    named: usize,
}

pub fn expand(spec: &Spec, base: &[Stage]) -> Result<(Vec<Stage>, Vec<SweepPlan>), SpecError> {
    let mut all = Vec::new();
    let mut plans = Vec::new();
    for src in &spec.sweeps {
        let (stages, plan) = expand_one(spec, base, src)?;
        all.extend(stages);
        plans.push(plan);
    }
    Ok((all, plans))
}

fn expand_one(
    spec: &Spec,
    base: &[Stage],
    src: &SweepSrc,
) -> Result<(Vec<Stage>, SweepPlan), SpecError> {
    let file = &spec.file;
    let name = src.name.get_ref().clone();
    let sweep_span = src.name.span();
    let t = src.body.get_ref();
    let err = |span: Range<usize>, msg: String| file.error(span, format!("sweep `{name}`: {msg}"));
    if !crate::spec::valid_stage_name(&name) {
        return Err(err(
            sweep_span.clone(),
            "a sweep name may hold only letters, digits, `_`, `-` and `.`".into(),
        ));
    }

    // The swept stages.
    let mut defs: Vec<usize> = Vec::new();
    for s in &t.stages {
        let Some(i) = spec.stages.iter().position(|d| &d.name == s.get_ref()) else {
            return Err(err(
                s.span(),
                format!("no stage `{}` in the pipeline", s.get_ref()),
            ));
        };
        if defs.contains(&i) {
            return Err(err(
                s.span(),
                format!("stage `{}` is listed twice", s.get_ref()),
            ));
        }
        defs.push(i);
    }
    if defs.is_empty() {
        return Err(err(
            src.body.span(),
            "`stages` is empty: name the stages each cell re-runs".into(),
        ));
    }
    defs.sort_unstable();
    check_no_gap(spec, base, &defs, &name, sweep_span.clone())?;

    // Cells.
    let check_key = |key: &Spanned<String>| -> Result<Value, SpecError> {
        base_value(&spec.params, key.get_ref()).map_err(|m| err(key.span(), m))
    };
    let typed = |key: &Spanned<String>, v: &Spanned<Value>| -> Result<Value, SpecError> {
        let base = check_key(key)?;
        typed_value(key.get_ref(), &base, v.get_ref()).map_err(|m| err(v.span(), m))
    };

    let mut product: Vec<CellSpec> = vec![CellSpec {
        name: None,
        overrides: Vec::new(),
        named: 0,
    }];
    let mut keys: Vec<String> = Vec::new();
    if let Some(m) = &t.matrix {
        if m.get_ref().is_empty() {
            return Err(err(m.span(), "`matrix` is empty".into()));
        }
        for (k, vals) in m.get_ref() {
            if vals.get_ref().is_empty() {
                return Err(err(
                    vals.span(),
                    format!("matrix key `{}` has no values", k.get_ref()),
                ));
            }
            let base = check_key(k)?;
            let mut next = Vec::with_capacity(product.len() * vals.get_ref().len());
            let typed_vals: Vec<Value> = vals
                .get_ref()
                .iter()
                .map(|v| {
                    coerce(&base, v).ok_or_else(|| {
                        err(
                            vals.span(),
                            format!(
                                "`{}` is {} {} in the params, but the matrix gives {} {}",
                                k.get_ref(),
                                article(type_name(&base)),
                                type_name(&base),
                                article(type_name(v)),
                                type_name(v)
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            for c in &product {
                for v in &typed_vals {
                    let mut o = c.overrides.clone();
                    o.push((k.get_ref().clone(), v.clone(), vals.span()));
                    next.push(CellSpec {
                        name: None,
                        overrides: o,
                        named: 0,
                    });
                }
            }
            product = next;
            push_key(&mut keys, k.get_ref());
        }
    }
    if let Some(cells) = &t.cells {
        if cells.get_ref().is_empty() {
            return Err(err(cells.span(), "`cells` is empty".into()));
        }
        let mut named = Vec::new();
        for row in cells.get_ref() {
            named.push(row_cell(
                row.get_ref(),
                row.span(),
                &typed,
                &mut keys,
                &err,
            )?);
        }
        let mut crossed = Vec::with_capacity(product.len() * named.len());
        for n in &named {
            for p in &product {
                let mut o = n.overrides.clone();
                o.extend(p.overrides.iter().cloned());
                crossed.push(CellSpec {
                    name: n.name.clone(),
                    overrides: o,
                    named: n.named,
                });
            }
        }
        product = crossed;
    } else if t.matrix.is_none() {
        return Err(err(
            sweep_span.clone(),
            "has no cells: give a `matrix`, `cells`, or both".into(),
        ));
    }
    for row in &t.exclude {
        let mut conds = Vec::new();
        for (k, v) in row.get_ref() {
            conds.push((k.get_ref().clone(), typed(k, v)?));
        }
        let before = product.len();
        product.retain(|c| {
            !conds
                .iter()
                .all(|(k, v)| c.overrides.iter().any(|(ck, cv, _)| ck == k && cv == v))
        });
        if product.len() == before {
            return Err(err(row.span(), "this `exclude` row matches no cell".into()));
        }
    }
    for row in &t.include {
        product.push(row_cell(
            row.get_ref(),
            row.span(),
            &typed,
            &mut keys,
            &err,
        )?);
    }

    let mut fixed: Vec<(String, Value, Range<usize>)> = Vec::new();
    for (k, v) in &t.set {
        if k.get_ref() == "name" {
            return Err(err(
                k.span(),
                "`set` holds param overrides; a `name` belongs in `cells`".into(),
            ));
        }
        fixed.push((k.get_ref().clone(), typed(k, v)?, v.span()));
    }

    let seed_key = match (&t.seeds, &t.seed_key) {
        (Some(_), Some(k)) => Some(Spanned::new(k.span(), k.get_ref().clone())),
        (Some(s), None) => Some(Spanned::new(s.span(), "train.seed".to_string())),
        (None, Some(k)) => return Err(err(k.span(), "`seed_key` without `seeds`".into())),
        (None, None) => None,
    };
    let seeds: Vec<Option<i64>> = match &t.seeds {
        Some(s) if s.get_ref().is_empty() => return Err(err(s.span(), "`seeds` is empty".into())),
        Some(s) => {
            let k = seed_key
                .as_ref()
                .map(|k| k.get_ref().as_str())
                .unwrap_or("train.seed");
            if spec.params.get(None, k).is_none() {
                let span = seed_key.as_ref().map(Spanned::span).unwrap_or(s.span());
                return Err(err(
                    span,
                    format!("seed key `{k}`: {}", spec.params.explain_missing(None, k)),
                ));
            }
            let mut uniq = BTreeSet::new();
            for v in s.get_ref() {
                if !uniq.insert(*v) {
                    return Err(err(s.span(), format!("seed {v} is listed twice")));
                }
            }
            s.get_ref().iter().map(|v| Some(*v)).collect()
        }
        None => vec![None],
    };

    let dir = match &t.dir {
        Some(d) => WsPath::parse(d.get_ref()).map_err(|e| err(d.span(), format!("dir: {e}")))?,
        None => WsPath::parse(&format!("sweeps/{name}"))
            .map_err(|e| err(sweep_span.clone(), e.to_string()))?,
    };
    let report = t
        .report
        .iter()
        .map(|r| parse_report(r.get_ref()).map_err(|m| err(r.span(), m)))
        .collect::<Result<Vec<_>, _>>()?;
    let report_file = match &t.report_file {
        Some(f) => Some(
            WsPath::parse(f.get_ref()).map_err(|e| err(f.span(), format!("report_file: {e}")))?,
        ),
        None => None,
    };

    // Names, unique.
    let shorts = short_names(&keys);
    let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut cells = Vec::with_capacity(product.len());
    let mut stages = Vec::new();
    for c in &product {
        let mut parts: Vec<String> = c.name.iter().cloned().collect();
        for (k, v, _) in &c.overrides[c.named..] {
            parts.push(format!("{}={}", shorts[k], value_label(v)));
        }
        let cname = if parts.is_empty() {
            "base".to_string()
        } else {
            parts.join(",")
        };
        let span = c
            .overrides
            .first()
            .map(|o| o.2.clone())
            .unwrap_or(sweep_span.clone());
        if let Some(prev) = seen.insert(cname.clone(), span.clone()) {
            return Err(err(span, format!("two cells are both named `{cname}`")).at(
                file,
                prev,
                "the other",
            ));
        }
        let mut replicates = Vec::with_capacity(seeds.len());
        for seed in &seeds {
            let mut overrides: BTreeMap<String, Value> = fixed
                .iter()
                .chain(&c.overrides)
                .map(|(k, v, _)| (k.clone(), v.clone()))
                .collect();
            let key = match seed {
                Some(s) => {
                    let sk = seed_key
                        .as_ref()
                        .map(|k| k.get_ref().clone())
                        .unwrap_or_default();
                    overrides.insert(sk, Value::Integer(*s));
                    format!("{cname},seed={s}")
                }
                None => cname.clone(),
            };
            let cx = SweepCtx {
                spec,
                defs: &defs,
                dir: &dir,
                name: &name,
                fixed: &fixed,
            };
            let insts = instantiate_cell(&cx, &overrides, &key, c)?;
            replicates.push(Replicate {
                seed: *seed,
                key: key.clone(),
                stages: insts.iter().map(|s| s.id.clone()).collect(),
            });
            stages.extend(insts);
        }
        cells.push(CellPlan {
            name: cname,
            overrides: c
                .overrides
                .iter()
                .map(|(k, v, _)| (k.clone(), v.clone()))
                .collect(),
            replicates,
        });
    }

    Ok((
        stages,
        SweepPlan {
            name,
            span: sweep_span,
            desc: t.desc.clone(),
            stages: defs.iter().map(|&i| spec.stages[i].name.clone()).collect(),
            keys,
            cells,
            seed_key: seed_key.map(|k| k.into_inner()),
            report,
            report_file,
            dir,
        },
    ))
}

/// The params' value of an override key, or why there is none (with "did you mean").
/// Sweeps and experiments check their overrides with this and [`typed_value`].
pub(crate) fn base_value(params: &params::Params, key: &str) -> Result<Value, String> {
    params.get(None, key).cloned().ok_or_else(|| {
        format!(
            "override key `{key}`: {}",
            params.explain_missing(None, key)
        )
    })
}

/// An override value of `key` checked against the type of its params value `base`.
pub(crate) fn typed_value(key: &str, base: &Value, v: &Value) -> Result<Value, String> {
    coerce(base, v).ok_or_else(|| {
        format!(
            "`{key}` is {} {} in the params, but this value is {} {}",
            article(type_name(base)),
            type_name(base),
            article(type_name(v)),
            type_name(v)
        )
    })
}

fn row_cell(
    row: &Row,
    span: Range<usize>,
    typed: &TypedFn<'_>,
    keys: &mut Vec<String>,
    err: &dyn Fn(Range<usize>, String) -> SpecError,
) -> Result<CellSpec, SpecError> {
    let mut c = CellSpec {
        name: None,
        overrides: Vec::new(),
        named: 0,
    };
    for (k, v) in row {
        if k.get_ref() == "name" {
            match v.get_ref() {
                Value::String(s) if valid_cell_name(s) => c.name = Some(s.clone()),
                _ => {
                    return Err(err(
                        v.span(),
                        "a cell `name` is a string of letters, digits, `_`, `-`, `.`, `=`".into(),
                    ));
                }
            }
            continue;
        }
        let val = typed(k, v)?;
        c.overrides.push((k.get_ref().clone(), val, v.span()));
        push_key(keys, k.get_ref());
    }
    if c.name.is_some() {
        c.named = c.overrides.len();
    }
    if c.name.is_none() && c.overrides.is_empty() {
        return Err(err(
            span,
            "an empty cell: give it a `name` or overrides".into(),
        ));
    }
    Ok(c)
}

fn valid_cell_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.=".contains(c))
}

fn push_key(keys: &mut Vec<String>, k: &str) {
    if !keys.iter().any(|x| x == k) {
        keys.push(k.to_string());
    }
}

/// The override value as it should appear in names: strings bare, `/` made `_`.
pub(crate) fn value_label(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => params::render(other),
    };
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Short column names: the last segment of each key, unless two keys share it.
pub fn short_names(keys: &[String]) -> BTreeMap<String, String> {
    let last = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for k in keys {
        *count.entry(last(k)).or_default() += 1;
    }
    keys.iter()
        .map(|k| {
            let l = last(k);
            (k.clone(), if count[&l] > 1 { k.clone() } else { l })
        })
        .collect()
}

/// An override value checked against the params' type; an integer may stand for a float.
fn coerce(base: &Value, v: &Value) -> Option<Value> {
    match (base, v) {
        (Value::Float(_), Value::Integer(i)) => Some(Value::Float(*i as f64)),
        (b, v) if std::mem::discriminant(b) == std::mem::discriminant(v) => Some(v.clone()),
        _ => None,
    }
}

fn article(t: &str) -> &'static str {
    if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn parse_report(s: &str) -> Result<ReportCol, String> {
    let (metric, better) = match s.rsplit_once(':') {
        Some((m, "max")) => (m, Better::Max),
        Some((m, "min")) => (m, Better::Min),
        Some((_, d)) => {
            return Err(format!(
                "report `{s}`: direction `{d}` must be `max` or `min`"
            ));
        }
        None => (s, Better::Max),
    };
    if metric.is_empty() {
        return Err("an empty report metric".into());
    }
    Ok(ReportCol {
        metric: metric.to_string(),
        better,
    })
}

/// A non-swept stage between two swept ones would be shared by all cells although its
/// input differs per cell: refuse it.
fn check_no_gap(
    spec: &Spec,
    base: &[Stage],
    defs: &[usize],
    sweep: &str,
    span: Range<usize>,
) -> Result<(), SpecError> {
    let swept: BTreeSet<usize> = defs.iter().copied().collect();
    let feeds = |a: &Stage, b: &Stage| {
        b.deps
            .iter()
            .any(|d| a.outs.iter().any(|o| o.path.overlaps(d)))
    };
    // tainted: stages downstream of a swept stage.
    let mut tainted = vec![false; base.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for (j, b) in base.iter().enumerate() {
            if tainted[j] {
                continue;
            }
            if base
                .iter()
                .enumerate()
                .any(|(i, a)| (swept.contains(&i) || tainted[i]) && i != j && feeds(a, b))
            {
                tainted[j] = true;
                changed = true;
            }
        }
    }
    for &c in defs {
        for (b, stage) in base.iter().enumerate() {
            if !swept.contains(&b) && tainted[b] && feeds(stage, &base[c]) {
                return Err(spec.file.error(
                    span,
                    format!(
                        "sweep `{sweep}`: stage `{}` lies between swept stages and would be shared by every cell; add it to `stages`",
                        stage.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

pub(crate) struct CellRemap {
    pub(crate) prefix: WsPath,
    pub(crate) outs: Vec<WsPath>,
}

impl Remap for CellRemap {
    fn remap(&self, p: &WsPath, is_out: bool) -> Result<WsPath, String> {
        let moved = || WsPath::join(&self.prefix, p.as_str()).map_err(|e| e.to_string());
        if is_out || self.outs.iter().any(|o| p.is_within(o)) {
            return moved();
        }
        if let Some(o) = self.outs.iter().find(|o| o.is_within(p)) {
            return Err(format!(
                "dep `{p}` contains `{o}`, an out of a swept stage, which each cell writes under its own directory; depend on `{o}` itself"
            ));
        }
        Ok(p.clone())
    }
}

/// What every cell of one sweep shares.
struct SweepCtx<'a> {
    spec: &'a Spec,
    /// The swept stages' definitions.
    defs: &'a [usize],
    dir: &'a WsPath,
    name: &'a str,
    /// `set`: overrides of every cell.
    fixed: &'a [(String, Value, Range<usize>)],
}

fn instantiate_cell(
    cx: &SweepCtx,
    overrides: &BTreeMap<String, Value>,
    key: &str,
    cell: &CellSpec,
) -> Result<Vec<Stage>, SpecError> {
    let SweepCtx {
        spec,
        defs,
        dir,
        name: sweep,
        fixed,
    } = *cx;
    let view = View {
        params: &spec.params,
        overrides,
    };
    let mut plain = Vec::with_capacity(defs.len());
    for &d in defs {
        let inst = Instance {
            spec,
            def_index: d,
            view,
            id: StageId::new(&spec.stages[d].name, Some(key)),
        };
        plain.push(inst.build(&NoRemap)?);
    }
    let remap = CellRemap {
        prefix: WsPath::join(dir, key).map_err(|e| spec.file.error(0..0, e.to_string()))?,
        outs: plain
            .iter()
            .flat_map(|s| s.outs.iter().map(|o| o.path.clone()))
            .collect(),
    };
    let mut out = Vec::with_capacity(defs.len());
    for (&d, before) in defs.iter().zip(&plain) {
        let inst = Instance {
            spec,
            def_index: d,
            view,
            id: StageId::new(&spec.stages[d].name, Some(key)),
        };
        let mut s = inst.build(&remap)?;
        check_literal_paths(spec, d, before, &s, sweep)?;
        s.cell = Some(CellInfo {
            sweep: sweep.to_string(),
            cell: key.to_string(),
            overrides: overrides.clone(),
        });
        out.push(s);
    }
    for (k, _, span) in cell.overrides.iter().chain(fixed) {
        let read = out.iter().any(|s| {
            s.params
                .keys()
                .any(|p| p == k || p.starts_with(&format!("{k}.")))
        });
        if !read {
            return Err(spec.file.error(
                span.clone(),
                format!("sweep `{sweep}`: no stage of the sweep reads `{k}`, so overriding it changes nothing"),
            ));
        }
    }
    Ok(out)
}

/// A cmd that names a moved path literally would write the base pipeline's file from
/// every cell.
pub(crate) fn check_literal_paths(
    spec: &Spec,
    def: usize,
    before: &Stage,
    after: &Stage,
    sweep: &str,
) -> Result<(), SpecError> {
    let d = &spec.stages[def];
    let Body::Cmd(cmds) = &d.body else {
        return Ok(());
    };
    let StageKind::Cmd(_) = &after.kind else {
        return Ok(());
    };
    let moved = before
        .outs
        .iter()
        .zip(&after.outs)
        .map(|(a, b)| (&a.path, &b.path, "outs"))
        .chain(
            before
                .deps
                .iter()
                .zip(&after.deps)
                .map(|(a, b)| (a, b, "deps")),
        );
    for (a, b, list) in moved {
        if a == b {
            continue;
        }
        let rel = a.relative_to(&before.wdir);
        if cmds.get_ref().iter().any(|c| names_path(c, &rel)) {
            return Err(spec
                .file
                .error(
                    cmds.span(),
                    format!(
                        "stage `{}` is swept by `{sweep}`, whose cells move `{rel}` to `{b}`, but its cmd names `{rel}` literally",
                        d.name
                    ),
                )
                .help(format!("write the path as `${{{list}[N]}}` so each cell gets its own")));
        }
    }
    Ok(())
}

/// Whether command `cmd` (as written, templates unexpanded) names path `rel` itself or
/// something inside it: a whole word of the command (split at blanks, quotes, shell
/// operators and `=`, a leading `./` dropped) that is `rel` or starts with `rel/`. Not a
/// substring: out `o` is not named by `echo`, nor `data` by `make_data.py` or `src/data`;
/// and nothing inside `${...}`, which each cell expands to its own path.
fn names_path(cmd: &str, rel: &str) -> bool {
    let mut text = String::with_capacity(cmd.len());
    let mut rest = cmd;
    while let Some(i) = rest.find("${") {
        text.push_str(&rest[..i]);
        text.push(' ');
        rest = match rest[i..].find('}') {
            Some(j) => &rest[i + j + 1..],
            None => "",
        };
    }
    text.push_str(rest);
    let inside = format!("{rel}/");
    text.split(|c: char| c.is_whitespace() || "'\"`;|&<>()=".contains(c))
        .map(|w| {
            let mut w = w;
            while let Some(r) = w.strip_prefix("./") {
                w = r;
            }
            w
        })
        .any(|w| w == rel || w.starts_with(&inside))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_named_as_a_whole_word_not_a_substring() {
        assert!(!names_path("echo ${n} > ${outs[0]}", "o"));
        assert!(!names_path("python make_data.py > ${outs[0]}", "data"));
        assert!(!names_path("cat src/data > ${outs[0]}", "data"));
        assert!(!names_path("cp ${deps[0]} x", "deps"));
        assert!(names_path("echo 1 > o", "o"));
        assert!(names_path("python make.py --out=data/x.csv", "data"));
        assert!(names_path("cat ./data/*.csv|wc", "data"));
        assert!(names_path("python -c \"open('o','w')\"", "o"));
        assert!(names_path("cd .. && touch ../data", "../data"));
    }

    #[test]
    fn short_names_disambiguate() {
        let keys = vec![
            "model.grid".to_string(),
            "a.x".to_string(),
            "b.x".to_string(),
        ];
        let s = short_names(&keys);
        assert_eq!(s["model.grid"], "grid");
        assert_eq!(s["a.x"], "a.x");
        assert_eq!(s["b.x"], "b.x");
    }

    #[test]
    fn report_directions() {
        assert_eq!(parse_report("f1").unwrap().better, Better::Max);
        assert_eq!(parse_report("loss:min").unwrap().better, Better::Min);
        assert!(parse_report("x:up").is_err());
    }

    #[test]
    fn labels_are_path_safe() {
        assert_eq!(value_label(&Value::String("a/b c".into())), "a_b_c");
        assert_eq!(value_label(&Value::Float(0.5)), "0.5");
        assert_eq!(value_label(&Value::Boolean(false)), "false");
    }
}
