//! `[sweep.NAME]` tables, read into typed [`SweepDef`]s: what `graph::sweep` expands into
//! cells needs no more checking there.
//!
//! Checked here, each failure a [`SpecError`] at its key or value: the name; the swept
//! stages (defined, listed once, at least one); every override key is a params key and its
//! value has the params value's type ([`base_value`], [`typed_value`]; an integer may stand
//! for a float), in `matrix`, `cells`, `exclude`, `include` and `set`; a cell `name`; that
//! there are cells at all; `seeds` and `seed_key`; `dir`, `report` and `report_file`.
//! What needs the instantiated stages (a stage between swept ones, an `exclude` row that
//! matches no cell, two cells of one name, an override no stage reads) is checked while
//! expanding, in `graph::sweep`.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::{Spanned, Value};

use super::diag::{SourceFile, SpecError};
use super::params::{Params, type_name};
use super::schema::{RowToml, SweepToml};
use super::{StageDef, only_dots, valid_stage_name};
use crate::wspath::WsPath;

/// The param key seeds go to unless `seed_key` names another.
pub const DEFAULT_SEED_KEY: &str = "train.seed";

/// One sweep, as written, checked.
#[derive(Debug, Clone)]
pub struct SweepDef {
    pub name: String,
    /// Span of the name in `[sweep.NAME]`.
    pub span: Range<usize>,
    pub desc: Option<String>,
    /// The swept stages: indices into `Spec::stages`, in definition order.
    pub stages: Vec<usize>,
    /// `matrix`: its axes in file order.
    pub matrix: Vec<Axis>,
    /// `cells`: explicit cells (each crossed with the matrix when both are given).
    pub cells: Option<Vec<Row>>,
    /// `exclude`: each row removes every product cell matching all its overrides.
    pub exclude: Vec<Row>,
    /// `include`: cells added after the exclusions.
    pub include: Vec<Row>,
    /// `set`: overrides of every cell, not part of the names.
    pub set: Vec<Override>,
    pub seeds: Option<Seeds>,
    pub report: Vec<ReportCol>,
    /// `report_file`, and where it was written (checked against the stages' outs when
    /// the graph is built).
    pub report_file: Option<ReportFile>,
    /// `baseline`: the cell the table tests every other against, and where it was written;
    /// checked against the cells' names when the sweep is expanded.
    pub baseline: Option<(String, Range<usize>)>,
    /// Where the cells' outs go (default `sweeps/<name>`).
    pub dir: WsPath,
}

/// A sweep's `report_file` and the span of its value.
pub type ReportFile = (WsPath, Range<usize>);

/// One param override, typed as the params value it overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: Value,
    /// The value as written.
    pub span: Range<usize>,
}

/// A matrix key and the values it takes (each an override of the key, its span the
/// list's).
#[derive(Debug, Clone)]
pub struct Axis {
    pub key: String,
    pub values: Vec<Override>,
}

/// A row of `cells`, `include` or `exclude`.
#[derive(Debug, Clone)]
pub struct Row {
    /// A cell's own name (`cells` and `include` only), which stands for its overrides.
    pub name: Option<String>,
    pub overrides: Vec<Override>,
    pub span: Range<usize>,
}

/// Replicates: every cell runs once per seed, the seed going to `key`.
#[derive(Debug, Clone)]
pub struct Seeds {
    pub key: String,
    pub values: Vec<i64>,
}

/// Which way a reported metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Max,
    Min,
}

/// A metric the sweep's table reports: `"f1"` (higher is better) or `"loss:min"`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportCol {
    pub metric: String,
    pub better: Better,
}

impl SweepDef {
    /// Every overridden key in column order: the matrix's, then those of `cells` and
    /// `include` rows as they first appear (`exclude` and `set` add none).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        let rows = self.cells.iter().flatten().chain(&self.include);
        let from_rows = rows.flat_map(|r| r.overrides.iter().map(|o| &o.key));
        for k in self.matrix.iter().map(|a| &a.key).chain(from_rows) {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        keys
    }
}

