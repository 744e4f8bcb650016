//! Comparing experiments: metrics and params across git revisions, sweep cells' statistics,
//! plots and the HTML report.
//!
//! - [`flat`]: metrics files (JSON, TOML, YAML) as flat `a.b -> value` maps.
//! - [`git`]: files at a git revision, through `git cat-file`, never a checkout.
//! - [`collect`]: which files are metrics, and their contents (or params) at a revision.
//! - [`records`]: plot data (CSV, TSV, JSON records) as columns.
//! - [`plot`]: plot data to chart models ([`chart`]), overlaid over revisions or cells;
//!   the pipeline graph's layout.
//! - [`table`], [`exps`]: the sweep table and the experiments table as data, columns
//!   ranked by [`rank`].
//! - [`diff`]: old against new, key by key, with absolute and relative change.
//! - [`durations`]: how long each stage last ran (`.pipe/durations.json`).
//! - [`stats`]: confidence intervals and Welch's t-test for sweep cells over seeds.
//! - [`study`]: the study report's model (graph, params, stage times, sweeps).
//! - [`error`]: what can go wrong comparing.
//!
//! Models only: nothing here prints or draws; `report` renders these models (text
//! tables, SVG, HTML) and `ops` runs the commands. compare imports the engine below it
//! (graph, lock, spec, the session) and never `ops` or `report`.

pub mod chart;
pub mod collect;
pub mod diff;
pub mod durations;
pub mod error;
pub mod exps;
pub mod flat;
pub mod git;
pub mod plot;
pub mod pyjson;
pub mod rank;
pub mod records;
pub mod stats;
pub mod study;
pub mod table;
