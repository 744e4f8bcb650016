//! A stage instance: one stage of the base pipeline, or one stage of one sweep cell, with
//! every template resolved and every path a `WsPath`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::spec::{OutRole, Placement, Resources};
use crate::wspath::WsPath;

/// `train` for the base pipeline, `train@grid=4,window=8` for a sweep cell's instance.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StageId(String);

impl StageId {
    pub fn new(name: &str, cell: Option<&str>) -> Self {
        match cell {
            Some(c) => StageId(format!("{name}@{c}")),
            None => StageId(name.to_string()),
        }
    }

    pub fn from_lock(s: &str) -> Self {
        StageId(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stage's name without its cell.
    pub fn name(&self) -> &str {
        self.0.split_once('@').map_or(&self.0, |(n, _)| n)
    }

    pub fn cell(&self) -> Option<&str> {
        self.0.split_once('@').map(|(_, c)| c)
    }

    /// A form safe as a file name (logs).
    pub fn file_name(&self) -> String {
        self.0
            .chars()
            .map(|c| if c == '/' || c == '\0' { '_' } else { c })
            .collect()
    }
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[derive(Debug, Clone)]
pub enum StageKind {
    /// Shell commands, run in order with `sh -c`.
    Cmd(Vec<String>),
    /// A built-in stage, run as `pipe-torch builtin`.
    Builtin(String),
    /// Tracked data (`[data]`): never run; `pipe add` records its one out.
    Data,
}

impl StageKind {
    /// What the lock records as the stage's command.
    pub fn describe(&self) -> String {
        match self {
            StageKind::Cmd(c) => c.join("\n"),
            StageKind::Builtin(b) => format!("uses {b}"),
            StageKind::Data => "pipe add".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Out {
    pub path: WsPath,
    pub role: OutRole,
    pub cache: bool,
    pub persist: bool,
    /// Where it is declared in the pipeline file.
    pub span: Range<usize>,
}

impl Out {
    /// Whether the out may share its bytes with the cached object (be stored and checked
    /// out by the configured link kinds): only a cached out that is not `persist`. A
    /// persisted out is written in place on the next run, which through a hard link or
    /// symlink would rewrite the object, so it is always stored and restored as a copy.
    pub fn linkable(&self) -> bool {
        self.cache && !self.persist
    }
}

/// The sweep cell a stage instance belongs to.
#[derive(Debug, Clone)]
pub struct CellInfo {
    pub sweep: String,
    pub cell: String,
    pub overrides: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub id: StageId,
    /// Index of its definition in `Spec::stages` (in `Spec::data` for tracked data).
    pub def: usize,
    pub cell: Option<CellInfo>,
    pub desc: Option<String>,
    pub kind: StageKind,
    pub wdir: WsPath,
    pub deps: Vec<WsPath>,
    pub dep_spans: Vec<Range<usize>>,
    pub outs: Vec<Out>,
    /// Every param value the stage reads, flattened to leaf keys (`train.lr`).
    pub params: BTreeMap<String, toml::Value>,
    /// The same values nested as in the params file, for built-ins and `PIPE_PARAMS`.
    pub param_tables: toml::Table,
    pub resources: Resources,
    /// Cluster placement (wall time, partition, `local`).
    pub placement: Placement,
    pub frozen: bool,
    pub always_changed: bool,
    pub retries: u32,
    pub env: Vec<String>,
    /// Span of the stage's name in the pipeline file.
    pub span: Range<usize>,
}

impl Stage {
    pub fn outs_of(&self, role: OutRole) -> impl Iterator<Item = &Out> {
        self.outs.iter().filter(move |o| o.role == role)
    }

    /// Tracked data rather than a stage.
    pub fn is_data(&self) -> bool {
        matches!(self.kind, StageKind::Data)
    }

    /// Whether a run can be replayed from the run cache: not `always_changed`, and no out
    /// persists (a persisted out's content depends on its previous content). Outs with
    /// `cache = false` are stored too (as copies), for the run cache alone.
    pub fn restorable(&self) -> bool {
        !self.is_data() && !self.always_changed && self.outs.iter().all(|o| !o.persist)
    }
}