/// Checks a `[sweep.NAME]` table of `file` against the pipeline's stages and params.
pub fn parse(
    file: &SourceFile,
    stages: &[StageDef],
    params: &Params,
    name: &Spanned<String>,
    body: &Spanned<SweepToml>,
) -> Result<SweepDef, SpecError> {
    let p = Parser {
        file,
        params,
        sweep: name.get_ref(),
    };
    let span = name.span();
    if !valid_stage_name(p.sweep) {
        return Err(p.err(
            span,
            "a sweep name may hold only letters, digits, `_`, `-` and `.`, and not only dots (it names the cells' directory)",
        ));
    }
    let t = body.get_ref();
    let swept = p.stages(stages, &t.stages, body.span())?;
    let matrix = p.matrix(t)?;
    let cells = p.cells(t, span.clone())?;
    let exclude = t
        .exclude
        .iter()
        .map(|row| p.conditions(row))
        .collect::<Result<_, _>>()?;
    let include = t
        .include
        .iter()
        .map(|row| p.row(row))
        .collect::<Result<_, _>>()?;
    let set = p.set(&t.set)?;
    let seeds = p.seeds(t)?;
    let (dir, report, report_file) = p.outputs(t, span.clone())?;
    Ok(SweepDef {
        name: p.sweep.clone(),
        span,
        desc: t.desc.clone(),
        stages: swept,
        matrix,
        cells,
        exclude,
        include,
        set,
        seeds,
        report,
        report_file,
        baseline: t.baseline.as_ref().map(|b| (b.get_ref().clone(), b.span())),
        dir,
    })
}

/// Reads one sweep's table; every error names the sweep.
struct Parser<'a> {
    file: &'a SourceFile,
    params: &'a Params,
    sweep: &'a String,
}

