//! How long each stage instance's last run took, for the report. Data only: the command
//! that ran the stages records them and says when that failed.
//!
//! The lock records what a stage ran with, not how long it took (a duration would make
//! every rerun a lock diff), so durations live in `.pipe/durations.json`, one entry per
//! stage instance that ran, updated after each `repro` or `sweep`:
//!
//! ```json
//! { "train": { "seconds": 41.2, "finished_unix": 1764536400 } }
//! ```
//!
//! Restored and fresh stages keep their last entry. Two pipe processes finishing at once
//! may each miss the other's entries (last writer wins); the lock is unaffected.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::events::Outcome;
use crate::sched::Summary;
use crate::session::Session;
use crate::workspace::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub seconds: f64,
    pub finished_unix: u64,
}

pub type Durations = BTreeMap<String, Timing>;

fn path(ws: &Workspace) -> PathBuf {
    ws.dot.join("durations.json")
}

/// The recorded durations (empty when none or unreadable: they are informative only).
pub fn load(ws: &Workspace) -> Durations {
    std::fs::read(path(ws))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Records the stages of `summary` that ran. A failure to write is returned for the
/// command to say (as a warning: durations are informative only).
pub fn record(s: &Session, summary: &Summary) -> Result<(), RecordError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ran: Vec<(String, f64)> = summary
        .outcomes
        .iter()
        .filter_map(|(i, o)| match o {
            Outcome::Ran(d) => Some((s.graph[*i].id.to_string(), d.as_secs_f64())),
            _ => None,
        })
        .collect();
    if ran.is_empty() {
        return Ok(());
    }
    let mut all = load(&s.ws);
    for (id, seconds) in ran {
        all.insert(
            id,
            Timing {
                seconds,
                finished_unix: now,
            },
        );
    }
    let bytes = serde_json::to_vec_pretty(&all)?;
    let rel = format!("{}/durations.json", crate::workspace::DOT);
    s.ws.dir.write_atomic(&rel, &bytes, false)?;
    Ok(())
}

/// Why the durations were not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    Encode(#[from] serde_json::Error),
    #[error("{0}")]
    Write(#[from] pipe_cache::Error),
}
