//! A sweep's comparison table as data: one row per cell, a column per overridden param
//! and per reported metric; per metric and cell the mean and spread over seeds
//! ([`Stat`]: mean, sample std, n, the 95% t interval of the mean). The best mean of each
//! column ([`Table::best`], ranked by `rank`) and, with seeds, every other cell tested
//! with Welch's t-test (two-sided, α = 0.05) against the column's reference
//! ([`Table::versus`]): the sweep's `baseline` cell when it names one (an ablation's full
//! model), else the column's best. `report::table` lays the model out as text, markdown,
//! CSV or JSON.

use serde::Serialize;

use crate::graph::sweep::ReportCol;

use super::error::CompareError;
use super::{rank, stats};

/// Mean and spread of one metric over a cell's replicates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    /// Sample standard deviation (n - 1); `None` for one replicate.
    pub std: Option<f64>,
    pub n: usize,
    pub values: Vec<f64>,
    /// 95% confidence interval of the mean (Student's t, n - 1 df); `None` for n = 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci95: Option<[f64; 2]>,
}

/// A cell against the reference cell of a column (the baseline, or the best).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Versus {
    /// This cell's mean minus the reference's.
    pub diff: f64,
    /// Welch's t-test, two-sided.
    pub p: f64,
    /// `p >= 0.05`: not distinguishable from the reference.
    pub within_noise: bool,
}

impl Stat {
    pub fn of(values: Vec<f64>) -> Option<Stat> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = (n > 1).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            var.sqrt()
        });
        let ci95 = std
            .and_then(|sd| stats::mean_ci(mean, sd, n))
            .map(|(lo, hi)| [lo, hi]);
        Some(Stat {
            mean,
            std,
            n,
            values,
            ci95,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// Every replicate ran and is up to date.
    Ok,
    /// Results exist but the cell's inputs changed since.
    Stale,
    /// A replicate failed in the last run.
    Failed,
    /// Some replicates ran (their values are in the row, `n` says how many), not all.
    Partial,
    /// Never run.
    NotRun,
}

impl RowState {
    pub fn label(self) -> &'static str {
        match self {
            RowState::Ok => "ok",
            RowState::Stale => "stale",
            RowState::Failed => "failed",
            RowState::Partial => "partly run",
            RowState::NotRun => "not run",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub cell: String,
    /// One rendered value per overridden key ("" where this cell does not override it).
    pub params: Vec<String>,
    pub metrics: Vec<Option<Stat>>,
    pub state: RowState,
    /// Log of a failed replicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub sweep: String,
    pub keys: Vec<String>,
    #[serde(skip)]
    pub short: Vec<String>,
    pub report: Vec<ReportCol>,
    pub seeds: bool,
    pub rows: Vec<Row>,
    /// The cell every other is tested against (the sweep's `baseline`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
}

impl Table {
    /// The row index holding the best mean of metric column `m`.
    pub fn best(&self, m: usize) -> Option<usize> {
        let better = self.report.get(m)?.better;
        let means = self
            .rows
            .iter()
            .map(|r| r.metrics.get(m)?.as_ref().map(|s| s.mean));
        rank::best(means, better)
    }

    /// The baseline's row, when the sweep names one.
    pub fn baseline_row(&self) -> Option<usize> {
        let name = self.baseline.as_deref()?;
        self.rows.iter().position(|r| r.cell == name)
    }

    /// The row the cells of metric column `m` are tested against: the baseline when the
    /// sweep names one, else the column's best.
    pub fn reference(&self, m: usize) -> Option<usize> {
        match self.baseline {
            Some(_) => self.baseline_row(),
            None => self.best(m),
        }
    }

    /// Every row against the best row of metric column `m` (Welch's t-test); `None` for
    /// the best itself, rows without the metric, and rows with fewer than two replicates.
    pub fn versus_best(&self, m: usize) -> Vec<Option<Versus>> {
        self.versus_row(m, self.best(m))
    }

    /// Every row against the reference row of metric column `m` ([`Table::reference`]),
    /// as [`Table::versus_best`] does against the best.
    pub fn versus(&self, m: usize) -> Vec<Option<Versus>> {
        self.versus_row(m, self.reference(m))
    }

    fn versus_row(&self, m: usize, reference: Option<usize>) -> Vec<Option<Versus>> {
        let Some(b) = reference else {
            return vec![None; self.rows.len()];
        };
        let Some(Some(best)) = self.rows[b].metrics.get(m) else {
            return vec![None; self.rows.len()];
        };
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let s = r.metrics.get(m)?.as_ref()?;
                if i == b {
                    return None;
                }
                let w = stats::welch((s.mean, s.std?, s.n), (best.mean, best.std?, best.n))?;
                Some(Versus {
                    diff: s.mean - best.mean,
                    p: w.p,
                    within_noise: w.p >= stats::ALPHA,
                })
            })
            .collect()
    }

    /// Sorts rows by a metric (best first) or a param (ascending).
    pub fn sort_by(&mut self, key: &str) -> Result<(), CompareError> {
        if let Some(m) = self.report.iter().position(|c| c.metric == key) {
            let better = self.report[m].better;
            let val = |r: &Row| r.metrics[m].as_ref().map(|s| s.mean);
            self.rows
                .sort_by(|a, b| rank::order(val(a), val(b), better));
            return Ok(());
        }
        let p = self
            .keys
            .iter()
            .zip(&self.short)
            .position(|(k, s)| k == key || s == key)
            .ok_or_else(|| {
                let mut columns: Vec<String> =
                    self.report.iter().map(|c| c.metric.clone()).collect();
                columns.extend(self.short.iter().cloned());
                CompareError::SortTable {
                    key: key.to_string(),
                    columns,
                }
            })?;
        self.rows
            .sort_by(|a, b| natural(&a.params[p], &b.params[p]));
        Ok(())
    }
}

#[cfg(test)]
impl Table {
    /// For tests: one `f1` column with seeds, a cell per `(name, values)` (its param column
    /// holds its name), tested against `baseline` when given.
    pub(crate) fn seeded_f1(cells: &[(&str, &[f64])], baseline: Option<&str>) -> Table {
        Table {
            sweep: "s".into(),
            keys: vec!["model.grid".into()],
            short: vec!["grid".into()],
            report: vec![ReportCol {
                metric: "f1".into(),
                better: crate::graph::sweep::Better::Max,
            }],
            seeds: true,
            rows: cells
                .iter()
                .map(|(cell, f1)| Row {
                    cell: (*cell).into(),
                    params: vec![(*cell).into()],
                    metrics: vec![Stat::of(f1.to_vec())],
                    state: RowState::Ok,
                    log: None,
                })
                .collect(),
            baseline: baseline.map(String::from),
        }
    }
}

/// Numbers compare as numbers, the rest as text.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let s = Stat::of(vec![0.9, 0.92, 0.94]).unwrap();
        assert!((s.mean - 0.92).abs() < 1e-12);
        assert!((s.std.unwrap() - 0.02).abs() < 1e-12);
        assert_eq!(Stat::of(vec![0.5]).unwrap().std, None);
        assert_eq!(Stat::of(vec![]), None);
    }
}
