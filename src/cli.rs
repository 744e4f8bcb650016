//! Command-line parsing and dispatch. `main` makes the one `Printer` (colour, -v, -q) and
//! passes it down; `run` enters `-C DIR` and matches the command, one arm each: a call to an
//! `ops` function (which returns a typed report or error), then `report` rendering what came
//! back. Commands with a few steps of their own (repro, sweep, status, the subcommand groups)
//! have a function here each. `front` writes the completion scripts and man pages from the
//! same clap definition. The exit code follows from the error's type (`Error::exit_code`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

mod front;

use crate::error::{Error, Result};
use crate::exp::ExpName;
use crate::ops::error::OpsError;
use crate::ops::{self, Session, dag::DagFormat, repro::ReproOptions, sweep::SweepOptions};
use crate::report::compare::{self, Style};
use crate::report::printer::{self, ColorChoice, Printer};
use crate::report::table::Format;
use crate::sched::resources::MOST_GPUS;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "pipe",
    version,
    about = "A declarative experiment-pipeline runner: a DAG of stages, content hashing, a cache, a lock file",
    propagate_version = true,
    after_help = "Examples:\n  pipe init\n  pipe repro\n  pipe status\n  pipe COMMAND --help"
)]
struct Cli {
    /// The pipeline file [default: pipe.toml]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Run as if started in DIR
    #[arg(short = 'C', value_name = "DIR")]
    dir: Option<PathBuf>,
    /// More output (-v: every reason and fresh stage)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors and warnings
    #[arg(short, long, global = true)]
    quiet: bool,
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, global = true)]
    color: ColorArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Set up .pipe/ (and, in a git repository, the lock merge driver and ignored outs)
    #[command(after_help = "Example:\n  pipe init")]
    Init,
    /// Track files or directories no stage makes (raw data): cache them, record them in
    /// [data] and the lock, so push, pull, checkout, status and gc treat them as outs
    #[command(after_help = "Example:\n  pipe add data/raw models/encoder.pt")]
    Add {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Convert a DVC project (dvc.yaml, dvc.lock, .dvc files, remotes) into pipe.toml and
    /// pipe.lock, keeping what DVC already computed
    #[command(
        name = "import-dvc",
        after_help = "Examples:\n  pipe import-dvc --dry\n  pipe import-dvc --force"
    )]
    ImportDvc {
        /// The DVC project [default: .]
        dir: Option<PathBuf>,
        /// Print pipe.toml and what is not carried over; write nothing
        #[arg(long)]
        dry: bool,
        /// Replace an existing pipe.toml
        #[arg(long)]
        force: bool,
    },
    /// Download a path another repository tracks (a pipe workspace or a DVC project),
    /// verified, without tracking it
    #[command(
        after_help = "Examples:\n  pipe get https://github.com/org/registry datasets/full --rev v2.2.0\n  pipe get ../registry datasets/full/cam07 -o cam07"
    )]
    Get(SourceArgs),
    /// Import a path another repository tracks, pinned to a rev: fetched, verified,
    /// checked out and tracked as data with its source
    #[command(
        after_help = "Example:\n  pipe import git@github.com:org/registry.git datasets/full -o data/01_raw/datasets_full --rev v2.2.0"
    )]
    Import(SourceArgs),
    /// Move imports on: a branch to its newest commit, or each to `--rev`
    #[command(
        after_help = "Examples:\n  pipe update --dry\n  pipe update data/01_raw/datasets_full --rev v2.3.0"
    )]
    Update {
        /// Imported paths [default: every import]
        paths: Vec<PathBuf>,
        /// A new tag, branch or commit (recorded in the pipeline file)
        #[arg(long)]
        rev: Option<String>,
        /// Only say what would change
        #[arg(long)]
        dry: bool,
        /// Transfers in flight
        #[arg(short, long)]
        jobs: Option<usize>,
    },
    /// Run stale stages (and only those) in dependency order
    #[command(
        after_help = "Examples:\n  pipe repro\n  pipe repro train --dry\n  pipe repro -j 4 --keep-going\n  pipe repro --pull"
    )]
    Repro(ReproArgs),
    /// List stale stages and why (exit 0)
    #[command(
        after_help = "Examples:\n  pipe status\n  pipe status train --json\n  pipe status --remote=team"
    )]
    Status {
        /// Stages (with what they depend on); default: all, sweep cells included
        targets: Vec<String>,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
        /// Where each out's content is: local cache, remote, both, neither [default remote; --remote=NAME]
        #[arg(long, value_name = "NAME", num_args = 0..=1, require_equals = true, default_missing_value = "")]
        remote: Option<String>,
    },
    /// Print the stage graph
    #[command(
        after_help = "Examples:\n  pipe dag\n  pipe dag --mermaid > dag.mmd\n  pipe dag --json > dag.json"
    )]
    Dag {
        targets: Vec<String>,
        /// Graphviz dot
        #[arg(long, conflicts_with = "mermaid")]
        dot: bool,
        /// Mermaid flowchart
        #[arg(long, conflicts_with = "json")]
        mermaid: bool,
        /// Every stage instance as resolved (id, cmd, wdir, deps, outs, params, flags) and
        /// the edges, as JSON
        #[arg(long, conflicts_with = "dot")]
        json: bool,
    },
    /// Show why a stage would run and its run-cache key, part by part
    #[command(after_help = "Example:\n  pipe explain train")]
    Explain { stage: String },
    /// Restore outs from the cache to match the lock
    #[command(after_help = "Examples:\n  pipe checkout\n  pipe checkout models/model.pt")]
    Checkout { targets: Vec<String> },
    /// Record stages' outs as they are now as their last run, without running them (after a
    /// command run by hand); no run-cache record is written
    #[command(after_help = "Examples:\n  pipe commit train\n  pipe commit --all")]
    Commit {
        /// Stages (or sweep cells) to commit
        stages: Vec<String>,
        /// Every stage whose lock entry differs from the workspace
        #[arg(long, conflicts_with = "stages")]
        all: bool,
    },
    /// Delete cache objects no lock or run-cache record refers to
    #[command(after_help = "Examples:\n  pipe gc --dry\n  pipe gc -w")]
    Gc {
        /// Only report what would be removed
        #[arg(long)]
        dry: bool,
        /// Keep only what the lock files refer to (drop run-cache records of other runs)
        #[arg(short, long)]
        workspace: bool,
    },
    /// The local cache: `pipe cache verify [--remote[=NAME]]`
    #[command(
        subcommand,
        after_help = "Examples:\n  pipe cache verify\n  pipe cache verify --remote=team"
    )]
    Cache(CacheCommand),
    /// Configure remotes: add, list, remove, default
    #[command(
        subcommand,
        after_help = "Examples:\n  pipe remote add team s3://ml-cache/project --default\n  pipe remote list"
    )]
    Remote(RemoteCommand),
    /// Upload the outs' objects and run-cache records to a remote
    #[command(after_help = "Examples:\n  pipe push\n  pipe push -r team -j 64")]
    Push(TransferArgs),
    /// Download the outs' objects from a remote into the local cache
    #[command(after_help = "Examples:\n  pipe fetch\n  pipe fetch train")]
    Fetch(TransferArgs),
    /// Fetch, then check the outs out
    #[command(after_help = "Examples:\n  pipe pull\n  pipe pull models/model.pt")]
    Pull(TransferArgs),
    /// Run a sweep's cells side by side and tabulate their metrics
    #[command(
        after_help = "Examples:\n  pipe sweep\n  pipe sweep resolution -j 4\n  pipe sweep resolution --show --sort f1 --md"
    )]
    Sweep(SweepArgs),
    /// Experiments: run with overrides, show, diff, apply, share
    #[command(
        subcommand,
        after_help = "Examples:\n  pipe exp run -S train.lr=0.01 -n lr-small\n  pipe exp show --sort f1"
    )]
    Exp(ExpCommand),
    /// List the built-in stages
    #[command(after_help = "Example:\n  pipe stages")]
    Stages,
    /// Merge lock files by stage (a git merge driver: pipe merge-lock %O %A %B)
    #[command(
        name = "merge-lock",
        hide = true,
        after_help = "Example:\n  git config merge.pipe-lock.driver \"pipe merge-lock %O %A %B\""
    )]
    MergeLock {
        base: PathBuf,
        ours: PathBuf,
        theirs: PathBuf,
    },
    // --- compare: metrics, params, plots, report ---
    /// The metrics files: show them, or diff them across git revisions
    #[command(
        subcommand,
        after_help = "Examples:\n  pipe metrics show --md\n  pipe metrics diff HEAD~1"
    )]
    Metrics(MetricsCommand),
    /// The params stages read: diff them across git revisions
    #[command(subcommand, after_help = "Example:\n  pipe params diff main")]
    Params(ParamsCommand),
    /// The plots outs drawn as SVG charts: show them, or overlay them across git revisions
    #[command(
        subcommand,
        after_help = "Examples:\n  pipe plots show resolution -o plots/\n  pipe plots diff HEAD~2 HEAD"
    )]
    Plots(PlotsCommand),
    /// One self-contained HTML page of the study: graph, params, sweep tables, curves
    #[command(after_help = "Examples:\n  pipe report\n  pipe report ablation -o ablation.html")]
    Report {
        /// Sweeps to include [default: all]
        sweeps: Vec<String>,
        /// The page to write
        #[arg(short, long, value_name = "FILE", default_value = "report.html")]
        output: PathBuf,
    },
    // --- end compare ---
    /// Score a sequence directory with a packaged model
    #[command(
        after_help = "Example:\n  pipe predict models/smoke-classifier.zip data/val/wildfire/SEQ"
    )]
    Predict {
        package: PathBuf,
        seq_dir: PathBuf,
        /// auto, cpu or cuda
        #[arg(long, default_value = "auto")]
        device: String,
    },
    // --- the front door: completions and man pages ---
    /// Print the completion script for a shell
    #[command(
        after_help = "Examples:\n  pipe completions bash > ~/.local/share/bash-completion/completions/pipe\n  pipe completions zsh > ~/.zfunc/_pipe\n  pipe completions fish > ~/.config/fish/completions/pipe.fish\n  pipe completions powershell >> $PROFILE"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages: pipe.1 and one per command (pipe-repro.1, pipe-exp-run.1, ...)
    #[command(after_help = "Example:\n  pipe man ~/.local/share/man/man1 && man pipe-repro")]
    Man {
        /// The directory to write them to (made if missing)
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Rehash every object; report corrupt and missing ones (exit 3 if any)
    #[command(
        after_help = "Examples:\n  pipe cache verify\n  pipe cache verify --remote=team -j 16"
    )]
    Verify {
        /// Verify a remote instead of the local cache [default remote; --remote=NAME]
        #[arg(long, value_name = "NAME", num_args = 0..=1, require_equals = true, default_missing_value = "")]
        remote: Option<String>,
        /// Objects hashed at once on a remote
        #[arg(short, long)]
        jobs: Option<usize>,
    },
}

