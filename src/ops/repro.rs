//! `pipe repro`: bring stages up to date.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::plan::{self, PlanOptions};
use crate::remote::RunRemote;
use crate::report::printer::{self, Tone, elapsed};
use crate::sched::resources::{Pool, Totals};
use crate::sched::{self, Outcome, RunOptions, Summary};

use super::Session;

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
    failure(s, &summary)?;
    Ok(summary)
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
        },
    )?;
    let p = printer::get();
    let mut any = false;
    for pl in &planned {
        if let crate::fresh::Freshness::Dirty(reasons) = &pl.freshness {
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
    let totals = Totals::detect(o.jobs.or(s.ws.config.jobs), o.cpus, o.gpus);
    let pool = Pool::new(totals);
    let p = printer::get();
    let mut warned_gpu = false;
    for &i in order {
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
        RunOptions {
            force: o.force,
            no_run_cache: o.no_run_cache,
            keep_going: o.keep_going,
            pull,
        },
    )?;
    let summary = rt.block_on(sched::run(ctx, cancel_tx, order));
    drop(rt);
    let folded = s.fold_lock();
    let saved = s.ws.state.save();
    report(&summary);
    folded?;
    saved?;
    Ok(summary)
}

/// The error a run's summary amounts to, if any: interrupted, or the first failure.
pub fn failure(s: &Session, summary: &Summary) -> Result<()> {
    if summary.interrupted {
        return Err(Error::Interrupted);
    }
    let failures = summary.failures();
    if let Some((i, Outcome::Failed { msg, env, .. })) = failures.first() {
        let id = &s.graph.stages[*i].id;
        let msg = if failures.len() == 1 {
            msg.clone()
        } else {
            format!("{} stages failed, the first {id}: {msg}", failures.len())
        };
        return Err(if *env {
            Error::Env(msg)
        } else {
            Error::StageFailed(msg)
        });
    }
    Ok(())
}

fn report(s: &Summary) {
    let ran = s.count(|o| matches!(o, Outcome::Ran(_)));
    let restored = s.count(|o| matches!(o, Outcome::Restored));
    let fresh = s.count(|o| matches!(o, Outcome::Fresh | Outcome::Frozen));
    let p = printer::get();
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
