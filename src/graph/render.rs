//! `pipe dag`: the graph as text, Graphviz dot, or Mermaid.

use std::fmt::Write as _;

use super::Graph;

/// One line per stage in dependency order, with the stages it reads from:
///
/// ```text
/// prepare
/// truncate           <- prepare
/// build_model_input  <- truncate, build_tubes
/// ```
pub fn text(g: &Graph, set: &[usize]) -> String {
    let width = set
        .iter()
        .map(|&i| g.stages[i].id.as_str().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for &i in set {
        let ups: Vec<&str> = g
            .upstream(i)
            .into_iter()
            .filter(|u| set.contains(u))
            .map(|u| g.stages[u].id.as_str())
            .collect();
        let id = g.stages[i].id.as_str();
        if ups.is_empty() {
            let _ = writeln!(out, "{id}");
        } else {
            let _ = writeln!(out, "{id:width$}  <- {}", ups.join(", "));
        }
    }
    out
}

pub fn dot(g: &Graph, set: &[usize]) -> String {
    let mut out = String::from("digraph pipeline {\n  rankdir=LR;\n  node [shape=box];\n");
    for &i in set {
        let _ = writeln!(out, "  {:?};", g.stages[i].id.as_str());
    }
    for &i in set {
        for u in g.upstream(i).into_iter().filter(|u| set.contains(u)) {
            let _ = writeln!(
                out,
                "  {:?} -> {:?};",
                g.stages[u].id.as_str(),
                g.stages[i].id.as_str()
            );
        }
    }
    out.push_str("}\n");
    out
}

pub fn mermaid(g: &Graph, set: &[usize]) -> String {
    let mut out = String::from("flowchart LR\n");
    for &i in set {
        let _ = writeln!(
            out,
            "  s{i}[\"{}\"]",
            g.stages[i].id.as_str().replace('"', "#quot;")
        );
    }
    for &i in set {
        for u in g.upstream(i).into_iter().filter(|u| set.contains(u)) {
            let _ = writeln!(out, "  s{u} --> s{i}");
        }
    }
    out
}