// --- compare: metrics, params, plots, report ---
/// --json / --md / --csv, shared by the compare commands.
#[derive(Args)]
struct StyleArgs {
    /// JSON
    #[arg(long, group = "style")]
    json: bool,
    /// Markdown table
    #[arg(long, group = "style")]
    md: bool,
    /// CSV
    #[arg(long, group = "style")]
    csv: bool,
}

impl StyleArgs {
    fn style(&self) -> Style {
        if self.json {
            Style::Json
        } else if self.md {
            Style::Markdown
        } else if self.csv {
            Style::Csv
        } else {
            Style::Text
        }
    }
}

#[derive(Subcommand)]
enum MetricsCommand {
    /// Every metric of the metrics files (nested keys as `a.b`), per stage and sweep cell
    #[command(after_help = "Examples:\n  pipe metrics show\n  pipe metrics show evaluate --json")]
    Show {
        /// Stages, sweeps or metrics files [default: all]
        targets: Vec<String>,
        #[command(flatten)]
        style: StyleArgs,
    },
    /// Metrics at revision A against B: old, new, change and relative change
    #[command(
        after_help = "Examples:\n  pipe metrics diff\n  pipe metrics diff HEAD~1 -t evaluate --all"
    )]
    Diff {
        /// Git revisions or `workspace` [default: HEAD workspace]
        #[arg(num_args = 0..=2, value_names = ["A", "B"])]
        revs: Vec<String>,
        /// Only these stages, sweeps or metrics files
        #[arg(short, long, value_name = "TARGET", num_args = 1..)]
        targets: Vec<String>,
        /// Include unchanged metrics
        #[arg(short, long)]
        all: bool,
        #[command(flatten)]
        style: StyleArgs,
    },
}

