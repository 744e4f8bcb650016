//! The scheduler: the one owner of running stages.
//!
//! 1. The selection (targets and what they need) is walked in dependency order; a stage is
//!    ready when every selected upstream stage is done.
//! 2. Every ready stage starts at once as a task: it takes its path locks, observes itself
//!    (hashing on the blocking pool, never on the async runtime), and is fresh, restored
//!    from the run cache, or waits for a job slot and its resources and runs.
//! 3. A finished stage readies its dependents; a failed one skips them and, without
//!    `--keep-going`, stops new stages from starting (running ones finish and commit).
//! 4. Ctrl-C / SIGTERM cancels: running stages' process groups are terminated, their outs
//!    restored, nothing of theirs committed; finished stages stay committed. Transfers from
//!    a remote (`repro --pull`) are abandoned at once (`pipe_cache::remote::stop`), so a
//!    read stuck on a hung mount holds no stage: the run ends, and the command shuts its
//!    runtime down with a bound rather than waiting for the stuck thread.
//!
//! What a stage task does is [`task`]'s; what becomes of a stage is
//! [`crate::run::decide`]'s. The scheduler prints nothing: it emits [`Event`]s that
//! the command's sink shows (`report::run`).

mod error;
pub mod resources;
pub mod task;

pub use error::SchedError;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

use crate::events::{Event, Events, Outcome};
use crate::exec::{Cancel, Executor};
use crate::graph::Graph;
use crate::lock::Entries;
use crate::pathlock::PathLocks;
use crate::workspace::Workspace;
use resources::Pool;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub force: bool,
    pub no_run_cache: bool,
    pub keep_going: bool,
    /// `repro --pull`: the remote behind the local run cache.
    pub pull: Option<Arc<crate::remote::RunRemote>>,
}

pub struct Ctx {
    pub ws: Arc<Workspace>,
    pub graph: Arc<Graph>,
    /// The lock as it was when the run started.
    pub lock: Entries,
    pub pool: Arc<Pool>,
    pub exec: Executor,
    pub cancel: Cancel,
    pub locks: PathLocks,
    pub opts: RunOptions,
    /// Set when the run stops starting stages (a failure without --keep-going): stages
    /// already spawned but still waiting for a slot do not start.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Where the run's events go.
    pub events: Events,
    /// What the run has observed so far (each path walked once per run).
    pub seen: crate::run::observe::Seen,
}

impl Ctx {
    pub fn emit(&self, e: Event<'_>) {
        (self.events)(e)
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub outcomes: Vec<(usize, Outcome)>,
    /// Stopped by Ctrl-C or SIGTERM.
    pub interrupted: bool,
    /// By SIGTERM (pipe exits 143 rather than 130).
    pub terminated: bool,
    pub elapsed: Duration,
}

impl Summary {
    pub fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|(_, o)| f(o)).count()
    }

    pub fn failures(&self) -> Vec<&(usize, Outcome)> {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .collect()
    }
}

