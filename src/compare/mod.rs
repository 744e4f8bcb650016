//! Comparing experiments: metrics and params across git revisions, sweep cells' statistics,
//! plots and the HTML report.
//!
//! - [`flat`]: metrics files (JSON, TOML, YAML) as flat `a.b -> value` maps.
//! - [`git`]: files at a git revision, through `git cat-file`, never a checkout.
//! - [`collect`]: which files are metrics, and their contents (or params) at a revision.
//! - [`records`]: plot data (CSV, TSV, JSON records) as columns.
//! - [`plot`]: plot data to chart models, overlaid over revisions or cells.
//! - [`diff`]: old against new, key by key, with absolute and relative change.
//! - [`durations`]: how long each stage last ran (`.pipe/durations.json`).
//! - [`stats`]: confidence intervals and Welch's t-test for sweep cells over seeds.

pub mod collect;
pub mod diff;
pub mod durations;
pub mod flat;
pub mod git;
pub mod plot;
pub mod records;
pub mod stats;
