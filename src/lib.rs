//! pipe: a declarative, parallel, GPU-aware experiment-pipeline runner.
//!
//! The engine as a library; the `pipe` binary is a thin CLI over `ops`, and [`main`] is its
//! whole entry point. Every module is private to the crate (the public surface is [`main`]
//! and the few types re-exported below), so the compiler reports what nothing uses.
//!
//! - `spec`: the pipeline file and params, parsed and validated with located errors.
//! - `graph`: stage instances (base pipeline and sweep cells) and the DAG between them.
//! - `lock`: `pipe.lock`, its journal and merge driver.
//! - `run`: one stage's way through a command: observe it, `run::decide` fresh /
//!   frozen / restore / run (the one decision, asked by status, `--dry`, explain and the
//!   scheduler), restore from the run cache, back up, commit.
//! - `sched`: the scheduler (slots, path locks, retries, events); `exec`: where a
//!   stage's process runs; `report`: everything pipe prints.
//! - `session`: a pipeline loaded with its workspace, what `ops` and `compare` work on.
//! - `workspace`, `config`, `pathlock`: `.pipe/`, its settings, and cross-process locks.
//! - `compare`: metrics and params across revisions, sweep statistics, plots, the report.
//! - `sharing`: the engine's side of remotes: which remote, what a push or fetch moves,
//!   and `repro --pull` (the transport is `pipe_cache::remote`).
//! - `dvc`: reading a DVC project for `pipe import-dvc`.
//! - `import`: data from another repository (`pipe get`, `import`, `update`).
mod builtin;
mod cli;
mod compare;
mod config;
mod dvc;
mod error;
mod events;
mod exec;
mod exp;
mod graph;
mod import;
mod lock;
mod ops;
mod pathlock;
mod report;
mod run;
mod sched;
mod session;
mod sharing;
mod spec;
mod workspace;
mod wspath;

pub use error::{Error, Result};
pub use session::Session;

/// The `pipe` command: the internal reaper subcommand (the watcher that ends a killed pipe's
/// stages, started by pipe itself, so not a clap subcommand), or the CLI.
pub fn main() -> std::process::ExitCode {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == exec::reaper::SUBCOMMAND)
    {
        exec::reaper::serve(std::io::stdin().lock());
        return std::process::ExitCode::SUCCESS;
    }
    cli::main()
}
