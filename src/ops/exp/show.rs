//! `pipe exp show` and `pipe exp diff A B`: from the records alone (and the workspace's
//! metrics files for the baseline row), so a thousand experiments show at once.

use std::collections::{BTreeMap, BTreeSet};

use crate::compare::exps::{ExpRow, ExpTable};
use crate::error::Result;
use crate::exp::record::{ExpRecord, ExpState, utc};
use crate::exp::{ExpError, ExpName};
use crate::graph::sweep::{Better, ReportCol};
use crate::ops::sweep::replicate_metrics;
use crate::report::printer::Printer;
use crate::report::table::num;
use crate::spec::naming::short_names;
use crate::spec::params;

use super::{Session, records};

#[derive(Debug, Clone, Default)]
pub struct ShowOptions {
    pub sort: Option<String>,
    /// `--remote[=NAME]`: the experiments pushed there (`Some(None)`: the default remote).
    pub remote: Option<Option<String>>,
    pub jobs: Option<usize>,
}

/// The experiments table (sorted as asked); `report::exps` renders it.
pub fn show(p: &Printer, s: &Session, o: &ShowOptions) -> Result<ExpTable> {
    let (list, unreadable, source) = match &o.remote {
        Some(r) => {
            let (list, source) = super::share::remote_records(p, s, r.as_deref(), o.jobs)?;
            (list, Vec::new(), source)
        }
        None => {
            let (list, unreadable) = records(s).list_all()?;
            (list, unreadable, "workspace".to_string())
        }
    };
    let mut t = table(s, &list, source);
    // A record that cannot be read is shown as such (never left out), so that it can be
    // named to `exp remove`.
    for u in unreadable {
        t.rows.push(ExpRow {
            name: u.name.map_or_else(|| u.file.clone(), |n| n.to_string()),
            params: vec![String::new(); t.keys.len()],
            metrics: vec![None; t.metrics.len()],
            state: "unreadable".into(),
            time: String::new(),
            error: Some(u.why),
        });
    }
    if let Some(k) = &o.sort {
        t.sort_by(k)?;
    }
    Ok(t)
}

/// The workspace's metrics: every base stage's metrics files as they are now.
fn baseline_metrics(s: &Session) -> BTreeMap<String, f64> {
    let ids: Vec<_> = s
        .graph
        .base_stages()
        .into_iter()
        .map(|i| s.graph[i].id.clone())
        .collect();
    replicate_metrics(s, &ids)
}

fn shown(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => params::render(other),
    }
}

pub fn table(s: &Session, list: &[ExpRecord], source: String) -> ExpTable {
    let base = baseline_metrics(s);
    let mut keys: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for r in list {
        for k in r.overrides.keys() {
            if seen.insert(k.clone()) {
                keys.push(k.clone());
            }
        }
    }
    let names: BTreeSet<&String> = base
        .keys()
        .chain(list.iter().flat_map(|r| r.metrics.keys()))
        .collect();
    // A direction a sweep's report gives a metric holds here too.
    let dir = |m: &str| {
        s.graph
            .sweeps
            .iter()
            .flat_map(|sw| sw.report.iter())
            .find(|c| c.metric == m)
            .map_or(Better::Max, |c| c.better)
    };
    let metrics: Vec<ReportCol> = names
        .into_iter()
        .map(|m| ReportCol {
            metric: m.clone(),
            better: dir(m),
        })
        .collect();
    let mut rows = Vec::with_capacity(list.len() + 1);
    rows.push(ExpRow {
        name: "workspace".into(),
        params: keys
            .iter()
            .map(|k| s.spec.params.get(None, k).map(shown).unwrap_or_default())
            .collect(),
        metrics: metrics
            .iter()
            .map(|c| base.get(&c.metric).copied())
            .collect(),
        state: "baseline".into(),
        time: String::new(),
        error: None,
    });
    for r in list {
        let state = r.shown_state();
        let when = r.finished_at.or(r.started_at).unwrap_or(r.queued_at);
        rows.push(ExpRow {
            name: r.name.to_string(),
            params: keys
                .iter()
                .map(|k| r.overrides.get(k).map(shown).unwrap_or_default())
                .collect(),
            metrics: metrics
                .iter()
                .map(|c| r.metrics.get(&c.metric).copied())
                .collect(),
            state: state.label().into(),
            time: utc(when / 1000),
            error: match (state, &r.error) {
                (ExpState::Failed, Some(e)) => Some(e.clone()),
                (ExpState::Failed, None) => Some("interrupted".into()),
                _ => None,
            },
        });
    }
    let short = short_names(&keys);
    ExpTable {
        source,
        short: keys.iter().map(|k| short[k].clone()).collect(),
        keys,
        metrics,
        rows,
    }
}

/// A row of `exp diff`: the param or metric, its value on both sides, the change.
pub type DiffLine = (String, String, String, String);

/// `pipe exp diff A B`: params that differ and every metric, side by side with deltas;
/// `workspace` (or `baseline`) names the workspace's own. `report::exps::diff_text`
/// lays the rows out.
pub fn diff(s: &Session, a: &str, b: &str) -> Result<Vec<DiffLine>> {
    let recs = records(s);
    let side = |n: &str| -> Result<(BTreeMap<String, toml::Value>, BTreeMap<String, f64>)> {
        if n == "workspace" || n == "baseline" {
            return Ok((BTreeMap::new(), baseline_metrics(s)));
        }
        let r = recs.find(&ExpName::parse(n).map_err(ExpError::from)?)?;
        Ok((r.params, r.metrics))
    };
    let (mut pa, ma) = side(a)?;
    let (mut pb, mb) = side(b)?;
    // The workspace's values of the keys the other side read.
    let fill = |other: &BTreeMap<String, toml::Value>| -> BTreeMap<String, toml::Value> {
        other
            .keys()
            .filter_map(|k| s.spec.params.get(None, k).map(|v| (k.clone(), v.clone())))
            .collect()
    };
    if pa.is_empty() {
        pa = fill(&pb);
    }
    if pb.is_empty() {
        pb = fill(&pa);
    }
    let mut lines = Vec::new();
    let keys: BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
    for k in keys {
        let (x, y) = (pa.get(k), pb.get(k));
        if x != y {
            let num_delta = match (x, y) {
                (Some(x), Some(y)) => as_f64(x).zip(as_f64(y)).map(|(x, y)| delta(x, y)),
                _ => None,
            };
            lines.push((
                k.clone(),
                x.map(shown).unwrap_or_else(|| "-".into()),
                y.map(shown).unwrap_or_else(|| "-".into()),
                num_delta.unwrap_or_default(),
            ));
        }
    }
    let metrics: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    for m in metrics {
        let (x, y) = (ma.get(m), mb.get(m));
        lines.push((
            m.clone(),
            x.map_or("-".into(), |v| num(*v)),
            y.map_or("-".into(), |v| num(*v)),
            match (x, y) {
                (Some(x), Some(y)) => delta(*x, *y),
                _ => String::new(),
            },
        ));
    }
    Ok(lines)
}

fn as_f64(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn delta(x: f64, y: f64) -> String {
    let d = y - x;
    format!("{}{}", if d >= 0.0 { "+" } else { "" }, num(d))
}