pub async fn run(
    ctx: Arc<Ctx>,
    cancel_tx: tokio::sync::watch::Sender<bool>,
    selection: &[usize],
) -> Summary {
    let started = Instant::now();
    let g = &ctx.graph;
    let in_sel: HashMap<usize, usize> =
        selection.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    let mut indeg: HashMap<usize, usize> = selection
        .iter()
        .map(|&i| {
            (
                i,
                g.upstream(i)
                    .iter()
                    .filter(|u| in_sel.contains_key(u))
                    .count(),
            )
        })
        .collect();
    let mut ready: VecDeque<usize> = selection
        .iter()
        .copied()
        .filter(|i| indeg[i] == 0)
        .collect();
    let mut outcomes: HashMap<usize, Outcome> = HashMap::new();
    let mut running: JoinSet<(usize, Outcome)> = JoinSet::new();
    let mut names: HashMap<usize, String> = HashMap::new();
    let mut stop = false;
    let mut interrupted = false;
    let mut terminated = false;
    let (mut sigint, mut sigterm) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(a), Ok(b)) => (Some(a), Some(b)),
        _ => (None, None),
    };
    ctx.emit(Event::Started);

    loop {
        while !stop && let Some(i) = ready.pop_front() {
            let c = ctx.clone();
            names.insert(i, g.stages[i].id.to_string());
            running.spawn(async move { (i, task::process(c, i).await) });
        }
        if running.is_empty() {
            break;
        }
        ctx.emit(Event::Progress {
            running: names.values().map(String::as_str).collect(),
            done: outcomes.len(),
            total: selection.len(),
        });
        tokio::select! {
            joined = running.join_next() => {
                let Some(joined) = joined else { break };
                let (i, outcome) = match joined {
                    Ok(x) => x,
                    Err(e) => {
                        // A panicking task is a bug; keep the run's bookkeeping intact.
                        ctx.emit(Event::Panicked { error: e.to_string() });
                        stop = true;
                        continue;
                    }
                };
                names.remove(&i);
                announce(&ctx, i, &outcome);
                let detached = matches!(outcome, Outcome::Detached(_));
                if outcome.failed() || detached {
                    if !ctx.opts.keep_going && !detached {
                        stop = true;
                        ctx.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    let why = if detached { "runs detached on Slurm" } else { "failed" };
                    for d in g.closure(&[i], true).into_iter().filter(|d| *d != i && in_sel.contains_key(d)) {
                        if let std::collections::hash_map::Entry::Vacant(v) = outcomes.entry(d) {
                            let o = Outcome::Skipped(format!("upstream stage {} {why}", g.stages[i].id));
                            announce(&ctx, d, &o);
                            v.insert(o);
                        }
                    }
                } else {
                    for d in g.downstream(i) {
                        if let Some(n) = indeg.get_mut(&d) {
                            *n -= 1;
                            if *n == 0 && !outcomes.contains_key(&d) {
                                ready.push_back(d);
                            }
                        }
                    }
                }
                outcomes.insert(i, outcome);
            }
            _ = recv(&mut sigint), if !interrupted => {
                interrupted = true;
                stop = true;
                let _ = cancel_tx.send(true);
                pipe_cache::remote::stop::stop();
                ctx.emit(Event::Interrupted { running: running.len() });
            }
            _ = recv(&mut sigterm), if !interrupted => {
                interrupted = true;
                terminated = true;
                stop = true;
                let _ = cancel_tx.send(true);
                pipe_cache::remote::stop::stop();
                ctx.emit(Event::Terminated);
            }
        }
    }
    ctx.emit(Event::Ended);
    let mut ordered: Vec<(usize, Outcome)> = outcomes.into_iter().collect();
    ordered.sort_by_key(|(i, _)| in_sel.get(i).copied().unwrap_or(usize::MAX));
    Summary {
        outcomes: ordered,
        interrupted,
        terminated,
        elapsed: started.elapsed(),
    }
}

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

fn announce(ctx: &Ctx, i: usize, o: &Outcome) {
    ctx.emit(Event::Done {
        stage: ctx.graph.stages[i].id.as_str(),
        outcome: o,
    });
}

/// The executor and the pieces of a context, for a run in `ws`.
pub fn context(
    ws: Arc<Workspace>,
    graph: Arc<Graph>,
    pool: Arc<Pool>,
    exec: Executor,
    opts: RunOptions,
    events: Events,
) -> crate::error::Result<(Arc<Ctx>, tokio::sync::watch::Sender<bool>)> {
    let lock = ws.lock.read()?;
    let (tx, cancel) = Cancel::new();
    let locks = PathLocks::new(&ws.locks());
    Ok((
        Arc::new(Ctx {
            ws,
            graph,
            lock,
            pool,
            exec,
            cancel,
            locks,
            opts,
            stopping: std::sync::atomic::AtomicBool::new(false),
            events,
            seen: Default::default(),
        }),
        tx,
    ))
}
