//! pipe: a declarative, parallel, GPU-aware experiment-pipeline runner.
//!
//! The engine as a library; the `pipe` binary is a thin CLI over [`ops`].
//!
//! - [`spec`]: the pipeline file and params, parsed and validated with located errors.
//! - [`graph`]: stage instances (base pipeline and sweep cells) and the DAG between them.
//! - [`lock`]: `pipe.lock`, its journal and merge driver.
//! - [`run`]: one stage's way through a command: observe it, [`run::decide`] fresh /
//!   frozen / restore / run (the one decision, asked by status, `--dry`, explain and the
//!   scheduler), restore from the run cache, back up, commit.
//! - [`sched`]: the scheduler (slots, path locks, retries, events); [`exec`]: where a
//!   stage's process runs; [`report`]: everything pipe prints.
//! - [`workspace`], [`config`], [`pathlock`]: `.pipe/`, its settings, and cross-process locks.
//! - [`compare`]: metrics and params across revisions, sweep statistics, plots, the report.
//! - [`remote`]: which remote, what a push or fetch moves, and `repro --pull`.
//! - [`dvc`]: reading a DVC project for `pipe import-dvc`.
pub mod builtin;
pub mod compare;
pub mod config;
pub mod dvc;
pub mod error;
pub mod events;
pub mod exec;
pub mod exp;
pub mod graph;
pub mod lock;
pub mod ops;
pub mod pathlock;
pub mod remote;
pub mod report;
pub mod run;
pub mod sched;
pub mod spec;
pub mod workspace;
pub mod wspath;