#[derive(Subcommand)]
enum ParamsCommand {
    /// Params at revision A (its pipe.lock) against B (the workspace: the params files)
    #[command(after_help = "Examples:\n  pipe params diff\n  pipe params diff main --md")]
    Diff {
        /// Git revisions or `workspace` [default: HEAD workspace]
        #[arg(num_args = 0..=2, value_names = ["A", "B"])]
        revs: Vec<String>,
        /// Include unchanged params
        #[arg(short, long)]
        all: bool,
        #[command(flatten)]
        style: StyleArgs,
    },
}
#[derive(Subcommand)]
enum PlotsCommand {
    /// Draw the plots (a sweep or stage as target: its cells overlaid)
    #[command(after_help = "Examples:\n  pipe plots show\n  pipe plots show resolution -o plots/")]
    Show {
        /// Stages, sweeps or plots files [default: the base pipeline's plots]
        targets: Vec<String>,
        /// Where the SVGs and index.html go
        #[arg(short, long, value_name = "DIR", default_value = "pipe_plots")]
        output: PathBuf,
    },
    /// Overlay each plot at several revisions [default: HEAD workspace; one REV: it and the workspace]
    #[command(after_help = "Examples:\n  pipe plots diff\n  pipe plots diff HEAD~2 HEAD -t train")]
    Diff {
        /// Git revisions or `workspace`
        revs: Vec<String>,
        /// Only these stages, sweeps or plots files
        #[arg(short, long, value_name = "TARGET", num_args = 1..)]
        targets: Vec<String>,
        /// Where the SVGs and index.html go
        #[arg(short, long, value_name = "DIR", default_value = "pipe_plots")]
        output: PathBuf,
    },
}
// --- end compare ---

