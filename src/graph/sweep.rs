//! Sweep expansion: a sweep's typed definition (`spec::sweep::SweepDef`, checked when the
//! pipeline was read) into cells, and cells into stage instances.
//!
//! A sweep names stages to re-instantiate per cell; everything upstream of them is shared
//! by all cells and runs once. [`expand`] takes each sweep through these steps, one
//! function each:
//!
//! 1. `check_no_gap`: no stage outside the sweep lies between two swept ones.
//! 2. `product`: the cartesian product of `matrix` (keys in file order); given together
//!    with `cells`, every explicit cell (optionally named, `name = "no_temporal"`) is
//!    crossed with every matrix combination.
//! 3. `exclude`: each row removes every product cell matching all its keys (a row that
//!    matches none is an error); then `include` rows add cells.
//! 4. `names`: a cell is named after its overrides (`grid=4,window=8`: the key's last
//!    segment unless two keys share it) unless it has a name, which stands for its own
//!    overrides (matrix values it is crossed with are still appended); two cells of one
//!    name are an error.
//! 5. `replicates`: `set` applies fixed overrides to every cell (not part of the names),
//!    and `seeds` replicates each cell once per seed (the seed goes to `seed_key`,
//!    default `train.seed`); each replicate's stages are instantiated
//!    (`instantiate_cell`), and every override must be read by one of them.
//!
//! The instance id of a stage in a cell is `train@grid=4,window=8,seed=1`. Its outs, and
//! its deps on other swept stages' outs, move under `<dir>/<cell>/` (default dir
//! `sweeps/<sweep>`, [`CellRemap`]), so cells never clobber each other or the base
//! pipeline.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Value;

use super::instance::{Instance, NoRemap, Remap, RemapError};
use super::owner::{PathOwner, path_owner};
use super::stage::{CellInfo, Stage, StageId, StageKind};
use crate::spec::limits::{self, LONGEST_STAGE_ID, MOST_STAGES};
use crate::spec::naming::{elided, short_names, value_label};
use crate::spec::params::View;
pub use crate::spec::sweep::{Better, ReportCol};
use crate::spec::sweep::{Override, Row, SweepDef};
use crate::spec::{Body, Spec, SpecError};
use crate::wspath::WsPath;

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
    /// The cell every other is tested against in the table (`baseline`), if named.
    pub baseline: Option<String>,
    pub dir: WsPath,
}

/// A cell of the product, before it is named.
#[derive(Debug, Clone)]
struct Cell<'d> {
    name: Option<&'d str>,
    overrides: Vec<&'d Override>,
    /// The first `named` overrides belong to the named cell: its name stands for them.
    named: usize,
}

