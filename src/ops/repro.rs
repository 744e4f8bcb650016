//! `pipe repro`: bring stages up to date.

use std::sync::Arc;

use crate::config::ExecutorKind;
use crate::error::{Error, Result, RunFailed};
use crate::events::Outcome;
use crate::exec::Executor;
use crate::remote::RunRemote;
use crate::report::printer::{self, Tone, elapsed};
use crate::run::plan::{self, PlanOptions};
use crate::sched::resources::{Pool, Totals};
use crate::sched::{self, RunOptions, Summary};

use super::Session;

/// How long the end of a run waits for threads still blocked in an abandoned transfer.
const ABANDONED_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, Default)]
pub struct ReproOptions {
    pub targets: Vec<String>,
    pub force: bool,
    pub single: bool,
    pub downstream: bool,
    pub dry: bool,
    pub jobs: Option<usize>,
    pub keep_going: bool,
    pub no_run_cache: bool,
    pub cpus: Option<u32>,
    pub gpus: Option<u32>,
    /// `--executor`: overrides `[executor] kind`.
    pub executor: Option<ExecutorKind>,
    /// `--detach`: submit cluster jobs and return; a later run collects them.
    pub detach: bool,
}

/// The stages a repro considers, in dependency order.
pub fn selection(s: &Session, o: &ReproOptions) -> Result<Vec<usize>> {
    let seeds = s.select(&o.targets)?;
    Ok(if o.single {
        s.graph.in_order(seeds)
    } else if o.downstream {
        s.graph.closure(&seeds, true)
    } else {
        s.graph.closure(&seeds, false)
    })
}

pub fn repro(s: &Session, o: &ReproOptions) -> Result<Summary> {
    repro_with(s, o, None)
}

/// `repro`, with `pull`: the remote behind the local run cache (`repro --pull`).
pub fn repro_with(s: &Session, o: &ReproOptions, pull: Option<Arc<RunRemote>>) -> Result<Summary> {
    let order = selection(s, o)?;
    if o.dry {
        dry_run(s, &order, o)?;
        return Ok(Summary::default());
    }
    let summary = run_stages_with(s, &order, o, pull)?;
    failure(s, summary)
}

fn dry_run(s: &Session, order: &[usize], o: &ReproOptions) -> Result<()> {
    let lock = s.ws.lock.read()?;
    let planned = plan::evaluate(
        &s.ws,
        &s.graph,
        &lock,
        order,
        &PlanOptions {
            force: o.force,
            no_run_cache: o.no_run_cache,
            compare_data: false,
        },
    )?;
    let p = printer::get();
    for q in planned.iter().filter_map(|x| x.quarantined.as_deref()) {
        p.warn(q);
    }
    let mut any = false;
    for pl in &planned {
        if let crate::run::fresh::Freshness::Dirty(reasons) = &pl.freshness {
            any = true;
            let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
            let verb = if pl.restore {
                "Would restore"
            } else {
                "Would run"
            };
            p.data(&format!("{verb} {}: {}", pl.stage, why.join(", ")));
        }
    }
    if !any {
        p.data("Everything is up to date.");
    }
    s.ws.state.save()?;
    Ok(())
}

/// Runs `order` through the scheduler and reports; shared by `repro` and `sweep`. `Err`
/// only when nothing could run; failed stages are in the summary (see [`failure`]).
pub fn run_stages(s: &Session, order: &[usize], o: &ReproOptions) -> Result<Summary> {
    run_stages_with(s, order, o, None)
}