#[derive(Subcommand)]
enum RemoteCommand {
    /// Add a remote: a directory (shared filesystem) or s3://, gs://, az:// BUCKET/PREFIX
    #[command(
        after_help = "Examples:\n  pipe remote add team s3://ml-cache/project --default -o endpoint=http://127.0.0.1:9000\n  pipe remote add shared /mnt/pipe-cache"
    )]
    Add {
        name: String,
        url: String,
        /// Make it the default remote
        #[arg(short, long)]
        default: bool,
        /// Write to .pipe/config.local.toml (git-ignored) instead of .pipe/config.toml
        #[arg(long)]
        local: bool,
        /// Replace a remote of the same name
        #[arg(short, long)]
        force: bool,
        /// A setting: endpoint, region, profile, allow_http, jobs, shared (credentials: --local only)
        #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
    /// List the remotes
    #[command(after_help = "Example:\n  pipe remote list")]
    List,
    /// Remove a remote (from both config files)
    #[command(after_help = "Example:\n  pipe remote remove team")]
    Remove { name: String },
    /// Set the default remote
    #[command(after_help = "Example:\n  pipe remote default team --local")]
    Default {
        name: String,
        /// Write to .pipe/config.local.toml
        #[arg(long)]
        local: bool,
    },
}

#[derive(Args)]
struct TransferArgs {
    /// Stages or outs (default: every stage in the lock, sweep cells included)
    targets: Vec<String>,
    /// The remote [default: core.remote]
    #[arg(short, long, value_name = "NAME")]
    remote: Option<String>,
    /// Transfers in flight [default: 8 for a directory, 32 for an object store]
    #[arg(short, long)]
    jobs: Option<usize>,
}

/// `pipe get` and `pipe import`: what to bring, from where.
#[derive(Args)]
struct SourceArgs {
    /// The git repository: a path, file://, https://, ssh:// or git@host:...
    source: String,
    /// A tracked path there, or a path inside a tracked directory
    path: String,
    /// Where to put it [default: PATH's last component]
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// A tag, branch or commit [default: the default branch]
    #[arg(long)]
    rev: Option<String>,
    /// A remote of this workspace to fetch from instead of the source's default
    #[arg(short, long, value_name = "NAME")]
    remote: Option<String>,
    /// Transfers in flight
    #[arg(short, long)]
    jobs: Option<usize>,
}

impl SourceArgs {
    fn options(self) -> ops::import::SourceOptions {
        ops::import::SourceOptions {
            source: self.source,
            path: self.path,
            out: self.out,
            rev: self.rev,
            remote: self.remote,
            jobs: self.jobs,
        }
    }
}

#[derive(Args)]
struct ReproArgs {
    /// Stages or outs to reproduce (with what they depend on); default: the whole pipeline
    targets: Vec<String>,
    /// Only the targets, not what they depend on
    #[arg(short, long)]
    single: bool,
    /// The targets and every stage that depends on them
    #[arg(long, conflicts_with = "single")]
    downstream: bool,
    /// Print what would run and why; run nothing
    #[arg(long)]
    dry: bool,
    /// Keep running independent stages after one fails
    #[arg(short, long)]
    keep_going: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// How stages run: shared by `repro` and `sweep`.
#[derive(Args)]
struct RunArgs {
    /// Run even stages that are up to date
    #[arg(short, long)]
    force: bool,
    /// Stages run at once [default: cores]
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Never restore from the run cache
    #[arg(long)]
    no_run_cache: bool,
    /// CPUs to schedule against [default: cores]
    #[arg(long)]
    cpus: Option<u32>,
    /// GPUs to schedule against, at most 1024 [default: nvidia-smi -L]
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i64::from(MOST_GPUS)))]
    gpus: Option<u32>,
    /// Restore stages whose run-cache record is on the remote (a teammate ran them)
    /// instead of running them
    #[arg(long)]
    pull: bool,
    /// The remote for --pull [default: core.remote]
    #[arg(long, value_name = "NAME", requires = "pull")]
    remote: Option<String>,
    /// Where stages run [default: executor.kind in .pipe/config.toml, else local]
    #[arg(long, value_enum, value_name = "KIND")]
    executor: Option<ExecutorArg>,
    /// Slurm: submit the jobs and return; a later `pipe repro` collects them
    #[arg(long)]
    detach: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExecutorArg {
    Local,
    Slurm,
}

impl RunArgs {
    fn options(&self) -> ReproOptions {
        ReproOptions {
            force: self.force,
            jobs: self.jobs,
            no_run_cache: self.no_run_cache,
            cpus: self.cpus,
            gpus: self.gpus,
            executor: self.executor.map(|e| match e {
                ExecutorArg::Local => crate::config::ExecutorKind::Local,
                ExecutorArg::Slurm => crate::config::ExecutorKind::Slurm,
            }),
            detach: self.detach,
            ..ReproOptions::default()
        }
    }

    /// The remote behind the run cache, with --pull.
    fn pull_remote(&self, s: &Session) -> Result<Option<Arc<crate::sharing::RunRemote>>> {
        if !self.pull {
            return Ok(None);
        }
        let remote = crate::sharing::open(&s.ws, self.remote.as_deref(), None)?;
        Ok(Some(crate::sharing::RunRemote::new(remote)))
    }
}