impl<'d> Cell<'d> {
    fn of_row(row: &'d Row) -> Cell<'d> {
        Cell {
            name: row.name.as_deref(),
            overrides: row.overrides.iter().collect(),
            named: if row.name.is_some() {
                row.overrides.len()
            } else {
                0
            },
        }
    }

    /// Whether every override of `row` is one of this cell's.
    fn matches(&self, row: &Row) -> bool {
        row.overrides.iter().all(|c| {
            self.overrides
                .iter()
                .any(|o| o.key == c.key && o.value == c.value)
        })
    }
}

pub fn expand(spec: &Spec, base: &[Stage]) -> Result<(Vec<Stage>, Vec<SweepPlan>), SpecError> {
    let mut all = Vec::new();
    let mut plans = Vec::new();
    // Instance id -> the sweep (index into spec.sweeps) that made it.
    let mut made_by: BTreeMap<StageId, usize> = BTreeMap::new();
    for (d, def) in spec.sweeps.iter().enumerate() {
        check_size(spec, def, base.len() + spec.data.len() + all.len())?;
        let (stages, plan) = expand_one(spec, base, def)?;
        for s in &stages {
            if let Some(&other) = made_by.get(&s.id) {
                return Err(same_instance_twice(spec, &spec.sweeps[other], def, &s.id));
            }
            made_by.insert(s.id.clone(), d);
        }
        all.extend(stages);
        plans.push(plan);
    }
    Ok((all, plans))
}

/// A sweep's `report_file` is written by `pipe sweep` outside the DAG, so it must be a path
/// nothing else owns (see [`report_file_owner`]) and not another sweep's table.
pub fn check_report_files(spec: &Spec, stages: &[Stage]) -> Result<(), SpecError> {
    let mut written: BTreeMap<&WsPath, &SweepDef> = BTreeMap::new();
    for def in &spec.sweeps {
        let Some((file, span)) = &def.report_file else {
            continue;
        };
        if let Some(e) = report_file_owner(spec, stages, def, file, &format!("`{file}`")) {
            return Err(e);
        }
        if let Some(first) = written.insert(file, def) {
            let msg = format!(
                "sweep `{}`: report_file `{file}` is also sweep `{}`'s: one table would overwrite the other",
                def.name, first.name
            );
            let at = first
                .report_file
                .as_ref()
                .map_or(first.span.clone(), |(_, s)| s.clone());
            return Err(spec
                .file
                .error(span.clone(), msg)
                .at(&spec.file, at, "the other"));
        }
    }
    Ok(())
}

/// What owns `file`, the place sweep `def`'s table would be written (`shown`, quoted, as
/// the user should read it), if anything does: the workspace (`.pipe/`, the pipeline file, its
/// lock), a params file, or a stage's out or tracked data (`file` being it, inside it or
/// around it: the table would change what a stage made, behind the lock's back).
pub fn report_file_owner(
    spec: &Spec,
    stages: &[Stage],
    def: &SweepDef,
    file: &WsPath,
    shown: &str,
) -> Option<SpecError> {
    let span = def
        .report_file
        .as_ref()
        .map_or(def.span.clone(), |(_, s)| s.clone());
    let refuse = |what: String| {
        spec.file.error(
            span.clone(),
            format!("sweep `{}`: report_file {shown} {what}", def.name),
        )
    };
    let owner = path_owner(spec, stages, file)?;
    let msg = match &owner {
        PathOwner::Out { .. } => format!("{owner}: the table would overwrite what the stage made"),
        _ => owner.to_string(),
    };
    let e = refuse(msg);
    Some(match owner {
        PathOwner::Out { out, .. } => e.at(&spec.file, out.span.clone(), "that out"),
        _ => e,
    })
}

/// Two sweeps whose cells have the same name (the same overrides of the same stages, each
/// sweep's `set` aside) would make two stages of one id.
fn same_instance_twice(spec: &Spec, first: &SweepDef, def: &SweepDef, id: &StageId) -> SpecError {
    let msg = format!(
        "sweeps `{}` and `{}` both make stage `{id}`: an instance is named after its cell's overrides, not its sweep",
        first.name, def.name
    );
    spec.file
        .error(def.span.clone(), msg)
        .at(&spec.file, first.span.clone(), "the other")
        .help(format!(
            "set one sweep's cells apart with a named cell crossed with its matrix, e.g. `cells = [{{ name = \"{}\" }}]` in `[sweep.{}]` (its instances become `{}@{},...`)",
            def.name,
            def.name,
            id.name(),
            def.name
        ))
}

/// A sweep would make at most (before `exclude`) its cells times its seeds times its
/// stages: refused before one is made when that takes the pipeline past
/// [`MOST_STAGES`] (`made`: the stages it has already).
fn check_size(spec: &Spec, def: &SweepDef, made: usize) -> Result<(), SpecError> {
    let rows = def.cells.as_ref().map_or(1, Vec::len);
    let cells = limits::product(def.matrix.iter().map(|a| a.values.len()).chain([rows]))
        .saturating_add(def.include.len());
    let seeds = def.seeds.as_ref().map_or(1, |s| s.values.len());
    let stages = limits::product([cells, seeds, def.stages.len()]);
    if stages.saturating_add(made) <= MOST_STAGES {
        return Ok(());
    }
    let mut axes: Vec<String> = def
        .matrix
        .iter()
        .map(|a| format!("{} `{}`", a.values.len(), a.key))
        .chain(def.cells.as_ref().map(|c| format!("{} cells", c.len())))
        .collect();
    if axes.len() > 6 {
        axes.truncate(6);
        axes.push("...".into());
    }
    let before = if made > 0 && stages <= MOST_STAGES {
        format!(", and the pipeline has {made} before it")
    } else {
        String::new()
    };
    let msg = format!(
        "sweep `{}` makes {stages} stage instances ({cells} cells x {seeds} seed(s) x {} stage(s)){before}; a pipeline holds at most {MOST_STAGES} stages",
        def.name,
        def.stages.len(),
    );
    Err(spec.file.error(def.span.clone(), msg).help(format!(
        "a sweep makes every combination of its value lists ({}): take values out, or split it into sweeps run one after another",
        axes.join(" x ")
    )))
}

/// A sweep's cells and their stage instances: the product of `matrix` and `cells`, less
/// `exclude`, plus `include`, named, then instantiated replicate by replicate.
fn expand_one(
    spec: &Spec,
    base: &[Stage],
    def: &SweepDef,
) -> Result<(Vec<Stage>, SweepPlan), SpecError> {
    check_no_gap(spec, base, def)?;
    let mut cells = product(def);
    exclude(spec, def, &mut cells)?;
    cells.extend(def.include.iter().map(Cell::of_row));
    let keys = def.keys();
    let names = names(spec, def, &cells, &keys)?;
    let baseline = baseline(spec, def, &names)?;
    let mut stages = Vec::new();
    let mut plans = Vec::with_capacity(cells.len());
    for (cell, name) in cells.iter().zip(names) {
        let replicates = replicates(spec, def, cell, &name, &mut stages)?;
        plans.push(CellPlan {
            name,
            overrides: cell
                .overrides
                .iter()
                .map(|o| (o.key.clone(), o.value.clone()))
                .collect(),
            replicates,
        });
    }
    Ok((
        stages,
        SweepPlan {
            name: def.name.clone(),
            span: def.span.clone(),
            desc: def.desc.clone(),
            stages: def
                .stages
                .iter()
                .map(|&i| spec.stages[i].name.clone())
                .collect(),
            keys,
            cells: plans,
            seed_key: def.seeds.as_ref().map(|s| s.key.clone()),
            report: def.report.clone(),
            report_file: def.report_file.as_ref().map(|(f, _)| f.clone()),
            baseline,
            dir: def.dir.clone(),
        },
    ))
}

/// The cartesian product of the matrix's axes (in file order), each of its cells crossed
/// with every explicit cell when `cells` is given.
fn product(def: &SweepDef) -> Vec<Cell<'_>> {
    let mut cells = vec![Cell {
        name: None,
        overrides: Vec::new(),
        named: 0,
    }];
    for axis in &def.matrix {
        cells = cells
            .iter()
            .flat_map(|c| {
                axis.values.iter().map(move |v| {
                    let mut overrides = c.overrides.clone();
                    overrides.push(v);
                    Cell {
                        overrides,
                        ..c.clone()
                    }
                })
            })
            .collect();
    }
    let Some(rows) = &def.cells else {
        return cells;
    };
    rows.iter()
        .flat_map(|row| {
            let named = Cell::of_row(row);
            cells.iter().map(move |m| {
                let mut overrides = named.overrides.clone();
                overrides.extend(m.overrides.iter().copied());
                Cell {
                    overrides,
                    ..named.clone()
                }
            })
        })
        .collect()
}

