//! `pipe dag`: the graph as text, dot, mermaid or JSON.

use crate::error::Result;
use crate::graph::render;
use crate::report::printer;

use super::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DagFormat {
    Text,
    Dot,
    Mermaid,
    /// Every stage instance as resolved, with its edges (`render::DagJson`).
    Json,
}

pub fn dag(s: &Session, targets: &[String], format: DagFormat) -> Result<()> {
    let set = if targets.is_empty() {
        s.graph.topo().to_vec()
    } else {
        s.graph.closure(&s.select(targets)?, false)
    };
    let out = match format {
        DagFormat::Text => render::text(&s.graph, &set),
        DagFormat::Dot => render::dot(&s.graph, &set),
        DagFormat::Mermaid => render::mermaid(&s.graph, &set),
        DagFormat::Json => {
            // Plain data (strings, bools): serialising it cannot fail.
            let mut j = serde_json::to_string_pretty(&render::json(&s.graph, &s.spec, &set))
                .unwrap_or_default();
            j.push('\n');
            j
        }
    };
    printer::get().data(&out);
    Ok(())
}