#[derive(Args)]
struct SweepArgs {
    /// The sweep (`[sweep.NAME]`); without one, list the sweeps
    name: Option<String>,
    /// List the cells and which would run, and why; run nothing
    #[arg(long)]
    dry: bool,
    /// Print the table from the results at hand; run nothing
    #[arg(long)]
    show: bool,
    /// Sort rows by a metric (best first) or a param
    #[arg(long, value_name = "COLUMN")]
    sort: Option<String>,
    /// Markdown table
    #[arg(long, group = "format")]
    md: bool,
    /// CSV (mean, std, n per metric)
    #[arg(long, group = "format")]
    csv: bool,
    /// JSON
    #[arg(long, group = "format")]
    json: bool,
    /// Params and metrics of two cells side by side
    #[arg(long, num_args = 2, value_names = ["CELL_A", "CELL_B"])]
    diff: Option<Vec<String>>,
    /// Stop at the first failed cell
    #[arg(long)]
    fail_fast: bool,
    /// Also write the sweep's HTML report (as `pipe report NAME -o FILE`)
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
}

// `pipe exp` (experiments): arguments.

#[derive(Subcommand)]
enum ExpCommand {
    /// Run the pipeline with param overrides, leaving the params files and outs as they are
    #[command(
        after_help = "Examples:\n  pipe exp run -S train.lr=0.01 -n lr-small\n  pipe exp run --queue -S train.lr=0.02\n  pipe exp run --run-all -j 4"
    )]
    Run(ExpRunArgs),
    /// The workspace baseline and every experiment: params, metrics, state, time
    #[command(
        after_help = "Examples:\n  pipe exp show\n  pipe exp show --sort f1 --md\n  pipe exp show --remote=team"
    )]
    Show {
        /// Sort by a metric, best first (`METRIC:min` when lower is better)
        #[arg(long, value_name = "METRIC")]
        sort: Option<String>,
        /// Markdown table
        #[arg(long, group = "format")]
        md: bool,
        /// CSV
        #[arg(long, group = "format")]
        csv: bool,
        /// JSON
        #[arg(long, group = "format")]
        json: bool,
        /// The experiments pushed to a remote [default remote; --remote=NAME]
        #[arg(long, value_name = "NAME", num_args = 0..=1, require_equals = true, default_missing_value = "")]
        remote: Option<String>,
    },
    /// Params and metrics of two experiments (or `workspace`) side by side, with deltas
    #[command(after_help = "Example:\n  pipe exp diff workspace lr-small")]
    Diff { a: String, b: String },
    /// Write an experiment's overrides into the params files and check its outs out
    #[command(after_help = "Example:\n  pipe exp apply lr-small")]
    Apply {
        name: ExpName,
        /// Overwrite unsaved params edits and modified outs
        #[arg(long)]
        force: bool,
    },
    /// Remove experiments (records and outs; `pipe gc` then frees their objects)
    #[command(after_help = "Example:\n  pipe exp remove lr-small")]
    Remove { names: Vec<ExpName> },
    /// Remove failed experiments (every one with --all), then collect unused cache objects
    #[command(after_help = "Examples:\n  pipe exp gc --dry\n  pipe exp gc --all")]
    Gc {
        #[arg(long)]
        all: bool,
        /// Only report what would be removed
        #[arg(long)]
        dry: bool,
    },
    /// Send experiments (records and outs' objects) to a remote
    #[command(after_help = "Example:\n  pipe exp push lr-small -r team")]
    Push(ExpTransferArgs),
    /// Fetch experiments (records and outs' objects) from a remote
    #[command(after_help = "Example:\n  pipe exp pull lr-small -r team")]
    Pull(ExpTransferArgs),
}