impl Parser<'_> {
    fn err(&self, span: Range<usize>, msg: impl std::fmt::Display) -> SpecError {
        self.file
            .error(span, format!("sweep `{}`: {msg}", self.sweep))
    }

    /// The swept stages' indices, sorted.
    fn stages(
        &self,
        defs: &[StageDef],
        listed: &[Spanned<String>],
        body: Range<usize>,
    ) -> Result<Vec<usize>, SpecError> {
        let mut swept: Vec<usize> = Vec::with_capacity(listed.len());
        for s in listed {
            let Some(i) = defs.iter().position(|d| &d.name == s.get_ref()) else {
                let msg = format!("no stage `{}` in the pipeline", s.get_ref());
                return Err(self.err(s.span(), msg));
            };
            if swept.contains(&i) {
                let msg = format!("stage `{}` is listed twice", s.get_ref());
                return Err(self.err(s.span(), msg));
            }
            swept.push(i);
        }
        if swept.is_empty() {
            return Err(self.err(body, "`stages` is empty: name the stages each cell re-runs"));
        }
        swept.sort_unstable();
        Ok(swept)
    }

    /// The params value of override key `key`, or an error at it.
    fn base(&self, key: &Spanned<String>) -> Result<Value, SpecError> {
        base_value(self.params, key.get_ref()).map_err(|e| self.err(key.span(), e))
    }

    /// `key = v`, typed as the params value of `key`.
    fn typed(&self, key: &Spanned<String>, v: &Spanned<Value>) -> Result<Override, SpecError> {
        let base = self.base(key)?;
        let value =
            typed_value(key.get_ref(), &base, v.get_ref()).map_err(|e| self.err(v.span(), e))?;
        Ok(Override {
            key: key.get_ref().clone(),
            value,
            span: v.span(),
        })
    }

    fn matrix(&self, t: &SweepToml) -> Result<Vec<Axis>, SpecError> {
        let Some(m) = &t.matrix else {
            return Ok(Vec::new());
        };
        if m.get_ref().is_empty() {
            return Err(self.err(m.span(), "`matrix` is empty"));
        }
        let mut axes = Vec::with_capacity(m.get_ref().len());
        for (k, vals) in m.get_ref() {
            if vals.get_ref().is_empty() {
                let msg = format!("matrix key `{}` has no values", k.get_ref());
                return Err(self.err(vals.span(), msg));
            }
            let base = self.base(k)?;
            let values = vals
                .get_ref()
                .iter()
                .map(|v| {
                    let value = coerce(&base, v).ok_or_else(|| {
                        let e = OverrideError::MatrixType {
                            key: k.get_ref().clone(),
                            base: type_name(&base),
                            given: type_name(v),
                        };
                        self.err(vals.span(), e)
                    })?;
                    Ok(Override {
                        key: k.get_ref().clone(),
                        value,
                        span: vals.span(),
                    })
                })
                .collect::<Result<_, _>>()?;
            axes.push(Axis {
                key: k.get_ref().clone(),
                values,
            });
        }
        Ok(axes)
    }

    /// `cells`, or `None` when the matrix alone makes them (a sweep needs one or both).
    fn cells(&self, t: &SweepToml, sweep: Range<usize>) -> Result<Option<Vec<Row>>, SpecError> {
        let Some(cells) = &t.cells else {
            if t.matrix.is_none() {
                return Err(self.err(sweep, "has no cells: give a `matrix`, `cells`, or both"));
            }
            return Ok(None);
        };
        if cells.get_ref().is_empty() {
            return Err(self.err(cells.span(), "`cells` is empty"));
        }
        cells
            .get_ref()
            .iter()
            .map(|r| self.row(r))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A row of `cells` or `include`: overrides and perhaps a `name`.
    fn row(&self, row: &Spanned<RowToml>) -> Result<Row, SpecError> {
        let mut name = None;
        let mut overrides = Vec::new();
        for (k, v) in row.get_ref() {
            if k.get_ref() != "name" {
                overrides.push(self.typed(k, v)?);
                continue;
            }
            match v.get_ref() {
                Value::String(s) if valid_cell_name(s) => name = Some(s.clone()),
                _ => {
                    return Err(self.err(
                        v.span(),
                        "a cell `name` is a string of letters, digits, `_`, `-`, `.`, `=`, and not only dots (it names the cell's directory)",
                    ));
                }
            }
        }
        if name.is_none() && overrides.is_empty() {
            return Err(self.err(row.span(), "an empty cell: give it a `name` or overrides"));
        }
        Ok(Row {
            name,
            overrides,
            span: row.span(),
        })
    }

    /// An `exclude` row: every key an override (`name` included: it is no param).
    fn conditions(&self, row: &Spanned<RowToml>) -> Result<Row, SpecError> {
        let overrides = row
            .get_ref()
            .iter()
            .map(|(k, v)| self.typed(k, v))
            .collect::<Result<_, _>>()?;
        Ok(Row {
            name: None,
            overrides,
            span: row.span(),
        })
    }

    fn set(&self, set: &RowToml) -> Result<Vec<Override>, SpecError> {
        let mut fixed = Vec::with_capacity(set.len());
        for (k, v) in set {
            if k.get_ref() == "name" {
                return Err(self.err(
                    k.span(),
                    "`set` holds param overrides; a `name` belongs in `cells`",
                ));
            }
            fixed.push(self.typed(k, v)?);
        }
        Ok(fixed)
    }

    fn seeds(&self, t: &SweepToml) -> Result<Option<Seeds>, SpecError> {
        let (seeds, key) = match (&t.seeds, &t.seed_key) {
            (Some(s), Some(k)) => (s, k.clone()),
            (Some(s), None) => (s, Spanned::new(s.span(), DEFAULT_SEED_KEY.to_string())),
            (None, Some(k)) => return Err(self.err(k.span(), "`seed_key` without `seeds`")),
            (None, None) => return Ok(None),
        };
        if seeds.get_ref().is_empty() {
            return Err(self.err(seeds.span(), "`seeds` is empty"));
        }
        let k = key.get_ref();
        if self.params.get(None, k).is_none() {
            let why = self.params.explain_missing(None, k);
            return Err(self.err(key.span(), format!("seed key `{k}`: {why}")));
        }
        let mut uniq = BTreeSet::new();
        for v in seeds.get_ref() {
            if !uniq.insert(*v) {
                return Err(self.err(seeds.span(), format!("seed {v} is listed twice")));
            }
        }
        Ok(Some(Seeds {
            key: key.into_inner(),
            values: seeds.get_ref().clone(),
        }))
    }

    /// `dir`, `report` and `report_file`.
    fn outputs(
        &self,
        t: &SweepToml,
        sweep: Range<usize>,
    ) -> Result<(WsPath, Vec<ReportCol>, Option<ReportFile>), SpecError> {
        let dir = match &t.dir {
            Some(d) => {
                let dir = WsPath::parse(d.get_ref())
                    .map_err(|e| self.err(d.span(), format!("dir: {e}")))?;
                if !dir.is_root() && dir.components().any(|c| c == ".pipe" || c == ".git") {
                    return Err(self.err(
                            d.span(),
                            format!("dir `{dir}` is the workspace's own (`.pipe`, `.git`): the cells' outs cannot go there"),
                        ));
                }
                dir
            }
            None => {
                WsPath::parse(&format!("sweeps/{}", self.sweep)).map_err(|e| self.err(sweep, e))?
            }
        };
        let report = t
            .report
            .iter()
            .map(|r| parse_report(r.get_ref()).map_err(|e| self.err(r.span(), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let report_file = match &t.report_file {
            Some(f) => Some((
                WsPath::parse(f.get_ref())
                    .map_err(|e| self.err(f.span(), format!("report_file: {e}")))?,
                f.span(),
            )),
            None => None,
        };
        Ok((dir, report, report_file))
    }
}

/// Why an override (a sweep's, or an experiment's `-S`) does not fit the params.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// No such key in the params; `why` says what there is (with "did you mean").
    #[error("override key `{key}`: {why}")]
    UnknownKey { key: String, why: String },
    #[error(
        "`{key}` is {} {base} in the params, but this value is {} {given}",
        article(base),
        article(given)
    )]
    WrongType {
        key: String,
        base: &'static str,
        given: &'static str,
    },
    #[error(
        "`{key}` is {} {base} in the params, but the matrix gives {} {given}",
        article(base),
        article(given)
    )]
    MatrixType {
        key: String,
        base: &'static str,
        given: &'static str,
    },
}

