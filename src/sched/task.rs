//! One stage instance through a run, in this order:
//!
//! 1. `take_locks`: its path locks (waiting, with a message once a wait lasts).
//! 2. `observe_and_decide`: observe it (on the blocking pool) and ask
//!    [`decide`](crate::run::decide::decide): fresh, frozen, restore or run.
//! 3. A restore checks the run cache's outs out (`restore`); with `--pull`, a miss in the
//!    local run cache asks the remote (`pull`).
//! 4. A run (`run`) takes a job slot and its resources (`slot`), moves the outs aside
//!    (`move_aside`), runs the job with retries (`attempts`, each one `run_job`), and
//!    stores what a success made under the key the decision computed (`store`).
//!
//! What becomes of the stage is an [`Outcome`]; a failure is a typed
//! [`Failure`]: its command's ([`Failure::Command`]), its contract's
//! ([`Failure::Contract`]), or pipe's own part ([`Failure::Pipe`]), from which the exit
//! code follows. What happens is told as [`Event`]s; nothing here prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipe_stage_api::Invocation;

use crate::error::{Error, Failure};
use crate::events::{DirtyReason, Event, Outcome};
use crate::exec::{Exit, Job, Program};
use crate::graph::StageIdx;
use crate::graph::{Stage, StageKind};
use crate::lock::LockEntry;
use crate::pathlock::{self, Busy, Held, Mode};
use crate::run::backup::Backup;
use crate::run::commit::commit;
use crate::run::decide::{self, Decision, Inputs, decide};
use crate::run::fresh::Observed;
use crate::run::restore::OutRef;
use crate::run::runcache::RunRecord;
use crate::spec::OutRole;
use crate::wspath::WsPath;
use pipe_cache::Summary;

use super::error::MissingFrom;
use super::resources::{Grant, Place};
use super::{Ctx, SchedError};

/// A step of a stage task: its value, or the outcome that ends the task early.
type Step<T> = Result<T, Outcome>;

/// pipe could not do its part.
fn pipe_failed(e: impl Into<Error>) -> Outcome {
    failed(Failure::Pipe(e.into()))
}

fn failed(f: Failure) -> Outcome {
    Outcome::Failed(Box::new(f))
}

/// Stage `i`, ready: locks, decision, and a run where one is needed. `place` is its place in
/// line for a slot (`None` when its resources do not fit this machine: `slot` says why).
/// The slot of a stage that ran comes back with its outcome: the run gives it up only once
/// the stages this one readied have taken their places in line, so that they come first.
pub async fn process(ctx: Arc<Ctx>, i: StageIdx, place: Option<Place>) -> (Outcome, Option<Grant>) {
    let (held, waited) = match take_locks(&ctx, i, place.as_ref()).await {
        Ok(h) => h,
        Err(o) => return (o, None),
    };
    let mut slot = None;
    let out = decide_and_run(&ctx, i, waited, place, &mut slot).await;
    drop(held);
    (out, slot)
}