/// Each `exclude` row removes the cells it matches; a row that matches none is an error.
fn exclude(spec: &Spec, def: &SweepDef, cells: &mut Vec<Cell>) -> Result<(), SpecError> {
    for row in &def.exclude {
        let before = cells.len();
        cells.retain(|c| !c.matches(row));
        if cells.len() == before {
            return Err(spec.file.error(
                row.span.clone(),
                format!("sweep `{}`: this `exclude` row matches no cell", def.name),
            ));
        }
    }
    Ok(())
}

/// Each cell's name: its own name, then `key=value` of the overrides it does not stand for
/// (short keys, see [`short_names`]); `base` when there are none. Two of one name are an
/// error at the second.
fn names(
    spec: &Spec,
    def: &SweepDef,
    cells: &[Cell],
    keys: &[String],
) -> Result<Vec<String>, SpecError> {
    let shorts = short_names(keys);
    let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut names = Vec::with_capacity(cells.len());
    for c in cells {
        let mut parts: Vec<String> = c.name.iter().map(|n| n.to_string()).collect();
        for o in &c.overrides[c.named..] {
            parts.push(format!("{}={}", shorts[&o.key], value_label(&o.value)));
        }
        let name = if parts.is_empty() {
            "base".to_string()
        } else {
            parts.join(",")
        };
        let span = c
            .overrides
            .first()
            .map(|o| o.span.clone())
            .unwrap_or(def.span.clone());
        if let Some(prev) = seen.insert(name.clone(), span.clone()) {
            let msg = format!("sweep `{}`: two cells are both named `{name}`", def.name);
            return Err(spec.file.error(span, msg).at(&spec.file, prev, "the other"));
        }
        names.push(name);
    }
    Ok(names)
}