#[derive(Args)]
struct ExpRunArgs {
    /// Stages or outs to run (with what they depend on); default: the whole pipeline
    targets: Vec<String>,
    /// A param override, KEY=VALUE (repeatable)
    #[arg(short = 'S', long = "set-param", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The experiment's name [default: the overrides, e.g. lr=0.01]
    #[arg(short, long)]
    name: Option<ExpName>,
    /// Record the experiment; run it later with --run-all
    #[arg(long, conflicts_with = "run_all")]
    queue: bool,
    /// Run every queued experiment, side by side
    #[arg(long)]
    run_all: bool,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
struct ExpTransferArgs {
    names: Vec<ExpName>,
    /// The remote [default: core.remote]
    #[arg(short, long, value_name = "NAME")]
    remote: Option<String>,
    /// Transfers in flight
    #[arg(short, long)]
    jobs: Option<usize>,
}

fn run_exp(p: &Printer, file: &Path, c: ExpCommand) -> Result<()> {
    use ops::exp;
    let s = ops::open(p, file)?;
    match c {
        ExpCommand::Run(a) => {
            let o = exp::run::ExpRunOptions {
                set: a.set,
                name: a.name,
                queue: a.queue,
                run_all: a.run_all,
                run: ReproOptions {
                    targets: a.targets,
                    ..a.run.options()
                },
            };
            exp::run::run(p, &s, &o, a.run.pull_remote(&s)?)
        }
        ExpCommand::Show {
            sort,
            md,
            csv,
            json,
            remote,
        } => {
            let format = table_format(md, csv, json);
            let o = exp::show::ShowOptions {
                sort,
                remote: remote.map(|r| named(&r).map(String::from)),
                jobs: None,
            };
            let t = exp::show::show(p, &s, &o)?;
            p.data(&crate::report::exps::render(
                &t,
                format.unwrap_or(Format::Text),
            ));
            Ok(())
        }
        ExpCommand::Diff { a, b } => {
            let lines = exp::show::diff(&s, &a, &b)?;
            p.data(&crate::report::exps::diff_text(&a, &b, &lines));
            Ok(())
        }
        ExpCommand::Apply { name, force } => exp::apply::apply(p, &s, &name, force),
        ExpCommand::Remove { names } => exp::remove(p, &s, &names),
        ExpCommand::Gc { all, dry } => exp::gc(p, &s, all, dry),
        ExpCommand::Push(a) => exp::share::push(p, &s, &a.names, a.remote.as_deref(), a.jobs),
        ExpCommand::Pull(a) => exp::share::pull(p, &s, &a.names, a.remote.as_deref(), a.jobs),
    }
}

pub fn main() -> ExitCode {
    open_standard_streams();
    let cli = Cli::parse();
    let p = Printer::new(
        match cli.color {
            ColorArg::Auto => ColorChoice::Auto,
            ColorArg::Always => ColorChoice::Always,
            ColorArg::Never => ColorChoice::Never,
        },
        cli.verbose,
        cli.quiet,
    );
    if let Ok(filter) = std::env::var("PIPE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            // A failed write would be reported with `eprintln!`, which panics on the very
            // stream that failed (see `report::printer`).
            .log_internal_errors(false)
            .with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none(),
            )
            .try_init();
    }
    let code = match run(&p, cli) {
        Ok(()) => 0,
        Err(e) => {
            report_error(&p, &e);
            e.exit_code()
        }
    };
    ExitCode::from(exit_code(&p, code, &p.lost_output()))
}

/// Gives a closed stdin, stdout or stderr `/dev/null`, as coreutils do: otherwise the next
/// file pipe opens takes its number, and what is printed (or `-o /dev/stdout`) lands in it.
fn open_standard_streams() {
    use std::os::fd::{AsRawFd, IntoRawFd};
    // Each open takes the lowest free number: kept while it is 0, 1 or 2.
    while let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        if f.as_raw_fd() > 2 {
            break;
        }
        let _kept = f.into_raw_fd();
    }
}

/// The exit status, once output was cut short (`lost`: which stream and why, see
/// `report::printer`): a command that otherwise succeeded exits 3 (the environment failed
/// pipe), saying so on the stream that still works; a command's own failure keeps its code
/// (a stage's exit code says more than the closed pipe that followed it).
fn exit_code(p: &Printer, code: u8, lost: &[String]) -> u8 {
    if lost.is_empty() {
        return code;
    }
    let msg = format!(
        "output was cut short ({}); the command itself went on to its end",
        lost.join("; ")
    );
    if p.writable(printer::Stream::Stderr) {
        p.error(&msg);
    } else {
        tracing::debug!("{msg}");
    }
    if code == 0 { 3 } else { code }
}

fn report_error(p: &Printer, e: &Error) {
    match e {
        Error::Spec(d) => {
            let theme = if p.color() {
                miette::GraphicalTheme::unicode()
            } else {
                miette::GraphicalTheme::unicode_nocolor()
            };
            let mut out = String::new();
            let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
            if handler.render_report(&mut out, d).is_ok() {
                let mut text = format!("error: {}\n", d.message());
                if let Some(loc) = d.location() {
                    text.push_str(&format!("  --> {loc}\n"));
                }
                // miette repeats the message on its first line; the line above has it.
                text.push_str(out.split_once('\n').map_or("", |(_, rest)| rest));
                p.raw_err(&text);
            } else {
                p.raw_err(&format!("error: {d}\n"));
            }
        }
        Error::Interrupted => p.raw_err("error: interrupted\n"),
        other => p.error(&other.to_string()),
    }
}

fn pipeline_path(cli: &Cli) -> PathBuf {
    let f = cli
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from("pipe.toml"));
    std::path::absolute(&f).unwrap_or(f)
}

