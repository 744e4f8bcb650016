//! `pipe dag`: the graph as text, dot or mermaid.

use crate::error::Result;
use crate::graph::render;
use crate::report::printer::Printer;

use super::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DagFormat {
    Text,
    Dot,
    Mermaid,
}

pub fn dag(p: &Printer, s: &Session, targets: &[String], format: DagFormat) -> Result<()> {
    let set = if targets.is_empty() {
        s.graph.topo().to_vec()
    } else {
        s.graph.closure(&s.select(targets)?, false)
    };
    let out = match format {
        DagFormat::Text => render::text(&s.graph, &set),
        DagFormat::Dot => render::dot(&s.graph, &set),
        DagFormat::Mermaid => render::mermaid(&s.graph, &set),
    };
    p.data(&out);
    Ok(())
}
