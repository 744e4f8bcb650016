//! What can go wrong in a command, beyond what the engine's own rooms report: the user's
//! arguments (a path to add, a remote's settings, an experiment in the wrong state), and
//! the environment a command leans on (git, a file it must read or write, a running stage
//! that holds an out). Each variant carries what it names (paths as `PathBuf`/`WsPath`,
//! stage and experiment names); the exit code follows from the variant
//! ([`OpsError::exit_code`]: 2 for bad input, 3 for the environment, see `crate::error`).
//!
//! Errors another room reports as text (a graph's target resolution, a param file's edit)
//! are carried as that text where a command adds where it happened ([`OpsError::At`]).

use std::path::PathBuf;

use crate::wspath::WsPath;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    // --- bad input (exit 2) ---
    /// `-C DIR` that cannot be entered.
    #[error("cannot enter {}: {err}", dir.display())]
    EnterDir { dir: PathBuf, err: std::io::Error },
    /// A path given on the command line that cannot be made absolute.
    #[error("cannot resolve {}: {err}", path.display())]
    Resolve { path: PathBuf, err: std::io::Error },
    /// Another room's message, with where it happened (a file, a line).
    #[error("{at}: {why}")]
    At { at: String, why: String },
    #[error("no stage `{target}`")]
    NoStage { target: String },
    #[error("{}", no_sweep(name, sweeps))]
    NoSweep { name: String, sweeps: Vec<String> },
    #[error("sweep `{sweep}` has no cell `{cell}` (cells: {}…)", cells.join(", "))]
    NoCell {
        sweep: String,
        cell: String,
        /// The first few cells.
        cells: Vec<String>,
    },
    /// A stage asks for more than the machine has.
    #[error("stage `{stage}` {why}")]
    Resources {
        stage: String,
        why: crate::sched::resources::TooFewGpus,
    },
    #[error("--detach needs the Slurm executor (--executor slurm, or [executor] kind = \"slurm\")")]
    DetachNeedsSlurm,
    #[error("{}: name a file to write the report to", path.display())]
    ReportFile { path: PathBuf },
    /// `-o` names a path the pipeline owns (see `ops::output`).
    #[error("{}: pipe will not write there: it {owner}", path.display())]
    OutputOwned { path: PathBuf, owner: String },
    #[error("compare two revisions at most, not {n}")]
    TooManyRevs { n: usize },
    /// Files that could not be read or drawn, one line each; the rest was shown.
    #[error("{}", lines.join("\n"))]
    Unreadable { lines: Vec<String> },
    #[error(
        "no plots to draw: no stage has written its plots files yet (or the pipeline declares none)"
    )]
    NoPlots,

    // `pipe add`
    #[error("cannot add `{path}`: it does not exist")]
    AddMissing { path: WsPath },
    #[error("cannot add `{path}`: stage `{stage}` writes it (its outs are cached already)")]
    AddProduced { path: WsPath, stage: String },
    #[error("cannot add {}: it is outside the workspace {}", path.display(), root.display())]
    AddOutside { path: PathBuf, root: PathBuf },
    #[error("cannot add {}: {why}", path.display())]
    AddPath { path: PathBuf, why: String },
    #[error("cannot add `{}`: it belongs to the workspace", path.display())]
    AddReserved { path: PathBuf },
    #[error("the pipeline file is not valid TOML: {0}")]
    PipelineToml(toml_edit::TomlError),
    #[error("`data` in the pipeline file must be a table of tracked paths")]
    DataNotTable,

    // `pipe import-dvc`
    #[error(
        "{} exists; `pipe import-dvc --force` replaces it (see the result first with --dry)",
        path.display()
    )]
    PipelineExists { path: PathBuf },
    /// A dvc.lock path that leaves the project.
    #[error(transparent)]
    DvcLockPath(#[from] crate::dvc::lock::LockPathError),
    /// The converted pipeline does not load; `at` is the DVC file and line it came from.
    #[error("{at}: {what}{message}; nothing was written")]
    DvcWontLoad {
        at: String,
        /// `stage `x`: ` or empty.
        what: String,
        message: String,
    },

    // `pipe remote`
    #[error("{}: {err}", path.display())]
    ConfigToml {
        path: PathBuf,
        err: toml_edit::TomlError,
    },
    #[error("{}: `{key}` is not a table", path.display())]
    NotATable { path: PathBuf, key: &'static str },
    #[error("`-o {option}`: expected key=value")]
    OptionSyntax { option: String },
    #[error("unknown remote setting `{key}` (known: {})", known.join(", "))]
    UnknownSetting {
        key: String,
        known: Vec<&'static str>,
    },
    #[error(
        "`{key}` is a secret: it goes in the git-ignored .pipe/{local_file} (add --local), or \
         better in the AWS environment or a profile"
    )]
    SecretNotLocal {
        key: String,
        local_file: &'static str,
    },
    /// A setting's value of the wrong kind: `expected` says what it takes.
    #[error("`{key}` is {expected}, not `{value}`")]
    BadSetting {
        key: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error("`{name}` is not a remote name (letters, digits, `-` and `_`)")]
    RemoteName { name: String },
    #[error("remote `{name}`: {why}")]
    RemoteUrl { name: String, why: String },
    #[error("remote `{name}` already exists in .pipe/{file} (--force replaces it)")]
    RemoteExists { name: String, file: &'static str },
    #[error("no remote named `{name}`")]
    NoRemote { name: String },

    // `pipe commit`
    #[error("name the stages to commit (or `--all`)")]
    CommitWhat,
    #[error("`{stage}` is tracked data: record it anew with `pipe add`")]
    CommitData { stage: String },
    #[error("cannot commit `{stage}`: its {role} `{path}` does not exist")]
    CommitMissing {
        stage: String,
        role: &'static str,
        path: String,
    },

    // `pipe checkout`
    #[error("{n} out(s) could not be restored: their content is not in the cache")]
    NotInCache { n: usize },
    /// A target inside a directory out that names no file of it.
    #[error("`{part}` names no file of out `{out}` as the lock records it")]
    NoSuchPart { part: String, out: String },
    #[error("`{path}` not restored: a running stage reads or writes it ({holder})")]
    OutsBusyBy { path: String, holder: String },

    // `pipe exp`
    #[error("name the experiments to remove (see `pipe exp show`)")]
    NoExpNames,
    #[error("experiment `{name}` is running (pid {pid}); remove it once it ends")]
    RemoveRunning { name: String, pid: u32 },
    #[error("experiment `{name}` is running (pid {pid})")]
    ExpRunning { name: String, pid: u32 },
    #[error("--run-all runs the queued experiments as recorded; it takes no -S, -n or targets")]
    RunAllArgs,
    #[error("give the experiment's overrides: pipe exp run -S KEY=VALUE [-S ...]")]
    NoOverrides,
    #[error("{why}; name the experiment with -n NAME")]
    ExpNameFromOverrides { why: String },
    #[error(
        "experiment `{name}` exists with other overrides ({overrides}): name this one with -n, \
         or `pipe exp remove {name}` first"
    )]
    ExpExists { name: String, overrides: String },
    #[error("experiment `{name}` is {state}: {only}")]
    ExpNotDone {
        name: String,
        state: &'static str,
        /// What only a finished experiment may do.
        only: &'static str,
    },
    #[error("experiment `{name}` recorded no stages to apply")]
    ExpNoStages { name: String },
    #[error(
        "experiment `{name}` ran stage `{stage}`, which the pipeline no longer has; rerun the \
         experiment"
    )]
    ExpStageGone { name: String, stage: String },
    #[error(
        "stage `{stage}` declares other outs than when experiment `{name}` ran; rerun the \
         experiment"
    )]
    ExpOutsChanged { name: String, stage: String },
    #[error(
        "the outs of experiment `{name}` (stage {stage}) are not in the local cache: run `pipe \
         exp pull {name}` first"
    )]
    ExpOutsMissing { name: String, stage: String },
    #[error(
        "{why}: the outs of experiment `{name}` (stage {stage}) are not whole in the local \
         cache; run `pipe exp pull {name}` to fetch them again"
    )]
    ExpOutsCorrupt {
        name: String,
        stage: String,
        why: String,
    },
    #[error("experiment `{name}` overrides `{key}`: {why}")]
    ExpOverrideGone {
        name: String,
        key: String,
        why: String,
    },
    #[error(
        "applying experiment `{name}` would overwrite unsaved work: {}; run the pipeline first, \
         or pass --force",
        problems.join("; ")
    )]
    Unsaved { name: String, problems: Vec<String> },
    #[error("experiment `{name}`: object {object} is not (wholly) in the local cache")]
    ExpNotLocal { name: String, object: String },
    #[error("remote `{remote}` has no experiment `{name}` (see `pipe exp show --remote`)")]
    NoRemoteExp { remote: String, name: String },
    #[error("a local experiment `{name}` has other overrides: `pipe exp remove {name}` first")]
    ExpOtherOverrides { name: String },

    // --- the environment (exit 3) ---
    #[error("cannot read {}: {err}", path.display())]
    Read { path: PathBuf, err: std::io::Error },
    #[error("cannot create {}: {err}", path.display())]
    CreateDir { path: PathBuf, err: std::io::Error },
    #[error("cannot remove {}: {err}", path.display())]
    Remove { path: PathBuf, err: std::io::Error },

    #[error("cannot write {}: {err}", path.display())]
    Write {
        path: PathBuf,
        err: pipe_cache::Error,
    },
    /// A file written directly (not through the store's atomic writes).
    #[error("cannot write {}: {err}", path.display())]
    WriteIo { path: PathBuf, err: std::io::Error },
    #[error("cannot lock {}: {err}", path.display())]
    Lock { path: PathBuf, err: std::io::Error },
    /// `pipe man`: a page that could not be rendered.
    #[error("cannot render the man page {page}: {err}")]
    ManPage { page: String, err: std::io::Error },
    #[error("cannot run git: {0}")]
    Git(std::io::Error),
    #[error("`git config {key}` failed")]
    GitConfig { key: &'static str },
    #[error("cannot run {}: {err}", path.display())]
    Exec { path: PathBuf, err: std::io::Error },
    /// A file of the workspace could not be encoded (never in practice: plain data).
    #[error("{0}")]
    Encode(serde_json::Error),
    #[error("`{path}` is in [data] but not in the graph")]
    DataNotInGraph { path: WsPath },
    #[error("cannot restore {path} from DVC's cache: {err}")]
    DvcRestore {
        path: String,
        err: pipe_cache::Error,
    },
    #[error("stage {stage}: {err}")]
    DvcStage { stage: String, err: std::io::Error },
    #[error(
        "{n} out(s) not restored: a running stage reads or writes them; run `pipe checkout` \
         again when it is done"
    )]
    OutsBusy { n: usize },
    #[error(
        "{n} out(s) not restored: their cached content was corrupt (quarantined) or unusable \
         (said above)"
    )]
    OutsCorrupt { n: usize },
    #[error(
        "`{path}` is read or written by a running stage ({holder}): apply the experiment when \
         it is done"
    )]
    ApplyBusy { path: String, holder: String },
    #[error("{missing} out(s) missing on the remote, {corrupt} corrupt object(s) refused")]
    FetchFailed { missing: usize, corrupt: usize },
    #[error(
        "verification failed: {checked} object(s) in {place}: {corrupt} corrupt, {missing} missing"
    )]
    VerifyFailed {
        checked: usize,
        place: String,
        corrupt: usize,
        missing: usize,
    },
    #[error(
        "the cache {} is in use by pipe process(es) {}: what they are storing may not be \
         recorded yet, so gc could delete it; run `pipe gc` when they are done (`pipe gc --dry` \
         shows what it would remove)",
        cache.display(),
        pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    CacheInUse { cache: PathBuf, pids: Vec<u32> },
    #[error(
        "cannot read the workspace {} (registered in {} as one that uses this cache): {why}; gc \
         would delete what it needs: make it readable to this user, or, if it is no longer \
         used, remove {}",
        root.display(),
        registry.display(),
        entry.display()
    )]
    OtherWorkspace {
        root: PathBuf,
        registry: PathBuf,
        entry: PathBuf,
        why: String,
    },
    #[error("cannot read {file}: {why}")]
    RecordUnreadable { file: String, why: String },
    #[error("remote `{remote}` holds experiment `{held}` under the key of `{name}`")]
    WrongExp {
        remote: String,
        held: String,
        name: String,
    },
    #[error("{0}")]
    ExpCorrupt(pipe_cache::remote::RemoteError),
    #[error("remote `{remote}` lacks {n} object(s) of experiment `{name}` (first {first})")]
    ExpIncomplete {
        remote: String,
        n: usize,
        name: String,
        first: String,
    },
}