/// The `baseline` cell, which must be one of the sweep's cells (`names`).
fn baseline(spec: &Spec, def: &SweepDef, names: &[String]) -> Result<Option<String>, SpecError> {
    let Some((name, span)) = &def.baseline else {
        return Ok(None);
    };
    if names.contains(name) {
        return Ok(Some(name.clone()));
    }
    let msg = format!(
        "sweep `{}`: baseline `{name}` is not one of its cells ({})",
        def.name,
        names.join(", ")
    );
    Err(spec.file.error(span.clone(), msg))
}

/// The replicates of cell `cell` named `name` (one per seed, or one), their stages pushed
/// onto `stages`.
fn replicates(
    spec: &Spec,
    def: &SweepDef,
    cell: &Cell,
    name: &str,
    stages: &mut Vec<Stage>,
) -> Result<Vec<Replicate>, SpecError> {
    let seeds: Vec<Option<i64>> = match &def.seeds {
        Some(s) => s.values.iter().copied().map(Some).collect(),
        None => vec![None],
    };
    let mut out = Vec::with_capacity(seeds.len());
    for seed in seeds {
        let mut overrides: BTreeMap<String, Value> = def
            .set
            .iter()
            .chain(cell.overrides.iter().copied())
            .map(|o| (o.key.clone(), o.value.clone()))
            .collect();
        let key = match (seed, &def.seeds) {
            (Some(s), Some(seeds)) => {
                overrides.insert(seeds.key.clone(), Value::Integer(s));
                format!("{name},seed={s}")
            }
            _ => name.to_string(),
        };
        check_id_lengths(spec, def, cell, name, &key)?;
        let insts = instantiate_cell(spec, def, &overrides, &key)?;
        check_overrides_read(spec, def, cell, &insts)?;
        out.push(Replicate {
            seed,
            key,
            stages: insts.iter().map(|s| s.id.clone()).collect(),
        });
        stages.extend(insts);
    }
    Ok(out)
}

/// Each instance's id (`train@lr=0.1,seed=0`) names files (its log, the cell's directory):
/// one too long for a file name is refused at the cell, with the remedy.
fn check_id_lengths(
    spec: &Spec,
    def: &SweepDef,
    cell: &Cell,
    name: &str,
    key: &str,
) -> Result<(), SpecError> {
    for &d in &def.stages {
        let id = StageId::new(&spec.stages[d].name, Some(key));
        if id.as_str().len() > LONGEST_STAGE_ID {
            let span = cell
                .overrides
                .first()
                .map_or(def.span.clone(), |o| o.span.clone());
            let msg = format!(
                "sweep `{}`: cell {} makes stage {}, longer than {LONGEST_STAGE_ID} bytes (pipe names a file after each stage: its log, and the cell's directory)",
                def.name,
                elided(name),
                elided(id.as_str()),
            );
            return Err(spec.file.error(span, msg).help(
                "name the cell, and it is named by that alone: `cells = [{ name = \"short\", KEY = VALUE }]`",
            ));
        }
    }
    Ok(())
}

