//! Chart models: what a chart shows, as data. `compare::plot` builds them from plot files
//! (overlaid over revisions or cells), `ops::report` from a sweep's curves and the stage
//! durations, [`DagLayout::of`] lays the pipeline graph out on layers; `report::chart`
//! draws them as SVG.

use std::collections::{BTreeMap, HashMap};

use crate::graph::{Graph, StageIdx};
use crate::spec::Template;

/// A named line or point set; `band` is `(x, low, high)`, drawn shaded under the line.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
}

#[derive(Debug, Clone)]
pub enum Data {
    /// Line or scatter series over numeric x.
    Xy(Vec<Series>),
    /// One value per category and series.
    Bars {
        categories: Vec<String>,
        series: Vec<(String, Vec<f64>)>,
    },
    /// `counts[actual][predicted]`.
    Confusion {
        classes: Vec<String>,
        counts: Vec<Vec<u64>>,
    },
}

#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub template: Template,
    pub data: Data,
}

/// A stage box of the pipeline graph, placed on a layer (its depth) and a row.
#[derive(Debug, Clone)]
pub struct DagNode {
    pub label: String,
    pub layer: usize,
    pub row: usize,
}

/// The pipeline graph laid out: a box per stage, placed by depth (its layer) and row, and
/// an arrow per dependency (indices into `nodes`).
#[derive(Debug, Clone, Default)]
pub struct DagLayout {
    pub nodes: Vec<DagNode>,
    pub edges: Vec<(usize, usize)>,
}

impl DagLayout {
    /// The stages `order` names (in dependency order): each on the layer one past its
    /// deepest upstream, rows filled top down per layer.
    pub fn of(graph: &Graph, order: &[StageIdx]) -> DagLayout {
        let mut layer: HashMap<StageIdx, usize> = HashMap::new();
        let mut nodes = Vec::new();
        let mut node_of = HashMap::new();
        let mut per_layer: BTreeMap<usize, usize> = BTreeMap::new();
        for &i in order {
            let l = graph
                .upstream(i)
                .into_iter()
                .map(|u| layer.get(&u).copied().unwrap_or(0) + 1)
                .max()
                .unwrap_or(0);
            layer.insert(i, l);
            let row = per_layer.entry(l).or_insert(0);
            node_of.insert(i, nodes.len());
            nodes.push(DagNode {
                label: graph[i].id.to_string(),
                layer: l,
                row: *row,
            });
            *row += 1;
        }
        let edges = order
            .iter()
            .flat_map(|&i| {
                let node_of = &node_of;
                graph
                    .upstream(i)
                    .into_iter()
                    .filter_map(move |u| Some((*node_of.get(&u)?, *node_of.get(&i)?)))
            })
            .collect();
        DagLayout { nodes, edges }
    }
}