/// The params' value of an override key, or why there is none (with "did you mean").
/// Sweeps and experiments check their overrides with this and [`typed_value`].
pub fn base_value(params: &Params, key: &str) -> Result<Value, OverrideError> {
    params
        .get(None, key)
        .cloned()
        .ok_or_else(|| OverrideError::UnknownKey {
            key: key.to_string(),
            why: params.explain_missing(None, key),
        })
}

/// An override value of `key` checked against the type of its params value `base`.
pub fn typed_value(key: &str, base: &Value, v: &Value) -> Result<Value, OverrideError> {
    coerce(base, v).ok_or_else(|| OverrideError::WrongType {
        key: key.to_string(),
        base: type_name(base),
        given: type_name(v),
    })
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

fn valid_cell_name(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.=".contains(c))
        && !only_dots(s)
}

/// Why a `report` entry is not `METRIC` or `METRIC:max|min`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("report `{entry}`: direction `{direction}` must be `max` or `min`")]
    Direction { entry: String, direction: String },
    #[error("an empty report metric")]
    Empty,
}

fn parse_report(s: &str) -> Result<ReportCol, ReportError> {
    let (metric, better) = match s.rsplit_once(':') {
        Some((m, "max")) => (m, Better::Max),
        Some((m, "min")) => (m, Better::Min),
        Some((_, d)) => {
            return Err(ReportError::Direction {
                entry: s.to_string(),
                direction: d.to_string(),
            });
        }
        None => (s, Better::Max),
    };
    if metric.is_empty() {
        return Err(ReportError::Empty);
    }
    Ok(ReportCol {
        metric: metric.to_string(),
        better,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_directions() {
        assert_eq!(parse_report("f1").unwrap().better, Better::Max);
        assert_eq!(parse_report("loss:min").unwrap().better, Better::Min);
        assert!(parse_report("x:up").is_err());
    }
}
