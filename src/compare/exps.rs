//! The experiments table as data (`pipe exp show`): the workspace baseline and one row
//! per experiment; a column per param some experiment overrides (values that differ from
//! the baseline), per metric, then state and time. The best value of each metric column
//! is ranked as in the sweep table (`rank`); sorting keeps the baseline first.
//! `report::exps` lays it out.

use serde::Serialize;

use crate::graph::sweep::{Better, ReportCol};

use super::error::CompareError;
use super::rank;

#[derive(Debug, Clone, Serialize)]
pub struct ExpRow {
    pub name: String,
    /// One rendered value per key ("" where it equals the baseline).
    pub params: Vec<String>,
    pub metrics: Vec<Option<f64>>,
    pub state: String,
    /// When it finished (or was queued), UTC.
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpTable {
    /// Where the rows come from (`workspace`, or `remote NAME`).
    pub source: String,
    pub keys: Vec<String>,
    #[serde(skip)]
    pub short: Vec<String>,
    pub metrics: Vec<ReportCol>,
    pub rows: Vec<ExpRow>,
}

impl ExpTable {
    /// The row holding the best value of metric column `m`.
    pub fn best(&self, m: usize) -> Option<usize> {
        let better = self.metrics.get(m)?.better;
        rank::best(self.rows.iter().map(|r| *r.metrics.get(m)?), better)
    }

    /// Sorts the experiments (the baseline stays first) by a metric, best first; `m:min`
    /// or `m:max` says which way is better.
    pub fn sort_by(&mut self, key: &str) -> Result<(), CompareError> {
        let (name, dir) = match key.rsplit_once(':') {
            Some((n, "min")) => (n, Some(Better::Min)),
            Some((n, "max")) => (n, Some(Better::Max)),
            _ => (key, None),
        };
        let Some(m) = self.metrics.iter().position(|c| c.metric == name) else {
            return Err(CompareError::SortExps {
                name: name.to_string(),
                metrics: self.metrics.iter().map(|c| c.metric.clone()).collect(),
            });
        };
        if let Some(d) = dir {
            self.metrics[m].better = d;
        }
        let better = self.metrics[m].better;
        let mut rest = self.rows.split_off(1.min(self.rows.len()));
        rest.sort_by(|a, b| rank::order(a.metrics[m], b.metrics[m], better));
        self.rows.extend(rest);
        Ok(())
    }
}