/// Enters `-C DIR`, then runs the command: one arm per command, each a call.
fn run(p: &Printer, cli: Cli) -> Result<()> {
    if let Some(dir) = &cli.dir {
        std::env::set_current_dir(dir).map_err(|err| OpsError::EnterDir {
            dir: dir.clone(),
            err,
        })?;
    }
    let file = pipeline_path(&cli);
    match cli.command {
        Command::Init => ops::init::init(p, &file),
        Command::Add { paths } => ops::add::add(p, &file, &paths).map(|_| ()),
        Command::ImportDvc { dir, dry, force } => import_dvc(p, dir.as_deref(), dry, force),
        Command::Get(a) => ops::import::get(p, &file, &a.options()).map(|_| ()),
        Command::Import(a) => ops::import::import(p, &file, &a.options()).map(|_| ()),
        Command::Update {
            paths,
            rev,
            dry,
            jobs,
        } => ops::import::update(
            p,
            &file,
            &ops::import::UpdateOptions {
                paths,
                rev,
                dry,
                jobs,
            },
        )
        .map(|_| ()),
        Command::Repro(a) => repro(p, &file, a),
        Command::Status {
            targets,
            json,
            remote,
        } => status(p, &file, &targets, json, remote.as_deref()),
        Command::Dag {
            targets,
            dot,
            mermaid,
            json,
        } => dag(p, &file, &targets, dot, mermaid, json),
        Command::Explain { stage } => {
            let s = ops::open(p, &file)?;
            p.data(&crate::report::explain::text(&ops::explain::explain(
                &s, &stage,
            )?));
            Ok(())
        }
        Command::Checkout { targets } => {
            let s = ops::open(p, &file)?;
            ops::checkout::checkout(p, &s, &targets).map(|_| ())
        }
        Command::Commit { stages, all } => {
            let s = ops::open(p, &file)?;
            ops::commit::commit(p, &s, &stages, all).map(|_| ())
        }
        Command::Gc { dry, workspace } => {
            let s = ops::open(p, &file)?;
            ops::gc::gc(p, &s, dry, workspace).map(|_| ())
        }
        Command::Cache(CacheCommand::Verify { remote, jobs }) => {
            let s = ops::open(p, &file)?;
            ops::cache_verify::verify(p, &s, remote.as_deref().map(named), jobs).map(|_| ())
        }
        Command::Remote(c) => run_remote(p, &file, c),
        Command::Push(a) => {
            let s = ops::open(p, &file)?;
            ops::push::push(p, &s, &a.targets, a.remote.as_deref(), a.jobs).map(|_| ())
        }
        Command::Fetch(a) => {
            let s = ops::open(p, &file)?;
            ops::pull::fetch(p, &s, &a.targets, a.remote.as_deref(), a.jobs).map(|_| ())
        }
        Command::Pull(a) => {
            let s = ops::open(p, &file)?;
            ops::pull::pull(p, &s, &a.targets, a.remote.as_deref(), a.jobs)
        }
        Command::Sweep(a) => sweep(p, &file, a),
        Command::Exp(c) => run_exp(p, &file, c),
        Command::Stages => {
            p.data(&crate::report::stages::text(ops::stages::list().as_deref()));
            Ok(())
        }
        Command::MergeLock { base, ours, theirs } => {
            ops::merge_lock::merge_lock(p, &base, &ours, &theirs)
        }
        Command::Metrics(c) => run_metrics(p, &file, c),
        Command::Params(c) => run_params(p, &file, c),
        Command::Plots(c) => run_plots(p, &file, c),
        Command::Report { sweeps, output } => {
            let s = ops::open(p, &file)?;
            ops::report::write(p, &s, &sweeps, &output)
        }
        Command::Predict {
            package,
            seq_dir,
            device,
        } => ops::stages::predict(&package, &seq_dir, &device),
        Command::Completions { shell } => {
            front::completions(p, shell);
            Ok(())
        }
        Command::Man { dir } => front::man(p, &dir).map(|_| ()),
    }
}

/// `pipe import-dvc [DIR] [--dry] [--force]`: with --dry, prints the pipeline it would write.
fn import_dvc(p: &Printer, dir: Option<&Path>, dry: bool, force: bool) -> Result<()> {
    let r = ops::import_dvc::import_dvc(
        p,
        dir.unwrap_or(Path::new(".")),
        &ops::import_dvc::ImportOptions { dry, force },
    )?;
    if let Some(text) = &r.preview {
        p.data(text);
    }
    Ok(())
}

/// `pipe repro`: runs, then keeps `.gitignore`'s outs current whether or not the run failed.
fn repro(p: &Printer, file: &Path, a: ReproArgs) -> Result<()> {
    let s = ops::open(p, file)?;
    let o = ReproOptions {
        targets: a.targets,
        single: a.single,
        downstream: a.downstream,
        dry: a.dry,
        keep_going: a.keep_going,
        ..a.run.options()
    };
    let r = ops::repro::repro_with(p, &s, &o, a.run.pull_remote(&s)?);
    ops::init::refresh_gitignore(&s.ws.dir, &ops::current_cached_outs(&s))?;
    r.map(|_| ())
}

/// `pipe status [--json]`, or with `--remote[=NAME]` where each out's content is.
fn status(
    p: &Printer,
    file: &Path,
    targets: &[String],
    json: bool,
    remote: Option<&str>,
) -> Result<()> {
    let s = ops::open(p, file)?;
    match remote {
        Some(r) => {
            let r = ops::remote_status::status(&s, targets, named(r))?;
            crate::report::status::print_remote(p, &r, json);
        }
        None => {
            let r = ops::status::status(&s, targets)?;
            crate::report::status::print(p, &r, json);
        }
    }
    Ok(())
}

