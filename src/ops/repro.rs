//! `pipe repro`: bring stages up to date.

use std::sync::Arc;

use crate::config::ExecutorKind;
use crate::error::{Error, Result, RunFailed};
use crate::events::Outcome;
use crate::exec::Executor;
use crate::graph::StageIdx;
use crate::report::printer::{Printer, Tone};
use crate::run::plan::{self, PlanOptions, Planned};
use crate::sched::resources::{Pool, Totals};
use crate::sched::{self, RunOptions, Summary};
use crate::sharing::RunRemote;

use super::Session;
use super::error::OpsError;

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
pub fn selection(s: &Session, o: &ReproOptions) -> Result<Vec<StageIdx>> {
    let seeds = s.select(&o.targets)?;
    Ok(if o.single {
        s.graph.in_order(seeds)
    } else if o.downstream {
        s.graph.closure(&seeds, true)
    } else {
        s.graph.closure(&seeds, false)
    })
}

/// `pipe repro`; `pull`: the remote behind the local run cache (`repro --pull`).
pub fn repro_with(
    p: &Printer,
    s: &Session,
    o: &ReproOptions,
    pull: Option<Arc<RunRemote>>,
) -> Result<Summary> {
    let order = selection(s, o)?;
    if o.dry {
        crate::report::run::print_dry(p, &plan(s, &order, o)?);
        return Ok(Summary::default());
    }
    let summary = run_stages_with(p, s, &order, o, pull)?;
    failure(s, summary)
}

/// What a run of `order` would do, stage by stage (`repro --dry`).
pub fn plan(s: &Session, order: &[StageIdx], o: &ReproOptions) -> Result<Vec<Planned>> {
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
    s.ws.state.save()?;
    Ok(planned)
}

/// Runs `order` through the scheduler and reports; shared by `repro` and `sweep`. `Err`
/// only when nothing could run; failed stages are in the summary (see [`failure`]).
/// `pull`: restore from it what neither the lock nor the local run cache has.
pub fn run_stages_with(
    p: &Printer,
    s: &Session,
    order: &[StageIdx],
    o: &ReproOptions,
    pull: Option<Arc<RunRemote>>,
) -> Result<Summary> {
    let events = crate::report::run::printing(p);
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
    let mut warned_gpu = false;
    for &i in order.iter().filter(|_| slurm.is_none()) {
        let st = &s.graph[i];
        if let Err(m) = pool.fit(st.resources) {
            return Err(OpsError::Resources {
                stage: st.id.to_string(),
                why: m,
            }
            .into());
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
    if let Err(e) = crate::compare::durations::record(s, &summary) {
        p.warn(&format!("stage durations not recorded: {e}"));
    }
    crate::report::run::summary(p, &summary);
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
        ExecutorKind::Local if o.detach => Err(OpsError::DetachNeedsSlurm.into()),
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
            stage: s.graph[i].id.clone(),
            first,
            count,
        }
        .into()),
        _ => Ok(summary),
    }
}