/// `run_stages`, restoring from `pull` what neither the lock nor the local run cache has.
pub fn run_stages_with(
    s: &Session,
    order: &[usize],
    o: &ReproOptions,
    pull: Option<Arc<RunRemote>>,
) -> Result<Summary> {
    let events = crate::report::run::printing();
    let slurm = slurm_executor(s, o, &events)?;
    let totals = match &slurm {
        // Jobs run on the cluster: only their number is limited here.
        Some(_) => Totals {
            jobs: o.jobs.unwrap_or(s.ws.config.executor.max_jobs).max(1),
            cpus: u32::MAX / 4,
            mem: u64::MAX / 4,
            gpus: Vec::new(),
        },
        None => Totals::detect(o.jobs.or(s.ws.config.jobs), o.cpus, o.gpus),
    };
    let pool = Pool::new(totals);
    let p = printer::get();
    let mut warned_gpu = false;
    for &i in order.iter().filter(|_| slurm.is_none()) {
        let st = &s.graph.stages[i];
        if let Err(m) = pool.fit(st.resources) {
            return Err(Error::User(format!("stage `{}` {m}", st.id)));
        }
        if st.resources.gpus > 0 && pool.totals.gpus.is_empty() && !warned_gpu {
            p.warn(&format!(
                "no GPU found; stage {} and others asking for GPUs run without one",
                st.id
            ));
            warned_gpu = true;
        }
    }
    // A crash may have left a journal: fold it before reading the lock.
    s.fold_lock()?;
    let rt = Session::runtime()?;
    let (ctx, cancel_tx) = sched::context(
        s.ws.clone(),
        s.graph.clone(),
        pool,
        match &slurm {
            Some(x) => Executor::Slurm(x.clone()),
            None => Executor::Local,
        },
        RunOptions {
            force: o.force,
            no_run_cache: o.no_run_cache,
            keep_going: o.keep_going,
            pull,
        },
        events,
    )?;
    let summary = rt.block_on(sched::run(ctx, cancel_tx, order));
    // Every stage task has ended; a blocking thread still running is a transfer abandoned
    // in a stuck system call (see `pipe_cache::remote::stop`): do not wait for it.
    rt.shutdown_timeout(ABANDONED_GRACE);
    let folded = s.fold_lock();
    let saved = s.ws.state.save();
    if let Some(asked) = slurm.as_ref().and_then(|x| x.asked()) {
        p.verb(
            "Slurm",
            Tone::Info,
            &crate::report::run::slurm_asked(&asked),
        );
    }
    crate::compare::durations::record(s, &summary);
    report(&summary);
    folded?;
    saved?;
    Ok(summary)
}

/// The Slurm executor when `--executor slurm` or `[executor] kind = "slurm"` asks for it.
fn slurm_executor(
    s: &Session,
    o: &ReproOptions,
    events: &crate::events::Events,
) -> Result<Option<std::sync::Arc<crate::exec::slurm::Slurm>>> {
    let cfg = &s.ws.config.executor;
    match o.executor.unwrap_or(cfg.kind) {
        ExecutorKind::Local if o.detach => Err(Error::User(
            "--detach needs the Slurm executor (--executor slurm, or [executor] kind = \"slurm\")"
                .into(),
        )),
        ExecutorKind::Local => Ok(None),
        ExecutorKind::Slurm => {
            crate::exec::slurm::Slurm::start(&s.ws.dot, &s.ws.root, cfg, o.detach, events.clone())
                .map(Some)
                .map_err(Error::from)
        }
    }
}

/// The error a run's summary amounts to, if any: interrupted, or the failure. One failed
/// stage's error is its [`Failure`](crate::error::Failure), whose type gives the exit code
/// (a command's own code, for one); several exit 1.
pub fn failure(s: &Session, summary: Summary) -> Result<Summary> {
    if summary.terminated {
        return Err(Error::Terminated);
    }
    if summary.interrupted {
        return Err(Error::Interrupted);
    }
    let count = summary.failures().len();
    let mut summary = summary;
    let first = (summary.outcomes.iter()).position(|(_, o)| matches!(o, Outcome::Failed(_)));
    match first.map(|k| summary.outcomes.swap_remove(k)) {
        Some((i, Outcome::Failed(first))) => Err(RunFailed {
            stage: s.graph.stages[i].id.clone(),
            first,
            count,
        }
        .into()),
        _ => Ok(summary),
    }
}

fn report(s: &Summary) {
    let ran = s.count(|o| matches!(o, Outcome::Ran(_)));
    let restored = s.count(|o| matches!(o, Outcome::Restored));
    let fresh = s.count(|o| matches!(o, Outcome::Fresh | Outcome::Frozen));
    let detached = s.count(|o| matches!(o, Outcome::Detached(_)));
    let p = printer::get();
    if detached > 0 {
        p.verb(
            "Done",
            Tone::Good,
            &format!(
                "{detached} submitted to Slurm (detached), {ran} ran, {restored} restored, {fresh} up to date, {} waiting for them; `pipe repro` collects them",
                s.count(|o| matches!(o, Outcome::Skipped(_)))
            ),
        );
        return;
    }
    if ran == 0 && restored == 0 && s.failures().is_empty() && !s.interrupted {
        p.verb(
            "Done",
            Tone::Good,
            &format!("everything is up to date ({} stages)", fresh),
        );
        return;
    }
    p.verb(
        "Done",
        if s.failures().is_empty() {
            Tone::Good
        } else {
            Tone::Bad
        },
        &format!(
            "{ran} ran, {restored} restored, {fresh} up to date, {} failed, {} skipped in {}",
            s.failures().len(),
            s.count(|o| matches!(o, Outcome::Skipped(_))),
            elapsed(s.elapsed)
        ),
    );
}
