//! Command-line parsing and dispatch. Each command is a few lines ending in an `ops` call.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pipe::error::{Error, Result};
use pipe::exp::ExpName;
use pipe::ops::{self, Session, dag::DagFormat, repro::ReproOptions, sweep::SweepOptions};
use pipe::report::compare::Style;
use pipe::report::printer::{self, ColorChoice};
use pipe::report::table::Format;

#[derive(Parser)]
#[command(
    name = "pipe",
    version,
    about = "A declarative experiment-pipeline runner: a DAG of stages, content hashing, a cache, a lock file",
    propagate_version = true
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
    Init,
    /// Track files or directories no stage makes (raw data): cache them, record them in
    /// [data] and the lock, so push, pull, checkout, status and gc treat them as outs
    Add {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Convert a DVC project (dvc.yaml, dvc.lock, .dvc files, remotes) into pipe.toml and
    /// pipe.lock, keeping what DVC already computed
    #[command(name = "import-dvc")]
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
    /// Run stale stages (and only those) in dependency order
    Repro(ReproArgs),
    /// List stale stages and why (exit 0)
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
    Explain { stage: String },
    /// Restore outs from the cache to match the lock
    Checkout { targets: Vec<String> },
    /// Delete cache objects no lock or run-cache record refers to
    Gc {
        /// Only report what would be removed
        #[arg(long)]
        dry: bool,
        /// Keep only what the lock files refer to (drop run-cache records of other runs)
        #[arg(short, long)]
        workspace: bool,
    },
    /// The local cache: `pipe cache verify [--remote[=NAME]]`
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Configure remotes: add, list, remove, default
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Upload the outs' objects and run-cache records to a remote
    Push(TransferArgs),
    /// Download the outs' objects from a remote into the local cache
    Fetch(TransferArgs),
    /// Fetch, then check the outs out
    Pull(TransferArgs),
    /// Run a sweep's cells side by side and tabulate their metrics
    Sweep(SweepArgs),
    /// Experiments: run with overrides, show, diff, apply, share
    #[command(subcommand)]
    Exp(ExpCommand),
    /// List the built-in stages
    Stages,
    /// Merge lock files by stage (a git merge driver: pipe merge-lock %O %A %B)
    #[command(name = "merge-lock", hide = true)]
    MergeLock {
        base: PathBuf,
        ours: PathBuf,
        theirs: PathBuf,
    },
    // --- compare: metrics, params, plots, report ---
    /// The metrics files: show them, or diff them across git revisions
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// The params stages read: diff them across git revisions
    #[command(subcommand)]
    Params(ParamsCommand),
    /// The plots outs drawn as SVG charts: show them, or overlay them across git revisions
    #[command(subcommand)]
    Plots(PlotsCommand),
    /// One self-contained HTML page of the study: graph, params, sweep tables, curves
    Report {
        /// Sweeps to include [default: all]
        sweeps: Vec<String>,
        /// The page to write
        #[arg(short, long, value_name = "FILE", default_value = "report.html")]
        output: PathBuf,
    },
    // --- end compare ---
    /// Score a sequence directory with a packaged model
    Predict {
        package: PathBuf,
        seq_dir: PathBuf,
        /// auto, cpu or cuda
        #[arg(long, default_value = "auto")]
        device: String,
    },
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Rehash every object; report corrupt and missing ones (exit 3 if any)
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
    Show {
        /// Stages, sweeps or metrics files [default: all]
        targets: Vec<String>,
        #[command(flatten)]
        style: StyleArgs,
    },
    /// Metrics at revision A against B: old, new, change and relative change
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
    Show {
        /// Stages, sweeps or plots files [default: the base pipeline's plots]
        targets: Vec<String>,
        /// Where the SVGs and index.html go
        #[arg(short, long, value_name = "DIR", default_value = "pipe_plots")]
        output: PathBuf,
    },
    /// Overlay each plot at several revisions [default: HEAD workspace; one REV: it and the workspace]
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
    List,
    /// Remove a remote (from both config files)
    Remove { name: String },
    /// Set the default remote
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
    /// GPUs to schedule against [default: nvidia-smi -L]
    #[arg(long)]
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
                ExecutorArg::Local => pipe::config::ExecutorKind::Local,
                ExecutorArg::Slurm => pipe::config::ExecutorKind::Slurm,
            }),
            detach: self.detach,
            ..ReproOptions::default()
        }
    }

    /// The remote behind the run cache, with --pull.
    fn pull_remote(&self, s: &Session) -> Result<Option<Arc<pipe::remote::RunRemote>>> {
        if !self.pull {
            return Ok(None);
        }
        let remote = pipe::remote::open(&s.ws, self.remote.as_deref(), None)?;
        Ok(Some(pipe::remote::RunRemote::new(remote)))
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
    Run(ExpRunArgs),
    /// The workspace baseline and every experiment: params, metrics, state, time
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
    Diff { a: String, b: String },
    /// Write an experiment's overrides into the params files and check its outs out
    Apply {
        name: ExpName,
        /// Overwrite unsaved params edits and modified outs
        #[arg(long)]
        force: bool,
    },
    /// Remove experiments (records and outs; `pipe gc` then frees their objects)
    Remove { names: Vec<ExpName> },
    /// Remove failed experiments (every one with --all), then collect unused cache objects
    Gc {
        #[arg(long)]
        all: bool,
        /// Only report what would be removed
        #[arg(long)]
        dry: bool,
    },
    /// Send experiments (records and outs' objects) to a remote
    Push(ExpTransferArgs),
    /// Fetch experiments (records and outs' objects) from a remote
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

fn run_exp(file: &Path, c: ExpCommand) -> Result<()> {
    use ops::exp;
    let s = Session::open(file)?;
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
            exp::run::run(&s, &o, a.run.pull_remote(&s)?)
        }
        ExpCommand::Show {
            sort,
            md,
            csv,
            json,
            remote,
        } => {
            let format = if md {
                Some(Format::Markdown)
            } else if csv {
                Some(Format::Csv)
            } else if json {
                Some(Format::Json)
            } else {
                None
            };
            let o = exp::show::ShowOptions {
                format,
                sort,
                remote: remote.map(|r| named(&r).map(String::from)),
                jobs: None,
            };
            exp::show::show(&s, &o).map(|_| ())
        }
        ExpCommand::Diff { a, b } => exp::show::diff(&s, &a, &b),
        ExpCommand::Apply { name, force } => exp::apply::apply(&s, &name, force),
        ExpCommand::Remove { names } => exp::remove(&s, &names),
        ExpCommand::Gc { all, dry } => exp::gc(&s, all, dry),
        ExpCommand::Push(a) => exp::share::push(&s, &a.names, a.remote.as_deref(), a.jobs),
        ExpCommand::Pull(a) => exp::share::pull(&s, &a.names, a.remote.as_deref(), a.jobs),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    printer::init(
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
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            report_error(&e);
            e.exit_code()
        }
    };
    ExitCode::from(exit_code(code, &printer::get().lost_output()))
}