/// Exclusive locks on the stage's outs, shared ones on what it reads (and on the outs in or
/// around it). While another process holds them, the stage's place in line is left to others.
async fn take_locks(ctx: &Ctx, i: StageIdx, place: Option<&Place>) -> Step<(Held, bool)> {
    let stage = &ctx.graph[i];
    let mut want = BTreeMap::new();
    for o in &stage.outs {
        pathlock::want(&mut want, &o.path, Mode::Exclusive);
    }
    for d in &stage.deps {
        // Every out inside or around what it reads, so that a stage of another process
        // writing any of them (data/x.txt, when this reads data/) is waited for; the path
        // itself unless an out contains it.
        let mut contained = false;
        for o in ctx.graph.outs_overlapping(d) {
            contained |= d.is_within(o);
            pathlock::want(&mut want, o, Mode::Shared);
        }
        if !contained {
            pathlock::want(&mut want, d, Mode::Shared);
        }
    }
    let who = format!("stage {}", stage.id);
    let mut waited = false;
    let mut announced = false;
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(2);
    let mut cancel = ctx.cancel.clone();
    loop {
        match ctx.locks.try_acquire(&want, &who) {
            Ok(h) => {
                if waited && let Some(p) = place {
                    p.back();
                }
                return Ok((h, waited));
            }
            Err(Busy::Io(path, source)) => {
                return Err(pipe_failed(SchedError::Lock { path, source }));
            }
            Err(Busy::Held { path, holder }) => {
                if !waited && let Some(p) = place {
                    p.step_aside();
                }
                waited = true;
                // A lock can look busy for a moment while a child of this process is between
                // fork and exec; only a wait that lasts is worth a message.
                if !announced && started.elapsed() > Duration::from_millis(500) {
                    ctx.emit(Event::Waiting {
                        stage: stage.id.as_str(),
                        path: &path.to_string(),
                        holder: holder.as_deref(),
                    });
                    announced = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = cancel.cancelled() => return Err(Outcome::Cancelled),
                }
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// Runs `f` on the blocking pool (hashing and file moves never block the async runtime).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Step<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| pipe_failed(SchedError::Internal(e)))
}

async fn decide_and_run(
    ctx: &Arc<Ctx>,
    i: StageIdx,
    waited: bool,
    place: Option<Place>,
    kept: &mut Option<Grant>,
) -> Outcome {
    let (observed, decision) = match observe_and_decide(ctx, i, waited).await {
        Ok(x) => x,
        Err(o) => return o,
    };
    let (reasons, inputs, looked_up) = match decision {
        Decision::Fresh => return Outcome::Fresh,
        Decision::Frozen => return Outcome::Frozen,
        Decision::Restore {
            inputs,
            outs,
            record,
            ..
        } => {
            // It needs no slot: its place goes to the next in line.
            drop(place);
            return match restore(ctx, i, inputs, outs, record).await {
                Ok(()) => Outcome::Restored,
                Err(o) => o,
            };
        }
        Decision::Run {
            reasons,
            inputs,
            looked_up,
            quarantined,
        } => {
            if let Some(error) = &quarantined {
                ctx.emit(Event::Quarantined {
                    stage: ctx.graph[i].id.as_str(),
                    error,
                });
            }
            (reasons, inputs, looked_up)
        }
    };
    let Some(inputs) = inputs else {
        return pipe_failed(missing_dep(ctx, i, &observed));
    };
    if let Some(e) = partial_dep(ctx, i, &observed) {
        return pipe_failed(e);
    }
    if looked_up && let Some(remote) = &ctx.opts.pull {
        // A remote may be slow: the slot is for others meanwhile.
        if let Some(p) = &place {
            p.step_aside();
        }
        let pulled = pull(ctx, i, remote, &inputs).await;
        if let Some(p) = &place {
            p.back();
        }
        match pulled {
            Ok(true) => {
                tracing::debug!(stage = %ctx.graph[i].id, key = %inputs.key, "restored through the remote");
                return Outcome::Restored;
            }
            Ok(false) => {}
            Err(o) => return o,
        }
    }
    run(ctx, i, inputs, reasons, place, kept).await
}

/// Observes the stage (what this run has not observed yet) and decides what becomes of it.
async fn observe_and_decide(
    ctx: &Arc<Ctx>,
    i: StageIdx,
    waited: bool,
) -> Step<(Observed, Decision)> {
    let id = ctx.graph[i].id.as_str();
    // Another process may have just run this stage: read its entry again.
    let entry: Option<LockEntry> = if waited {
        ctx.ws.lock.read().map_err(pipe_failed)?.get(id).cloned()
    } else {
        ctx.lock.get(id).cloned()
    };
    let opts = decide::Options {
        force: ctx.opts.force,
        no_run_cache: ctx.opts.no_run_cache,
        compare_data: false,
    };
    let c = ctx.clone();
    blocking(move || -> crate::error::Result<_> {
        let st = &c.graph[i];
        let observed = c.seen.observe(&c.ws, st, waited)?;
        let d = decide(&c.ws, st, entry.as_ref(), &observed, &[], opts);
        if d.is_stale() {
            // It is about to be rewritten (restored or run): what the run saw is stale.
            let outs: Vec<&WsPath> = st.outs.iter().map(|o| &o.path).collect();
            c.seen.forget(&outs);
        }
        Ok((observed, d))
    })
    .await?
    .map_err(pipe_failed)
}

/// A dep that is tracked data present only in part (`pipe pull` of a path inside it): a
/// stage reading the whole directory does not run on the part.
fn partial_dep(ctx: &Ctx, i: StageIdx, observed: &Observed) -> Option<SchedError> {
    for u in ctx.graph.upstream(i) {
        let up = &ctx.graph[u];
        if !up.is_data() {
            continue;
        }
        let Some(entry) = ctx.lock.get(up.id.as_str()) else {
            continue;
        };
        for o in &up.outs {
            let Some(h) = entry.outs.get(&o.path) else {
                continue;
            };
            // Only a stage that reads the whole directory (the out, or a directory
            // holding it) waits for the rest; one reading a part of it reads what is there.
            let reads = observed.deps.iter().find(|(d, _)| o.path.is_within(d));
            let Some((dep, Some(now))) = reads else {
                continue;
            };
            if dep == &o.path && now.digest == h.digest {
                continue;
            }
            if let Some((present, total)) = crate::run::partial::partial(&ctx.ws, &o.path, h) {
                return Some(SchedError::PartialDep {
                    stage: ctx.graph[i].id.clone(),
                    dep: o.path.to_string(),
                    present,
                    total,
                });
            }
        }
    }
    None
}

/// The dep that keeps a stale stage from running: it does not exist.
fn missing_dep(ctx: &Ctx, i: StageIdx, observed: &Observed) -> SchedError {
    let dep = observed
        .deps
        .iter()
        .find(|(_, h)| h.is_none())
        .map(|(p, _)| p);
    // Tracked data or a frozen stage upstream holding it (or inside it): pulling brings it
    // back; else nothing makes it.
    let maker = dep.and_then(|d| {
        ctx.graph.upstream(i).into_iter().find(|&u| {
            let up = &ctx.graph[u];
            (up.is_data() || up.frozen)
                && up
                    .outs
                    .iter()
                    .any(|o| d.is_within(&o.path) || o.path.is_within(d))
        })
    });
    let from = match maker.map(|u| &ctx.graph[u]) {
        Some(up) if up.is_data() => MissingFrom::Tracked,
        Some(up) => MissingFrom::Frozen(up.id.clone()),
        None => MissingFrom::Nothing,
    };
    SchedError::MissingDep {
        stage: ctx.graph[i].id.clone(),
        dep: dep.map_or_else(|| "?".to_string(), |d| d.to_string()),
        from,
    }
}

/// Checks a run-cache hit's outs out and records the stage's lock entry.
async fn restore(
    ctx: &Arc<Ctx>,
    i: StageIdx,
    inputs: Inputs,
    outs: Vec<OutRef>,
    record: RunRecord,
) -> Step<()> {
    let c = ctx.clone();
    blocking(move || -> crate::error::Result<()> {
        let st = &c.graph[i];
        let entry = inputs.entry(st, record.outs);
        crate::run::restore::checkout(&c.ws, &outs)?;
        c.seen.record(&c.ws, st.id.as_str(), &entry)?;
        Ok(())
    })
    .await?
    .map_err(pipe_failed)
}

/// `repro --pull`: the local run cache missed; the remote's record, or the local record's
/// objects from the remote, may still make a hit.
async fn pull(
    ctx: &Arc<Ctx>,
    i: StageIdx,
    remote: &Arc<crate::sharing::RunRemote>,
    inputs: &Inputs,
) -> Step<bool> {
    let stage = &ctx.graph[i];
    let record = match ctx.ws.store.get_record(&inputs.key) {
        Ok(Some(bytes)) => RunRecord::decode_for(&bytes, stage).ok(),
        Ok(None) => None,
        Err(e) => return Err(pipe_failed(e)),
    };
    let record = match record {
        Some(r) => r,
        None => match remote
            .record(&ctx.ws, stage, &inputs.key, &ctx.events)
            .await
        {
            Some(r) => r,
            None => return Ok(false),
        },
    };
    let Some(outs) = crate::run::restore::outs_from(stage, &record.outs) else {
        return Ok(false);
    };
    let usable = {
        let (c, o) = (ctx.clone(), outs.clone());
        blocking(move || crate::run::restore::objects_usable(&c.ws.store, &o)).await?
    };
    if let Err(crate::run::restore::Unusable::Quarantined(error)) = &usable {
        ctx.emit(Event::Quarantined {
            stage: stage.id.as_str(),
            error,
        });
    }
    if usable.is_err()
        && !remote
            .fetch(&ctx.ws, stage.id.as_str(), &outs, &ctx.events)
            .await
    {
        return Ok(false);
    }
    restore(ctx, i, inputs.clone(), outs, record).await?;
    Ok(true)
}

/// Runs a stale stage: a slot (left in `kept` once the job is over), the outs moved aside,
/// the job's attempts, and what became of them.
async fn run(
    ctx: &Arc<Ctx>,
    i: StageIdx,
    inputs: Inputs,
    reasons: Vec<DirtyReason>,
    place: Option<Place>,
    kept: &mut Option<Grant>,
) -> Outcome {
    let stage = &ctx.graph[i];
    let grant = match slot(ctx, i, stage, place).await {
        Ok(g) => g,
        Err(o) => return o,
    };
    // Hook for cluster executors: a job an earlier pipe process submitted for this very
    // instance is adopted, and its outs are not moved aside (the job is writing them).
    let key = inputs.key.to_string();
    let adopted = ctx.exec.adopt(stage.id.as_str(), &key);
    if adopted {
        tracing::debug!(stage = %stage.id, key, "adopting the cluster job an earlier pipe submitted");
    }
    ctx.emit(Event::Running {
        stage: stage.id.as_str(),
        reasons: &reasons,
    });
    let started = Instant::now();
    let backup = match move_aside(ctx, i, adopted).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    let log = ctx.ws.logs().join(format!("{}.log", stage.id.file_name()));
    let exit = match attempts(ctx, stage, &grant, &backup, &log, &key).await {
        Ok(exit) => exit,
        Err(e) => {
            let _ = backup.restore();
            return pipe_failed(e);
        }
    };
    *kept = Some(grant);
    match exit {
        Exit::Success => store(ctx, i, inputs, backup, log, started).await,
        Exit::Cancelled => {
            let _ = backup.restore();
            Outcome::Cancelled
        }
        Exit::Detached { job } => {
            // The job writes the outs now; the old ones are not coming back.
            backup.discard();
            Outcome::Detached(job)
        }
        Exit::Failed { how, .. } => failed(Failure::Command {
            stage: stage.id.clone(),
            exit: how,
            log,
            restore: backup.restore().err(),
        }),
    }
}

/// A job slot and the stage's resources, fitted to this machine; waits for them.
async fn slot(ctx: &Ctx, i: StageIdx, stage: &Stage, place: Option<Place>) -> Step<Grant> {
    let fitted = ctx.pool.fit(stage.resources).map_err(|source| {
        pipe_failed(SchedError::Resources {
            stage: stage.id.clone(),
            source,
        })
    })?;
    let place = match place {
        Some(p) => p,
        None => ctx
            .pool
            .place(fitted, ctx.rank.get(&i).copied().unwrap_or(usize::MAX)),
    };
    let mut cancel = ctx.cancel.clone();
    let grant = tokio::select! {
        g = place.acquire() => g,
        _ = cancel.cancelled() => return Err(Outcome::Cancelled),
    };
    if ctx.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Outcome::Skipped(
            "not started: the run stopped after a failure".into(),
        ));
    }
    Ok(grant)
}

/// Moves the stage's outs aside (an adopted job's are left where they are: it writes them).
async fn move_aside(ctx: &Arc<Ctx>, i: StageIdx, adopted: bool) -> Step<Backup> {
    let c = ctx.clone();
    blocking(move || {
        let st = &c.graph[i];
        if adopted {
            Ok(Backup::adopt(&c.ws, st))
        } else {
            Backup::take(&c.ws, st)
        }
    })
    .await?
    .map_err(pipe_failed)
}

/// Runs the stage's job until it succeeds, is cancelled, or fails with no attempt left (the
/// stage's `retries`); what a failed attempt left at the outs goes before the next.
async fn attempts(
    ctx: &Arc<Ctx>,
    stage: &Stage,
    grant: &Grant,
    backup: &Backup,
    log: &Path,
    key: &str,
) -> Result<Exit, Error> {
    let attempts = stage.retries + 1;
    let mut attempt = 1;
    loop {
        let job = build_job(ctx, stage, grant, attempt, log, key)?;
        let exit = run_job(ctx, stage, &job).await?;
        let Exit::Failed { how, retry: true } = &exit else {
            return Ok(exit);
        };
        if attempt == attempts || ctx.cancel.is_cancelled() {
            return Ok(exit);
        }
        attempt += 1;
        ctx.emit(Event::Retrying {
            stage: stage.id.as_str(),
            attempt,
            attempts,
            why: how.to_string(),
        });
        backup.clear_outs()?;
    }
}

/// One attempt of the job. The lock is marked before its command starts and after it
/// ends, so that other processes' runs do not trust what they observed before it wrote.
async fn run_job(ctx: &Arc<Ctx>, stage: &Stage, job: &Job) -> Result<Exit, SchedError> {
    // Marked before too: a process killed while its command runs marks nothing after.
    if let Err(e) = mark(ctx).await {
        ctx.emit(Event::ExecProblem {
            message: format!(
                "cannot mark the lock before stage {}'s command starts ({e}): another \
                 pipe process running in this workspace may not see what it writes",
                stage.id
            ),
        });
    }
    let ran = ctx.exec.run(job, ctx.cancel.clone(), &ctx.events).await;
    // Whatever the command wrote, declared or not, the stages deciding after it see, and
    // so do other processes' runs: the lock is marked (a success may still fail to be
    // recorded: an out missing).
    ctx.seen.forget_all();
    if let Err(e) = mark(ctx).await {
        ctx.emit(Event::ExecProblem {
            message: format!(
                "cannot mark the lock after stage {}'s command ended ({e}): another pipe \
                 process running in this workspace may not see what it wrote",
                stage.id
            ),
        });
    }
    ran.map_err(|source| SchedError::Start {
        stage: stage.id.clone(),
        source,
    })
}

/// Marks the lock (`Seen::mark`); a task that panicked marks nothing and says nothing.
async fn mark(ctx: &Arc<Ctx>) -> Result<(), crate::lock::LockError> {
    let c = ctx.clone();
    blocking(move || c.seen.mark(&c.ws)).await.unwrap_or(Ok(()))
}

/// Commits what a successful run made; a dep that changed while it ran is told, and keeps
/// the outs from being recorded as the result of any inputs.
async fn store(
    ctx: &Arc<Ctx>,
    i: StageIdx,
    inputs: Inputs,
    backup: Backup,
    log: PathBuf,
    started: Instant,
) -> Outcome {
    let c = ctx.clone();
    let committed = blocking(move || {
        let st = &c.graph[i];
        let changed = changed_deps(&c.ws, st, &inputs.deps)?;
        if !changed.is_empty() {
            tracing::debug!(stage = %st.id, ?changed, "deps changed during the run: no run-cache record");
        }
        for p in &changed {
            c.emit(Event::DepChangedDuringRun {
                stage: st.id.as_str(),
                path: p.as_str(),
            });
        }
        commit(&c.ws, st, &inputs, changed, Some(&c.seen))
    })
    .await;
    let stage = ctx.graph[i].id.clone();
    match committed {
        Ok(Ok(_)) => {
            backup.discard();
            Outcome::Ran(started.elapsed())
        }
        Ok(Err(Error::Contract(error))) => failed(Failure::Contract {
            error: *error,
            log,
            restore: backup.restore().err(),
        }),
        Ok(Err(e)) => pipe_failed(SchedError::Store {
            stage,
            source: Box::new(e),
            restore: backup.restore().err().map(Box::new),
        }),
        Err(o) => o,
    }
}

/// The deps whose content after the run differs from what was hashed before it (or that
/// are gone): observed again through the state db, so an unchanged dep costs a stat.
fn changed_deps(
    ws: &crate::workspace::Workspace,
    stage: &Stage,
    before: &BTreeMap<WsPath, Summary>,
) -> crate::error::Result<Vec<WsPath>> {
    let paths: Vec<&WsPath> = stage.deps.iter().collect();
    let clock = ws.state.clock()?;
    let now = crate::run::observe::digest_all_at(ws, &paths, clock)?;
    Ok(stage
        .deps
        .iter()
        .zip(now)
        .filter(|(p, n)| match (before.get(p.as_str()), n) {
            (Some(b), Some(n)) => b.digest != n.digest,
            _ => true,
        })
        .map(|(p, _)| p.clone())
        .collect())
}

/// The job of one attempt: what runs (written under `.pipe/tmp/`: the params it reads,
/// a built-in's invocation), where, with which environment.
fn build_job(
    ctx: &Ctx,
    stage: &Stage,
    grant: &Grant,
    attempt: u32,
    log: &Path,
    key: &str,
) -> Result<Job, SchedError> {
    let ws = &ctx.ws;
    let params_file = ws
        .tmp()
        .join("params")
        .join(format!("{}.json", stage.id.file_name()));
    let params_json = serde_json::to_vec_pretty(&crate::spec::null::to_json(&toml::Value::Table(
        stage.param_tables.clone(),
    )))?;
    pipe_cache::fsutil::write_atomic(&params_file, &params_json, false)?;
    Ok(Job {
        stage: stage.id.to_string(),
        program: program(ctx, stage)?,
        cwd: stage.wdir.to_abs(&ws.root),
        env: job_env(ctx, stage, grant, attempt, &params_file),
        log: log.to_path_buf(),
        attempt,
        request: crate::exec::Request {
            group: stage.id.name().to_string(),
            key: key.to_string(),
            cpus: stage.resources.cpus,
            mem: stage.resources.mem,
            gpus: stage.resources.gpus,
            time: stage.placement.time,
            partition: stage.placement.partition.clone(),
            local: stage.placement.local,
        },
    })
}

/// The variables a stage's command sees besides pipe's own environment.
fn job_env(
    ctx: &Ctx,
    stage: &Stage,
    grant: &Grant,
    attempt: u32,
    params_file: &Path,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("PIPE_STAGE".to_string(), stage.id.to_string()),
        ("PIPE_ATTEMPT".to_string(), attempt.to_string()),
        (
            "PIPE_WORKSPACE".to_string(),
            ctx.ws.root.display().to_string(),
        ),
        ("PIPE_CPUS".to_string(), grant.cpus.to_string()),
        ("PIPE_PARAMS".to_string(), params_file.display().to_string()),
    ];
    if let Some(c) = &stage.cell {
        env.push(("PIPE_CELL".to_string(), c.cell.clone()));
        env.push(("PIPE_SWEEP".to_string(), c.sweep.clone()));
    }
    if std::env::var_os("OMP_NUM_THREADS").is_none() {
        env.push(("OMP_NUM_THREADS".to_string(), grant.cpus.to_string()));
    }
    if stage.resources.gpus > 0 {
        env.push(("CUDA_VISIBLE_DEVICES".to_string(), grant.gpus.join(",")));
    }
    env
}