fn no_sweep(name: &str, sweeps: &[String]) -> String {
    if sweeps.is_empty() {
        format!("no sweep `{name}`: the pipeline defines no sweeps")
    } else {
        format!("no sweep `{name}` (sweeps: {})", sweeps.join(", "))
    }
}

impl OpsError {
    /// 2: what the user gave is wrong; 3: the environment failed the command.
    pub fn exit_code(&self) -> u8 {
        use OpsError::*;
        match self {
            EnterDir { .. }
            | Resolve { .. }
            | At { .. }
            | NoStage { .. }
            | NoSweep { .. }
            | NoCell { .. }
            | Resources { .. }
            | DetachNeedsSlurm
            | ReportFile { .. }
            | OutputOwned { .. }
            | TooManyRevs { .. }
            | Unreadable { .. }
            | NoPlots
            | AddMissing { .. }
            | AddProduced { .. }
            | AddOutside { .. }
            | AddPath { .. }
            | AddReserved { .. }
            | PipelineToml(_)
            | DataNotTable
            | PipelineExists { .. }
            | DvcLockPath(_)
            | DvcWontLoad { .. }
            | ConfigToml { .. }
            | NotATable { .. }
            | OptionSyntax { .. }
            | UnknownSetting { .. }
            | SecretNotLocal { .. }
            | BadSetting { .. }
            | RemoteName { .. }
            | RemoteUrl { .. }
            | RemoteExists { .. }
            | NoRemote { .. }
            | NotInCache { .. }
            | CommitWhat
            | CommitData { .. }
            | CommitMissing { .. }
            | NoSuchPart { .. }
            | NoExpNames
            | RemoveRunning { .. }
            | ExpRunning { .. }
            | RunAllArgs
            | NoOverrides
            | ExpNameFromOverrides { .. }
            | ExpExists { .. }
            | ExpNotDone { .. }
            | ExpNoStages { .. }
            | ExpStageGone { .. }
            | ExpOutsChanged { .. }
            | ExpOutsMissing { .. }
            | ExpOutsCorrupt { .. }
            | ExpOverrideGone { .. }
            | Unsaved { .. }
            | ExpNotLocal { .. }
            | NoRemoteExp { .. }
            | ExpOtherOverrides { .. } => 2,
            Read { .. }
            | CreateDir { .. }
            | Remove { .. }
            | Write { .. }
            | WriteIo { .. }
            | Lock { .. }
            | ManPage { .. }
            | Git(_)
            | GitConfig { .. }
            | Exec { .. }
            | Encode(_)
            | DataNotInGraph { .. }
            | DvcRestore { .. }
            | DvcStage { .. }
            | OutsBusy { .. }
            | OutsBusyBy { .. }
            | OutsCorrupt { .. }
            | ApplyBusy { .. }
            | FetchFailed { .. }
            | VerifyFailed { .. }
            | CacheInUse { .. }
            | OtherWorkspace { .. }
            | RecordUnreadable { .. }
            | WrongExp { .. }
            | ExpCorrupt(_)
            | ExpIncomplete { .. } => 3,
        }
    }
}
