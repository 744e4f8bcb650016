//! The scheduler: the one owner of running stages.
//!
//! 1. The selection (targets and what they need) is walked in dependency order; a stage is
//!    ready when every selected upstream stage is done.
//! 2. Every ready stage starts at once as a task: it takes its path locks, observes itself
//!    (hashing on the blocking pool, never on the async runtime), and is fresh, restored
//!    from the run cache, or waits for a job slot and its resources and runs.
//! 3. A finished stage readies its dependents; a failed one skips them and, without
//!    `--keep-going`, stops new stages from starting (running ones finish and commit).
//!    [`run`] owns the loop; where the walk stands (what is ready, running, done) is a
//!    `Walk`'s.
//! 4. Ctrl-C / SIGTERM cancels: running stages' process groups are terminated, their outs
//!    restored, nothing of theirs committed; finished stages stay committed. Transfers from
//!    a remote (`repro --pull`) are abandoned at once (`pipe_cache::remote::stop`), so a
//!    read stuck on a hung mount holds no stage: the run ends, and the command shuts its
//!    runtime down with a bound rather than waiting for the stuck thread.
//!
//! What a stage task does is [`task`]'s; what becomes of a stage is
//! [`crate::run::decide`]'s. The scheduler prints nothing: it emits [`Event`]s that
//! the command's sink shows (`report::run`), and returns a [`Summary`] of each stage's
//! [`Outcome`]; a failed one carries a typed [`Failure`](crate::error::Failure). What keeps
//! the scheduler itself from doing its part for a stage is a [`SchedError`] (`error.rs`).

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
use crate::graph::StageIdx;
use crate::lock::Entries;
use crate::pathlock::PathLocks;
use crate::workspace::Workspace;
use resources::{Place, Pool};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub force: bool,
    pub no_run_cache: bool,
    pub keep_going: bool,
    /// `repro --pull`: the remote behind the local run cache.
    pub pull: Option<Arc<crate::sharing::RunRemote>>,
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
    /// Each stage's place in the graph's dependency order: waiting stages get their slots in
    /// this order (see `resources`).
    pub rank: std::collections::HashMap<StageIdx, usize>,
}

impl Ctx {
    pub fn emit(&self, e: Event<'_>) {
        (self.events)(e)
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub outcomes: Vec<(StageIdx, Outcome)>,
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

    pub fn failures(&self) -> Vec<&(StageIdx, Outcome)> {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .collect()
    }
}

/// Runs `selection` (stage indices, in dependency order) to its end: every stage done,
/// skipped, or stopped by Ctrl-C / SIGTERM.
pub async fn run(
    ctx: Arc<Ctx>,
    cancel_tx: tokio::sync::watch::Sender<bool>,
    selection: &[StageIdx],
) -> Summary {
    let started = Instant::now();
    let mut walk = Walk::new(&ctx, selection);
    let mut running: JoinSet<Joined> = JoinSet::new();
    let (mut sigint, mut sigterm) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(a), Ok(b)) => (Some(a), Some(b)),
        _ => (None, None),
    };
    ctx.emit(Event::Started);
    loop {
        walk.spawn_ready(&mut running);
        if running.is_empty() {
            break;
        }
        ctx.emit(Event::Progress {
            running: walk.names.values().map(String::as_str).collect(),
            done: walk.outcomes.len(),
            total: selection.len(),
        });
        tokio::select! {
            joined = running.join_next() => match joined {
                None => break,
                Some(Ok((i, outcome, slot))) => {
                    walk.finished(i, outcome);
                    // What it readied takes its place in line before its slot is free.
                    walk.spawn_ready(&mut running);
                    drop(slot);
                }
                Some(Err(e)) => {
                    // A panicking task is a bug; keep the run's bookkeeping intact.
                    ctx.emit(Event::Panicked { error: e.to_string() });
                    walk.stop = true;
                }
            },
            _ = recv(&mut sigint), if !walk.interrupted => {
                walk.interrupt(&cancel_tx, false);
                ctx.emit(Event::Interrupted { running: running.len() });
            }
            _ = recv(&mut sigterm), if !walk.interrupted => {
                walk.interrupt(&cancel_tx, true);
                ctx.emit(Event::Terminated);
            }
        }
    }
    ctx.emit(Event::Ended);
    walk.summary(started.elapsed())
}

/// A finished stage task: its stage, outcome, and the slot it ran in, if it ran.
type Joined = (StageIdx, Outcome, Option<resources::Grant>);

/// Where a run's walk of the selection stands.
struct Walk<'a> {
    ctx: &'a Arc<Ctx>,
    /// Each selected stage's place in the selection.
    in_sel: HashMap<StageIdx, usize>,
    /// Selected upstream stages not done yet, per stage.
    indeg: HashMap<StageIdx, usize>,
    ready: VecDeque<StageIdx>,
    outcomes: HashMap<StageIdx, Outcome>,
    /// What runs now, by stage.
    names: HashMap<StageIdx, String>,
    /// No stage starts any more.
    stop: bool,
    interrupted: bool,
    terminated: bool,
}

