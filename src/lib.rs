//! pipe: a declarative, parallel, GPU-aware experiment-pipeline runner.
//!
//! The engine as a library; the `pipe` binary is a thin CLI over [`ops`].
//!
//! - [`spec`]: the pipeline file and params, parsed and validated with located errors.
//! - [`graph`]: stage instances (base pipeline and sweep cells) and the DAG between them.
//! - [`lock`]: `pipe.lock`, its journal and merge driver.
//! - [`fresh`]: whether a stage must run, and why; [`observe`] hashes what it reads.
//! - [`runcache`]: run-cache keys and records; [`restore`] checks outs out of the cache.
//! - [`sched`]: the scheduler; [`exec`]: where a stage's process runs.
//! - [`commit`], [`backup`]: only success writes state; failures leave outs as they were;
//!   [`outlinks`]: outs hold no symbolic links.
//! - [`plan`]: status and dry runs; [`report`]: everything pipe prints.
//! - [`workspace`], [`config`], [`pathlock`]: `.pipe/`, its settings, and cross-process locks.
//! - [`compare`]: metrics and params across revisions, sweep statistics, plots, the report.
//! - [`remote`]: which remote, what a push or fetch moves, and `repro --pull`.
//! - [`dvc`]: reading a DVC project for `pipe import-dvc`.
pub mod backup;
pub mod builtin;
pub mod commit;
pub mod compare;
pub mod config;
pub mod dvc;
pub mod error;
pub mod exec;
pub mod exp;
pub mod fresh;
pub mod graph;
pub mod lock;
pub mod observe;
pub mod ops;
pub mod outlinks;
pub mod pathlock;
pub mod plan;
pub mod remote;
pub mod report;
pub mod restore;
pub mod runcache;
pub mod sched;
pub mod spec;
pub mod workspace;
pub mod wspath;