/// A non-swept stage between two swept ones would be shared by all cells although its
/// input differs per cell: refuse it.
fn check_no_gap(spec: &Spec, base: &[Stage], def: &SweepDef) -> Result<(), SpecError> {
    let swept: BTreeSet<usize> = def.stages.iter().copied().collect();
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
    for &c in &def.stages {
        for (b, stage) in base.iter().enumerate() {
            if !swept.contains(&b) && tainted[b] && feeds(stage, &base[c]) {
                return Err(spec.file.error(
                    def.span.clone(),
                    format!(
                        "sweep `{}`: stage `{}` lies between swept stages and would be shared by every cell; add it to `stages`",
                        def.name, stage.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Moves a cell's (or an experiment's) outs, and its deps on them, under `prefix`.
pub(crate) struct CellRemap {
    pub(crate) prefix: WsPath,
    pub(crate) outs: Vec<WsPath>,
}

impl Remap for CellRemap {
    fn remap(&self, p: &WsPath, is_out: bool) -> Result<WsPath, RemapError> {
        if is_out || self.outs.iter().any(|o| p.is_within(o)) {
            return Ok(WsPath::join(&self.prefix, p.as_str())?);
        }
        if let Some(o) = self.outs.iter().find(|o| o.is_within(p)) {
            return Err(RemapError::ContainsMovedOut {
                dep: p.clone(),
                out: o.clone(),
            });
        }
        Ok(p.clone())
    }
}

/// The swept stages' instances in the cell whose id part is `key`, with `overrides`: each
/// built once as it is, to learn its paths, then again with them moved under the cell's
/// directory (and checked that its cmd names none of them literally).
fn instantiate_cell(
    spec: &Spec,
    def: &SweepDef,
    overrides: &BTreeMap<String, Value>,
    key: &str,
) -> Result<Vec<Stage>, SpecError> {
    let view = View {
        params: &spec.params,
        overrides,
    };
    let inst = |d: usize| Instance {
        spec,
        def_index: d,
        view,
        id: StageId::new(&spec.stages[d].name, Some(key)),
    };
    let plain: Vec<Stage> = def
        .stages
        .iter()
        .map(|&d| inst(d).build(&NoRemap))
        .collect::<Result<_, _>>()?;
    let remap = CellRemap {
        prefix: WsPath::join(&def.dir, key).map_err(|e| {
            spec.file.error(
                def.span.clone(),
                format!("sweep `{}`: cell `{key}`'s directory: {e}", def.name),
            )
        })?,
        outs: plain
            .iter()
            .flat_map(|s| s.outs.iter().map(|o| o.path.clone()))
            .collect(),
    };
    // The cell's directory is its name under `dir`: a cell named `.git` under `dir = "."`
    // would write into git's own directory.
    if let Some(what) = crate::spec::workspace_owned(&spec.path, &remap.prefix) {
        return Err(spec.file.error(
            def.span.clone(),
            format!(
                "sweep `{}`: cell `{key}` would write its outs under `{}`: it is {what}",
                def.name, remap.prefix
            ),
        ));
    }
    let mut out = Vec::with_capacity(def.stages.len());
    for (&d, before) in def.stages.iter().zip(&plain) {
        let mut s = inst(d).build(&remap)?;
        check_literal_paths(spec, d, before, &s, &def.name)?;
        s.cell = Some(CellInfo {
            sweep: def.name.clone(),
            cell: key.to_string(),
            overrides: overrides.clone(),
        });
        out.push(s);
    }
    Ok(out)
}

/// Every override of `cell`, and of `set`, is read by a stage of the sweep: otherwise it
/// changes nothing, and is refused.
fn check_overrides_read(
    spec: &Spec,
    def: &SweepDef,
    cell: &Cell,
    insts: &[Stage],
) -> Result<(), SpecError> {
    for o in cell.overrides.iter().copied().chain(&def.set) {
        let inside = format!("{}.", o.key);
        let read = insts.iter().any(|s| {
            s.params
                .keys()
                .any(|p| p == &o.key || p.starts_with(&inside))
        });
        if !read {
            return Err(spec.file.error(
                o.span.clone(),
                format!(
                    "sweep `{}`: no stage of the sweep reads `{}`, so overriding it changes nothing",
                    def.name, o.key
                ),
            ));
        }
    }
    Ok(())
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
}