/// What runs: the stage's commands, or `pipe-torch builtin <invocation.json>`.
fn program(ctx: &Ctx, stage: &Stage) -> Result<Program, SchedError> {
    match &stage.kind {
        StageKind::Cmd(cmds) => Ok(Program::Shell(cmds.clone())),
        StageKind::Data => Err(SchedError::TrackedData {
            stage: stage.id.clone(),
        }),
        StageKind::Builtin(uses) => {
            let path = ctx
                .ws
                .tmp()
                .join("invocations")
                .join(format!("{}.json", stage.id.file_name()));
            let inv = invocation(stage, &ctx.ws.root, uses);
            let bytes = serde_json::to_vec_pretty(&inv)?;
            pipe_cache::fsutil::write_atomic(&path, &bytes, false)?;
            Ok(Program::Exec {
                program: crate::builtin::runner()?,
                args: vec!["builtin".into(), path.into_os_string()],
            })
        }
    }
}

/// What a built-in stage is handed: its params and absolute paths.
fn invocation(stage: &Stage, root: &Path, uses: &str) -> Invocation {
    let abs = |role: OutRole| -> Vec<PathBuf> {
        stage.outs_of(role).map(|o| o.path.to_abs(root)).collect()
    };
    Invocation {
        stage: stage.id.to_string(),
        uses: uses.to_string(),
        params: stage.param_tables.clone(),
        deps: stage.deps.iter().map(|d| d.to_abs(root)).collect(),
        outs: abs(OutRole::Out),
        metrics: abs(OutRole::Metric),
        plots: abs(OutRole::Plot),
    }
}