/// The exit status, once output was cut short (`lost`: which stream and why, see
/// `report::printer`): a command that otherwise succeeded exits 3 (the environment failed
/// pipe), saying so on the stream that still works; a command's own failure keeps its code
/// (a stage's exit code says more than the closed pipe that followed it).
fn exit_code(code: u8, lost: &[String]) -> u8 {
    if lost.is_empty() {
        return code;
    }
    let p = printer::get();
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

fn report_error(e: &Error) {
    match e {
        Error::Spec(d) => {
            let theme = if printer::get_color() {
                miette::GraphicalTheme::unicode()
            } else {
                miette::GraphicalTheme::unicode_nocolor()
            };
            let mut out = String::new();
            let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
            let p = printer::get();
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
        Error::Interrupted => printer::get().raw_err("error: interrupted\n"),
        other => printer::get().error(&other.to_string()),
    }
}

fn pipeline_path(cli: &Cli) -> PathBuf {
    let f = cli
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from("pipe.toml"));
    std::path::absolute(&f).unwrap_or(f)
}

fn run(cli: Cli) -> Result<()> {
    if let Some(d) = &cli.dir {
        std::env::set_current_dir(d)
            .map_err(|e| Error::User(format!("cannot enter {}: {e}", d.display())))?;
    }
    let file = pipeline_path(&cli);
    match cli.command {
        Command::Init => {
            let root = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            let outs = if file.exists() {
                let s = Session::open(&file)?;
                ops::cached_outs(&s)
            } else {
                Vec::new()
            };
            ops::init::init(&root, &outs)
        }
        Command::Add { paths } => ops::add::add(&file, &paths).map(|_| ()),
        Command::ImportDvc { dir, dry, force } => ops::import_dvc::import_dvc(
            dir.as_deref().unwrap_or(Path::new(".")),
            &ops::import_dvc::ImportOptions { dry, force },
        )
        .map(|_| ()),
        Command::Repro(a) => {
            let s = Session::open(&file)?;
            let o = ReproOptions {
                targets: a.targets,
                single: a.single,
                downstream: a.downstream,
                dry: a.dry,
                keep_going: a.keep_going,
                ..a.run.options()
            };
            let r = ops::repro::repro_with(&s, &o, a.run.pull_remote(&s)?);
            ops::init::refresh_gitignore(&s.ws.dir, &ops::current_cached_outs(&s))?;
            r.map(|_| ())
        }
        Command::Status {
            targets,
            json,
            remote: Some(r),
        } => {
            let s = Session::open(&file)?;
            ops::remote_status::status(&s, &targets, named(&r), json).map(|_| ())
        }
        Command::Status { targets, json, .. } => {
            let s = Session::open(&file)?;
            ops::status::status(&s, &targets, json).map(|_| ())
        }
        Command::Dag {
            targets,
            dot,
            mermaid,
            json,
        } => {
            let s = Session::open(&file)?;
            let format = if json {
                DagFormat::Json
            } else if dot {
                DagFormat::Dot
            } else if mermaid {
                DagFormat::Mermaid
            } else {
                DagFormat::Text
            };
            ops::dag::dag(&s, &targets, format)
        }
        Command::Explain { stage } => {
            let s = Session::open(&file)?;
            ops::explain::explain(&s, &stage).map(|_| ())
        }
        Command::Checkout { targets } => {
            let s = Session::open(&file)?;
            ops::checkout::checkout(&s, &targets).map(|_| ())
        }
        Command::Gc { dry, workspace } => {
            let s = Session::open(&file)?;
            ops::gc::gc(&s, dry, workspace).map(|_| ())
        }
        Command::Cache(CacheCommand::Verify { remote, jobs }) => {
            let s = Session::open(&file)?;
            ops::cache_verify::verify(&s, remote.as_deref().map(named), jobs).map(|_| ())
        }
        Command::Remote(c) => {
            let ws = pipe::workspace::Workspace::open(&file)?;
            match c {
                RemoteCommand::Add {
                    name,
                    url,
                    default,
                    local,
                    force,
                    options,
                } => ops::remote::add(
                    &ws,
                    &name,
                    &url,
                    &ops::remote::AddOptions {
                        default,
                        local,
                        force,
                        options,
                    },
                ),
                RemoteCommand::List => ops::remote::list(&ws),
                RemoteCommand::Remove { name } => ops::remote::remove(&ws, &name),
                RemoteCommand::Default { name, local } => {
                    ops::remote::set_default(&ws, &name, local)
                }
            }
        }
        Command::Push(a) => {
            let s = Session::open(&file)?;
            ops::push::push(&s, &a.targets, a.remote.as_deref(), a.jobs).map(|_| ())
        }
        Command::Fetch(a) => {
            let s = Session::open(&file)?;
            ops::pull::fetch(&s, &a.targets, a.remote.as_deref(), a.jobs).map(|_| ())
        }
        Command::Pull(a) => {
            let s = Session::open(&file)?;
            ops::pull::pull(&s, &a.targets, a.remote.as_deref(), a.jobs)
        }
        Command::Sweep(a) => {
            let s = Session::open(&file)?;
            let Some(name) = a.name else {
                return ops::sweep::list(&s);
            };
            let format = if a.md {
                Some(Format::Markdown)
            } else if a.csv {
                Some(Format::Csv)
            } else if a.json {
                Some(Format::Json)
            } else {
                None
            };
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
            let r = ops::sweep::sweep(&s, &name, &o, a.run.pull_remote(&s)?);
            ops::init::refresh_gitignore(&s.ws.dir, &ops::current_cached_outs(&s))?;
            // compare: the sweep's HTML report, whether or not every cell succeeded.
            if let Some(html) = &a.html
                && !a.dry
            {
                ops::report::write(&s, std::slice::from_ref(&name), html)?;
            }
            r.map(|_| ())
        }
        Command::Exp(c) => run_exp(&file, c),
        Command::Stages => {
            ops::stages::list();
            Ok(())
        }
        Command::MergeLock { base, ours, theirs } => {
            ops::merge_lock::merge_lock(&base, &ours, &theirs)
        }
        // --- compare: metrics, params, plots, report ---
        Command::Metrics(MetricsCommand::Show { targets, style }) => {
            let s = Session::open(&file)?;
            ops::metrics::show(&s, &targets, style.style())
        }
        Command::Metrics(MetricsCommand::Diff {
            revs,
            targets,
            all,
            style,
        }) => {
            let s = Session::open(&file)?;
            ops::metrics::diff(&s, &targets, &revs, all, style.style())
        }
        Command::Params(ParamsCommand::Diff { revs, all, style }) => {
            let s = Session::open(&file)?;
            ops::params::diff(&s, &revs, all, style.style())
        }
        Command::Plots(PlotsCommand::Show { targets, output }) => {
            let s = Session::open(&file)?;
            ops::plots::show(&s, &targets, &output)
        }
        Command::Plots(PlotsCommand::Diff {
            revs,
            targets,
            output,
        }) => {
            let s = Session::open(&file)?;
            ops::plots::diff(&s, &revs, &targets, &output)
        }
        Command::Report { sweeps, output } => {
            let s = Session::open(&file)?;
            ops::report::write(&s, &sweeps, &output)
        }
        // --- end compare ---
        Command::Predict {
            package,
            seq_dir,
            device,
        } => ops::stages::predict(&package, &seq_dir, &device),
    }
}

/// `--remote` alone means the default remote.
fn named(r: &str) -> Option<&str> {
    Some(r).filter(|r| !r.is_empty())
}
