//! The study report as data (`pipe report`, `pipe sweep --html`): the pipeline graph, the
//! params, each stage's last run time, and per sweep its comparison table, run times and
//! charts (as chart models). `ops::report` builds it; `report::html` renders the page and
//! draws the charts.

use super::chart::{Chart, DagLayout};
use super::table::Table;

/// One stage of the pipeline in the report's stage table.
#[derive(Debug, Clone)]
pub struct StageRow {
    pub id: String,
    pub desc: String,
    pub state: String,
    pub seconds: Option<f64>,
}

/// One sweep's section: its table, each row's mean run time, and its charts.
#[derive(Debug, Clone)]
pub struct SweepSection {
    pub name: String,
    pub desc: Option<String>,
    pub table: Table,
    /// Per table row: the mean over replicates of the cell's stages' summed durations.
    pub seconds: Vec<Option<f64>>,
    /// Each chart with its caption.
    pub charts: Vec<(String, Chart)>,
}

/// Everything `pipe report` shows.
#[derive(Debug, Clone)]
pub struct ReportModel {
    pub title: String,
    pub subtitle: String,
    /// The pipeline graph (its base stages).
    pub dag: DagLayout,
    pub params: Vec<(String, String)>,
    pub stages: Vec<StageRow>,
    /// Each timed stage's last run, as bars (none when no stage has a duration).
    pub durations: Option<Chart>,
    pub sweeps: Vec<SweepSection>,
}