#[cfg(all(test, feature = "torch"))]
mod tests {
    use super::*;
    use crate::graph::Graph;

    /// The invocation file holds what the `json!` that built it before held (the same JSON
    /// value, keys in the struct's order), and `pipe-torch` reads it back as it was.
    #[test]
    fn a_builtins_invocation_is_the_json_the_runner_reads() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::write(
            d.path().join("params.toml"),
            "[train]\nlr = 0.001\nepochs = 2\n",
        )
        .expect("params");
        std::fs::create_dir_all(d.path().join("data/sets")).expect("dep");
        std::fs::write(
            d.path().join("pipe.toml"),
            "[stage.train]\nuses = \"train\"\ndeps = [\"data/sets\"]\nouts = [\"model\"]\n\
             metrics = [\"metrics.json\"]\nplots = [\"curve.csv\"]\n",
        )
        .expect("pipeline");
        let spec = crate::spec::load(&d.path().join("pipe.toml")).expect("spec");
        let graph = Graph::build(&spec).expect("graph");
        let stage = &graph[graph.find("train").expect("train")];
        let root = Path::new("/w");
        let inv = invocation(stage, root, "train");
        let bytes = serde_json::to_vec_pretty(&inv).expect("encode");
        let abs = |role: OutRole| -> Vec<String> {
            stage
                .outs_of(role)
                .map(|o| o.path.to_abs(root).display().to_string())
                .collect()
        };
        let before = serde_json::json!({
            "stage": stage.id.as_str(),
            "uses": "train",
            "params": stage.param_tables,
            "deps": stage.deps.iter().map(|d| d.to_abs(root).display().to_string()).collect::<Vec<_>>(),
            "outs": abs(OutRole::Out),
            "metrics": abs(OutRole::Metric),
            "plots": abs(OutRole::Plot),
        });
        let now: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(now, before);
        assert_eq!(now["params"]["train"]["lr"], 0.001);
        assert_eq!(now["deps"][0], "/w/data/sets");
        let read: Invocation = serde_json::from_slice(&bytes).expect("read back");
        assert_eq!(read.outs, [PathBuf::from("/w/model")]);
        assert_eq!(read.metrics, [PathBuf::from("/w/metrics.json")]);
        assert_eq!(read.plots, [PathBuf::from("/w/curve.csv")]);
    }
}
