//! `pipe dag`: the graph as text, Graphviz dot, Mermaid, or JSON (`DagJson`).

use std::fmt::Write as _;

use super::{Graph, Stage, StageKind};
use crate::graph::StageIdx;
use crate::spec::{OutRole, ParamRef, Spec};
use crate::wspath::WsPath;

/// One line per stage in dependency order, with the stages it reads from:
///
/// ```text
/// prepare
/// truncate           <- prepare
/// build_model_input  <- truncate, build_tubes
/// ```
pub fn text(g: &Graph, set: &[StageIdx]) -> String {
    let width = set
        .iter()
        .map(|&i| g[i].id.as_str().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for &i in set {
        let ups: Vec<&str> = g
            .upstream(i)
            .into_iter()
            .filter(|u| set.contains(u))
            .map(|u| g[u].id.as_str())
            .collect();
        let id = g[i].id.as_str();
        if ups.is_empty() {
            let _ = writeln!(out, "{id}");
        } else {
            // Padded by hand: a format width is capped at 65,535.
            let pad = " ".repeat(width.saturating_sub(id.len()));
            let _ = writeln!(out, "{id}{pad}  <- {}", ups.join(", "));
        }
    }
    out
}

pub fn dot(g: &Graph, set: &[StageIdx]) -> String {
    let mut out = String::from("digraph pipeline {\n  rankdir=LR;\n  node [shape=box];\n");
    for &i in set {
        let _ = writeln!(out, "  {:?};", g[i].id.as_str());
    }
    for &i in set {
        for u in g.upstream(i).into_iter().filter(|u| set.contains(u)) {
            let _ = writeln!(out, "  {:?} -> {:?};", g[u].id.as_str(), g[i].id.as_str());
        }
    }
    out.push_str("}\n");
    out
}

pub fn mermaid(g: &Graph, set: &[StageIdx]) -> String {
    let mut out = String::from("flowchart LR\n");
    for &i in set {
        let _ = writeln!(
            out,
            "  s{i}[\"{}\"]",
            g[i].id.as_str().replace('"', "#quot;")
        );
    }
    for &i in set {
        for u in g.upstream(i).into_iter().filter(|u| set.contains(u)) {
            let _ = writeln!(out, "  s{u} --> s{i}");
        }
    }
    out
}

/// The graph as data, for tools and for checking a conversion against `dvc stage list`:
/// every stage instance as pipe resolved it (tracked data as `data:PATH` with no `cmd`),
/// every path relative to the workspace root, and the edges `[upstream, downstream]`.
#[derive(Debug, serde::Serialize)]
pub struct DagJson<'a> {
    pub stages: Vec<StageJson<'a>>,
    pub edges: Vec<[&'a str; 2]>,
}

#[derive(Debug, serde::Serialize)]
pub struct StageJson<'a> {
    pub id: &'a str,
    /// The resolved command (lines joined by newlines); `uses NAME` for a built-in; none
    /// for tracked data.
    pub cmd: Option<String>,
    /// `.` for the workspace root.
    pub wdir: &'a str,
    pub deps: Vec<&'a str>,
    pub outs: Vec<OutJson<'a>>,
    pub params: Vec<ParamJson>,
    pub frozen: bool,
    pub always_changed: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct OutJson<'a> {
    pub path: &'a str,
    pub cache: bool,
    pub metric: bool,
    pub plot: bool,
    pub persist: bool,
}

/// A param the stage declares: the file it comes from (none when no params file has it)
/// and its key.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ParamJson {
    pub file: Option<String>,
    pub key: String,
}

pub fn json<'a>(g: &'a Graph, spec: &Spec, set: &[StageIdx]) -> DagJson<'a> {
    let stages = set.iter().map(|&i| stage_json(&g[i], spec)).collect();
    let edges = set
        .iter()
        .flat_map(|&i| {
            g.upstream(i)
                .into_iter()
                .filter(|u| set.contains(u))
                .map(move |u| [g[u].id.as_str(), g[i].id.as_str()])
        })
        .collect();
    DagJson { stages, edges }
}

fn stage_json<'a>(st: &'a Stage, spec: &Spec) -> StageJson<'a> {
    let cmd = match &st.kind {
        StageKind::Data => None,
        k => Some(k.describe()),
    };
    let outs = st
        .outs
        .iter()
        .map(|o| OutJson {
            path: o.path.as_str(),
            cache: o.cache,
            metric: o.role == OutRole::Metric,
            plot: o.role == OutRole::Plot,
            persist: o.persist,
        })
        .collect();
    StageJson {
        id: st.id.as_str(),
        cmd,
        wdir: match st.wdir.as_str() {
            "" => ".",
            w => w,
        },
        deps: st.deps.iter().map(WsPath::as_str).collect(),
        outs,
        params: params_json(st, spec),
        // Tracked data is never run, which the graph keeps as frozen; it is not a frozen
        // stage (no cmd says it is data).
        frozen: st.frozen && !st.is_data(),
        always_changed: st.always_changed,
    }
}

/// The params the stage declares (`params = [...]`), each with the file it resolves to.
/// Values read only through `${...}` are tracked as well (they are in the lock) but are not
/// declarations, as in `dvc stage list`.
fn params_json(st: &Stage, spec: &Spec) -> Vec<ParamJson> {
    let declared: &[ParamRef] = match &st.kind {
        StageKind::Data => &[],
        _ => spec.stages.get(st.def).map_or(&[], |d| d.params.as_slice()),
    };
    let mut out: Vec<ParamJson> = declared
        .iter()
        .map(|r| ParamJson {
            file: spec
                .params
                .source_of(r.file.as_ref(), &r.key)
                .map(|f| f.path.as_str().to_string())
                .or_else(|| r.file.as_ref().map(|f| f.as_str().to_string())),
            key: r.key.clone(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