fn dag(
    p: &Printer,
    file: &Path,
    targets: &[String],
    dot: bool,
    mermaid: bool,
    json: bool,
) -> Result<()> {
    let s = ops::open(p, file)?;
    let format = if json {
        DagFormat::Json
    } else if dot {
        DagFormat::Dot
    } else if mermaid {
        DagFormat::Mermaid
    } else {
        DagFormat::Text
    };
    p.data(&ops::dag::dag(&s, targets, format)?);
    Ok(())
}

/// `pipe remote ...`: needs the workspace's config only, not a valid pipeline.
fn run_remote(p: &Printer, file: &Path, c: RemoteCommand) -> Result<()> {
    let ws = crate::workspace::Workspace::open(file)?;
    ops::warn_workspace(p, &ws);
    match c {
        RemoteCommand::Add {
            name,
            url,
            default,
            local,
            force,
            options,
        } => ops::remote_config::add(
            p,
            &ws,
            &name,
            &url,
            &ops::remote_config::AddOptions {
                default,
                local,
                force,
                options,
            },
        ),
        RemoteCommand::List => {
            p.data(&crate::report::remote_list::list(&ws.config));
            Ok(())
        }
        RemoteCommand::Remove { name } => ops::remote_config::remove(p, &ws, &name),
        RemoteCommand::Default { name, local } => {
            ops::remote_config::set_default(p, &ws, &name, local)
        }
    }
}

/// `pipe sweep [NAME]`: lists the sweeps, or runs one and prints its table; then keeps
/// `.gitignore` current and writes `--html` whether or not every cell succeeded.
fn sweep(p: &Printer, file: &Path, a: SweepArgs) -> Result<()> {
    let s = ops::open(p, file)?;
    let Some(name) = a.name else {
        p.data(&crate::report::sweep::list(&s.graph.sweeps));
        return Ok(());
    };
    let format = table_format(a.md, a.csv, a.json);
    let o = SweepOptions {
        dry: a.dry,
        show: a.show,
        sort: a.sort,
        format,
        diff: a.diff.and_then(|d| match d.as_slice() {
            [x, y] => Some((x.clone(), y.clone())),
            _ => None,
        }),
        fail_fast: a.fail_fast,
        run: a.run.options(),
    };
    let r = ops::sweep::sweep(p, &s, &name, &o, a.run.pull_remote(&s)?).map(|r| {
        crate::report::sweep::print(p, &r.output, format.unwrap_or(Format::Text));
        r.failed
    });
    ops::init::refresh_gitignore(&s.ws.dir, &ops::current_cached_outs(&s))?;
    if let Some(html) = &a.html
        && !a.dry
    {
        ops::report::write(p, &s, std::slice::from_ref(&name), html)?;
    }
    match r? {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `--md` / `--csv` / `--json` of a table; `None`: text.
fn table_format(md: bool, csv: bool, json: bool) -> Option<Format> {
    if md {
        Some(Format::Markdown)
    } else if csv {
        Some(Format::Csv)
    } else if json {
        Some(Format::Json)
    } else {
        None
    }
}

// --- compare: metrics, params, plots ---
fn run_metrics(p: &Printer, file: &Path, c: MetricsCommand) -> Result<()> {
    let s = ops::open(p, file)?;
    match c {
        MetricsCommand::Show { targets, style } => {
            let (shown, problems) = ops::metrics::show(&s, &targets)?;
            p.data(compare::show(&shown, style.style()).trim_end());
            ops::metrics::problems_error(&problems)
        }
        MetricsCommand::Diff {
            revs,
            targets,
            all,
            style,
        } => {
            let d = ops::metrics::compute_diff(&s, &targets, &revs, all)?;
            p.data(compare::diff(&d, style.style()).trim_end());
            ops::metrics::problems_error(&d.problems)
        }
    }
}

fn run_params(p: &Printer, file: &Path, c: ParamsCommand) -> Result<()> {
    let ParamsCommand::Diff { revs, all, style } = c;
    let s = ops::open(p, file)?;
    let d = ops::params::compute_diff(&s, &revs, all)?;
    p.data(compare::diff(&d, style.style()).trim_end());
    Ok(())
}

fn run_plots(p: &Printer, file: &Path, c: PlotsCommand) -> Result<()> {
    let s = ops::open(p, file)?;
    match c {
        PlotsCommand::Show { targets, output } => ops::plots::show(p, &s, &targets, &output),
        PlotsCommand::Diff {
            revs,
            targets,
            output,
        } => ops::plots::diff(p, &s, &revs, &targets, &output),
    }
}
// --- end compare ---

/// `--remote` alone means the default remote.
fn named(r: &str) -> Option<&str> {
    Some(r).filter(|r| !r.is_empty())
}
