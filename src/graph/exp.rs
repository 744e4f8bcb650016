//! Experiments as ad-hoc sweep cells: which stages an experiment re-instantiates, and
//! those instances.
//!
//! An experiment is a set of param overrides (`-S train.lr=0.01`), optionally limited to
//! targets. Its stages are the base stages (within the targets' closure) that read an
//! overridden key, and everything downstream of them; the stages upstream are shared
//! with the workspace, exactly as a sweep's upstream stages are shared by its cells. Each
//! instance is `train@exp~NAME`; its outs, and its deps on other experiment stages' outs,
//! move under `.pipe/exps/NAME/` (the same remap as a sweep cell's), so an experiment
//! never writes the workspace's outs.

use std::collections::{BTreeMap, BTreeSet};

use toml::Value;

use super::Graph;
use super::GraphError;
use super::instance::{Instance, NoRemap};
use super::stage::{CellInfo, Stage, StageId};
use super::sweep::{CellRemap, check_literal_paths};
use crate::error::Result;
use crate::graph::StageIdx;
use crate::spec::exp_name::ExpName;
use crate::spec::{Spec, View};
use crate::wspath::WsPath;

/// What marks an experiment's stage ids: `train@exp~lr=0.01`.
pub const ID_MARK: &str = "@exp~";

/// Whether a stage id belongs to an experiment (its lock entry lives in `.pipe/exps.lock`).
pub fn is_exp_id(id: &str) -> bool {
    id.contains(ID_MARK)
}

/// The stage id of base stage `stage` in experiment `name`.
pub fn stage_id(stage: &str, name: &ExpName) -> StageId {
    StageId::new(stage, Some(format!("exp~{name}").as_str()))
}

/// Where experiment `name` writes its outs.
pub fn out_dir(name: &ExpName) -> Result<WsPath> {
    Ok(
        WsPath::parse(&format!(".pipe/exps/{name}")).map_err(|e| GraphError::ExpDir {
            name: name.clone(),
            e,
        })?,
    )
}

/// One experiment to instantiate.
#[derive(Debug, Clone)]
pub struct ExpCell {
    pub name: ExpName,
    /// Typed overrides (checked against the params).
    pub overrides: BTreeMap<String, Value>,
    /// Base stages or outs it is limited to (empty: the whole pipeline).
    pub targets: Vec<String>,
}

/// The base stages `cell` re-instantiates, in dependency order: the readers of an
/// overridden key within the targets' closure and everything downstream of them there.
pub fn affected(graph: &Graph, cell: &ExpCell) -> Result<Vec<StageIdx>> {
    let seeds = if cell.targets.is_empty() {
        graph.base_stages()
    } else {
        graph.resolve_targets(&cell.targets)?
    };
    let scope: BTreeSet<StageIdx> = graph
        .closure(&seeds, false)
        .into_iter()
        .filter(|&i| graph[i].cell.is_none())
        .collect();
    let mut readers = Vec::new();
    for k in cell.overrides.keys() {
        let prefix = format!("{k}.");
        let r: Vec<StageIdx> = scope
            .iter()
            .copied()
            .filter(|&i| {
                graph[i]
                    .params
                    .keys()
                    .any(|p| p == k || p.starts_with(&prefix))
            })
            .collect();
        if r.is_empty() {
            let of = if cell.targets.is_empty() {
                "no stage".to_string()
            } else {
                format!("no stage of {}", cell.targets.join(", "))
            };
            return Err(GraphError::NothingReads { key: k.clone(), of }.into());
        }
        readers.extend(r);
    }
    Ok(graph.in_order(
        graph
            .closure(&readers, true)
            .into_iter()
            .filter(|i| scope.contains(i)),
    ))
}

/// The stage instances of `cell`, with its outs moved under [`out_dir`].
pub fn instantiate(spec: &Spec, graph: &Graph, cell: &ExpCell) -> Result<Vec<Stage>> {
    let defs: Vec<usize> = affected(graph, cell)?
        .into_iter()
        .map(|i| graph[i].def)
        .collect();
    let view = View {
        params: &spec.params,
        overrides: &cell.overrides,
    };
    let inst = |d: usize| Instance {
        spec,
        def_index: d,
        view,
        id: stage_id(&spec.stages[d].name, &cell.name),
    };
    let plain: Vec<Stage> = defs
        .iter()
        .map(|&d| inst(d).build(&NoRemap))
        .collect::<Result<_, _>>()?;
    let remap = CellRemap {
        prefix: out_dir(&cell.name)?,
        outs: plain
            .iter()
            .flat_map(|s| s.outs.iter().map(|o| o.path.clone()))
            .collect(),
    };
    let what = format!("experiment {}", cell.name);
    let mut out = Vec::with_capacity(defs.len());
    for (&d, before) in defs.iter().zip(&plain) {
        let mut s = inst(d).build(&remap)?;
        check_literal_paths(spec, d, before, &s, &what)?;
        s.cell = Some(CellInfo {
            sweep: "exp".into(),
            cell: cell.name.to_string(),
            overrides: cell.overrides.clone(),
        });
        out.push(s);
    }
    Ok(out)
}

/// The workspace path an experiment's path stands for (its outs moved back).
pub fn base_path(name: &ExpName, path: &WsPath) -> WsPath {
    let prefix = format!(".pipe/exps/{name}/");
    match path.as_str().strip_prefix(&prefix) {
        // The rest of a workspace path after whole leading components is one too.
        Some(rest) => WsPath::parse(rest).unwrap_or_else(|_| path.clone()),
        None => path.clone(),
    }
}