impl<'a> Walk<'a> {
    fn new(ctx: &'a Arc<Ctx>, selection: &[StageIdx]) -> Walk<'a> {
        let g = &ctx.graph;
        let in_sel: HashMap<StageIdx, usize> =
            selection.iter().enumerate().map(|(k, &i)| (i, k)).collect();
        let indeg: HashMap<StageIdx, usize> = selection
            .iter()
            .map(|&i| {
                let n = g
                    .upstream(i)
                    .iter()
                    .filter(|u| in_sel.contains_key(u))
                    .count();
                (i, n)
            })
            .collect();
        let ready = selection
            .iter()
            .copied()
            .filter(|i| indeg[i] == 0)
            .collect();
        Walk {
            ctx,
            in_sel,
            indeg,
            ready,
            outcomes: HashMap::new(),
            names: HashMap::new(),
            stop: false,
            interrupted: false,
            terminated: false,
        }
    }

    /// Starts every ready stage as a task, unless the run stopped. All of them take their
    /// places in line for a slot before any starts, so that they are served by rank.
    fn spawn_ready(&mut self, running: &mut JoinSet<Joined>) {
        if self.stop {
            return;
        }
        let ready: Vec<(StageIdx, Option<Place>)> = self
            .ready
            .drain(..)
            .map(|i| {
                let place = self
                    .ctx
                    .pool
                    .fit(self.ctx.graph[i].resources)
                    .ok()
                    .map(|r| {
                        let rank = self.ctx.rank.get(&i).copied().unwrap_or(usize::MAX);
                        self.ctx.pool.place(r, rank)
                    });
                (i, place)
            })
            .collect();
        for (i, place) in ready {
            let c = self.ctx.clone();
            self.names.insert(i, self.ctx.graph[i].id.to_string());
            running.spawn(async move {
                let (outcome, slot) = task::process(c, i, place).await;
                (i, outcome, slot)
            });
        }
    }

    /// A stage is done: a failed or detached one skips what needs it (and a failure, without
    /// `--keep-going`, stops the run); any other readies its dependents.
    fn finished(&mut self, i: StageIdx, outcome: Outcome) {
        self.names.remove(&i);
        announce(self.ctx, i, &outcome);
        let detached = matches!(outcome, Outcome::Detached(_));
        if outcome.failed() || detached {
            if !self.ctx.opts.keep_going && !detached {
                self.stop = true;
                self.ctx
                    .stopping
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let why = if detached {
                "runs detached on Slurm"
            } else {
                "failed"
            };
            self.skip_dependents(i, why);
        } else {
            for d in self.ctx.graph.downstream(i) {
                if let Some(n) = self.indeg.get_mut(&d) {
                    *n -= 1;
                    if *n == 0 && !self.outcomes.contains_key(&d) {
                        self.ready.push_back(d);
                    }
                }
            }
        }
        self.outcomes.insert(i, outcome);
    }

    /// Every selected stage downstream of `i` is skipped: upstream stage `i` `why`.
    fn skip_dependents(&mut self, i: StageIdx, why: &str) {
        let g = &self.ctx.graph;
        for d in g.closure(&[i], true) {
            if d == i || !self.in_sel.contains_key(&d) {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(v) = self.outcomes.entry(d) {
                let o = Outcome::Skipped(format!("upstream stage {} {why}", g[i].id));
                announce(self.ctx, d, &o);
                v.insert(o);
            }
        }
    }

    /// Ctrl-C or SIGTERM: no stage starts, running ones are cancelled, transfers from a
    /// remote abandoned.
    fn interrupt(&mut self, cancel_tx: &tokio::sync::watch::Sender<bool>, terminated: bool) {
        self.interrupted = true;
        self.terminated = terminated;
        self.stop = true;
        let _ = cancel_tx.send(true);
        pipe_cache::remote::stop::stop();
    }

    /// The outcomes in the selection's order.
    fn summary(self, elapsed: Duration) -> Summary {
        let in_sel = self.in_sel;
        let mut ordered: Vec<(StageIdx, Outcome)> = self.outcomes.into_iter().collect();
        ordered.sort_by_key(|(i, _)| in_sel.get(i).copied().unwrap_or(usize::MAX));
        Summary {
            outcomes: ordered,
            interrupted: self.interrupted,
            terminated: self.terminated,
            elapsed,
        }
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

fn announce(ctx: &Ctx, i: StageIdx, o: &Outcome) {
    ctx.emit(Event::Done {
        stage: ctx.graph[i].id.as_str(),
        outcome: o,
    });
}

fn graph_rank(graph: &Graph) -> std::collections::HashMap<StageIdx, usize> {
    graph
        .topo()
        .iter()
        .enumerate()
        .map(|(k, &i)| (i, k))
        .collect()
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
    let rank = graph_rank(&graph);
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
            rank,
        }),
        tx,
    ))
}
