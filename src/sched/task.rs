//! One stage instance through a run: lock its paths, observe it, ask
//! [`decide`](crate::run::decide::decide), then restore it from the run cache (local, or
//! the remote with `--pull`) or run it (with retries) and commit it under the key the
//! decision computed. What happens is told as [`Event`]s; nothing here prints.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::StageExit;
use crate::exec::{Exit, Job, Program};
use crate::graph::{Stage, StageKind};
use crate::lock::LockEntry;
use crate::pathlock::{self, Busy, Held, Mode};
use crate::run::backup::Backup;
use crate::run::commit::commit;
use crate::run::decide::{self, Decision, Inputs, decide};
use crate::run::fresh::DirtyReason;
use crate::run::restore::OutRef;
use crate::run::runcache::RunRecord;
use crate::spec::OutRole;
use crate::wspath::WsPath;
use pipe_cache::Summary;

use super::Ctx;
use super::event::Event;

#[derive(Debug, Clone)]
pub enum Outcome {
    Fresh,
    Frozen,
    Restored,
    Ran(Duration),
    /// The stage failed (its command, or it broke its contract), or, with `env`, pipe
    /// could not do its part (store the outs, read a file).
    Failed {
        msg: String,
        log: Option<PathBuf>,
        env: bool,
        /// How the stage ended (`Other` when pipe failed, `env`).
        exit: StageExit,
    },
    Skipped(String),
    Cancelled,
    /// Submitted to a cluster and left running (`--detach`): the job id.
    Detached(String),
}

impl Outcome {
    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::Cancelled)
    }
}

/// pipe could not do its part.
fn fail(msg: impl Into<String>) -> Outcome {
    Outcome::Failed {
        msg: msg.into(),
        log: None,
        env: true,
        exit: StageExit::Other,
    }
}

pub async fn process(ctx: Arc<Ctx>, i: usize) -> Outcome {
    let (held, waited) = match take_locks(&ctx, i).await {
        Ok(h) => h,
        Err(o) => return o,
    };
    let out = decide_and_run(&ctx, i, waited).await;
    drop(held);
    out
}

/// Exclusive locks on the stage's outs, shared ones on what it reads (and on the outs in or
/// around it).
async fn take_locks(ctx: &Ctx, i: usize) -> Result<(Held, bool), Outcome> {
    let stage = &ctx.graph.stages[i];
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
            Ok(h) => return Ok((h, waited)),
            Err(Busy::Io(p, e)) => return Err(fail(format!("cannot lock {}: {e}", p.display()))),
            Err(Busy::Held { path, holder }) => {
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

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<T, Outcome>> {
    let h = tokio::task::spawn_blocking(f);
    async move { h.await.map_err(|e| fail(format!("internal error: {e}"))) }
}

async fn decide_and_run(ctx: &Arc<Ctx>, i: usize, waited: bool) -> Outcome {
    let stage = &ctx.graph.stages[i];
    let id = stage.id.to_string();
    // Another process may have just run this stage: read its entry again.
    let entry: Option<LockEntry> = if waited {
        match ctx.ws.lock.read() {
            Ok(l) => l.get(&id).cloned(),
            Err(e) => return fail(e.to_string()),
        }
    } else {
        ctx.lock.get(&id).cloned()
    };
    let opts = decide::Options {
        force: ctx.opts.force,
        no_run_cache: ctx.opts.no_run_cache,
        compare_data: false,
    };
    let (observed, decision) = {
        let c = ctx.clone();
        match blocking(move || -> crate::error::Result<_> {
            let st = &c.graph.stages[i];
            let observed = c.seen.observe(&c.ws, st, waited)?;
            let d = decide(&c.ws, st, entry.as_ref(), &observed, &[], opts);
            if d.is_stale() {
                // It is about to be rewritten (restored or run): what the run saw is stale.
                let outs: Vec<&WsPath> = st.outs.iter().map(|o| &o.path).collect();
                c.seen.forget(&outs);
            }
            Ok((observed, d))
        })
        .await
        {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return fail(e.to_string()),
            Err(o) => return o,
        }
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
                ctx.emit(Event::Quarantined { stage: &id, error });
            }
            (reasons, inputs, looked_up)
        }
    };
    let Some(inputs) = inputs else {
        let missing = observed
            .deps
            .iter()
            .find(|(_, h)| h.is_none())
            .map_or("?", |(p, _)| p.as_str());
        return fail(format!("dep `{missing}` of stage `{id}` does not exist"));
    };
    if looked_up && let Some(remote) = &ctx.opts.pull {
        match pull(ctx, i, remote, &inputs).await {
            Ok(true) => {
                tracing::debug!(stage = %id, key = %inputs.key, "restored through the remote");
                return Outcome::Restored;
            }
            Ok(false) => {}
            Err(o) => return o,
        }
    }
    run(ctx, i, inputs, reasons).await
}

/// Checks a run-cache hit's outs out and records the stage's lock entry.
async fn restore(
    ctx: &Arc<Ctx>,
    i: usize,
    inputs: Inputs,
    outs: Vec<OutRef>,
    record: RunRecord,
) -> Result<(), Outcome> {
    let c = ctx.clone();
    blocking(move || -> crate::error::Result<()> {
        let st = &c.graph.stages[i];
        let entry = LockEntry::of_run(st, &inputs, record.outs);
        crate::run::restore::checkout(&c.ws, &outs)?;
        c.seen.record(&c.ws, st.id.as_str(), &entry)?;
        Ok(())
    })
    .await?
    .map_err(|e| fail(e.to_string()))
}

/// `repro --pull`: the local run cache missed; the remote's record, or the local record's
/// objects from the remote, may still make a hit.
async fn pull(
    ctx: &Arc<Ctx>,
    i: usize,
    remote: &Arc<crate::remote::RunRemote>,
    inputs: &Inputs,
) -> Result<bool, Outcome> {
    let stage = &ctx.graph.stages[i];
    let record = match ctx.ws.store.get_record(&inputs.key) {
        Ok(Some(bytes)) => RunRecord::decode_for(&bytes, stage).ok(),
        Ok(None) => None,
        Err(e) => return Err(fail(e.to_string())),
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

async fn run(ctx: &Arc<Ctx>, i: usize, inputs: Inputs, reasons: Vec<DirtyReason>) -> Outcome {
    let stage = &ctx.graph.stages[i];
    let id = stage.id.to_string();
    let fitted = match ctx.pool.fit(stage.resources) {
        Ok(r) => r,
        Err(m) => return fail(format!("stage `{id}` {m}")),
    };
    let mut cancel = ctx.cancel.clone();
    let grant = tokio::select! {
        g = ctx.pool.acquire(fitted) => g,
        _ = cancel.cancelled() => return Outcome::Cancelled,
    };
    if ctx.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return Outcome::Skipped("not started: the run stopped after a failure".into());
    }
    // Hook for cluster executors: a job an earlier pipe process submitted for this very
    // instance is adopted, and its outs are not moved aside (the job is writing them).
    let key = inputs.key.to_string();
    let adopted = ctx.exec.adopt(stage.id.as_str(), &key);
    if adopted {
        tracing::debug!(stage = %id, key, "adopting the cluster job an earlier pipe submitted");
    }
    ctx.emit(Event::Running {
        stage: &id,
        reasons: &reasons,
    });
    let started = Instant::now();
    let backup = {
        let c = ctx.clone();
        match blocking(move || {
            let st = &c.graph.stages[i];
            if adopted {
                Ok(Backup::adopt(&c.ws, st))
            } else {
                Backup::take(&c.ws, st)
            }
        })
        .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return fail(e.to_string()),
            Err(o) => return o,
        }
    };
    let log = ctx.ws.logs().join(format!("{}.log", stage.id.file_name()));
    let attempts = stage.retries + 1;
    let mut exit = Exit::Cancelled;
    for attempt in 1..=attempts {
        let job = match build_job(ctx, stage, &grant, attempt, &log, &key) {
            Ok(j) => j,
            Err(e) => {
                let _ = backup.restore();
                return fail(e);
            }
        };
        // Marked before too: a process killed while its command runs marks nothing after,
        // yet other runs must not trust what they observed before the command started.
        let c = ctx.clone();
        if let Ok(Err(e)) = blocking(move || c.seen.mark(&c.ws)).await {
            ctx.emit(Event::ExecProblem {
                message: format!(
                    "cannot mark the lock before stage {id}'s command starts ({e}): another \
                     pipe process running in this workspace may not see what it writes"
                ),
            });
        }
        let ran = ctx.exec.run(&job, ctx.cancel.clone(), &ctx.events).await;
        // Whatever the command wrote, declared or not, the stages deciding after it see, and
        // so do other processes' runs: the lock is marked (a success may still fail to be
        // recorded: an out missing).
        ctx.seen.forget_all();
        let c = ctx.clone();
        if let Ok(Err(e)) = blocking(move || c.seen.mark(&c.ws)).await {
            ctx.emit(Event::ExecProblem {
                message: format!(
                    "cannot mark the lock after stage {id}'s command ended ({e}): another pipe \
                     process running in this workspace may not see what it wrote"
                ),
            });
        }
        exit = match ran {
            Ok(x) => x,
            Err(e) => {
                let _ = backup.restore();
                return fail(format!("cannot start stage `{id}`: {e}"));
            }
        };
        match &exit {
            _ if exit.retryable() && attempt < attempts && !ctx.cancel.is_cancelled() => {
                ctx.emit(Event::Retrying {
                    stage: &id,
                    attempt: attempt + 1,
                    attempts,
                    why: exit.describe(),
                });
                if let Err(e) = backup.clear_outs() {
                    let _ = backup.restore();
                    return fail(e.to_string());
                }
            }
            _ => break,
        }
    }
    drop(grant);
    match exit {
        Exit::Success => {}
        Exit::Cancelled => {
            let _ = backup.restore();
            return Outcome::Cancelled;
        }
        Exit::Detached { job } => {
            // The job writes the outs now; the old ones are not coming back.
            backup.discard();
            return Outcome::Detached(job);
        }
        failed => {
            let restored = backup.restore();
            let mut msg = format!("stage `{id}` {}", failed.describe());
            if let Err(e) = restored {
                msg.push_str(&format!("; restoring its previous outs failed: {e}"));
            }
            return Outcome::Failed {
                msg,
                log: Some(log),
                env: false,
                exit: failed.stage_exit(),
            };
        }
    }
    let c = ctx.clone();
    let committed = blocking(move || {
        let st = &c.graph.stages[i];
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
    match committed {
        Ok(Ok(_)) => {
            backup.discard();
            Outcome::Ran(started.elapsed())
        }
        Ok(Err(e)) => {
            let restored = backup.restore();
            let env = !matches!(e, crate::error::Error::StageFailed { .. });
            let mut msg = if env {
                format!("stage `{id}` ran, but its outs could not be stored: {e}")
            } else {
                e.to_string()
            };
            if let Err(r) = restored {
                msg.push_str(&format!("; restoring the previous outs failed: {r}"));
            }
            Outcome::Failed {
                msg,
                log: (!env).then_some(log),
                env,
                exit: StageExit::Other,
            }
        }
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

fn build_job(
    ctx: &Ctx,
    stage: &Stage,
    grant: &super::resources::Grant,
    attempt: u32,
    log: &std::path::Path,
    key: &str,
) -> Result<Job, String> {
    let ws = &ctx.ws;
    let tmp = ws.tmp();
    let params_file = tmp
        .join("params")
        .join(format!("{}.json", stage.id.file_name()));
    let params_json = serde_json::to_vec_pretty(&stage.param_tables).map_err(|e| e.to_string())?;
    pipe_cache::fsutil::write_atomic(&params_file, &params_json, false)
        .map_err(|e| e.to_string())?;
    let mut env = vec![
        ("PIPE_STAGE".to_string(), stage.id.to_string()),
        ("PIPE_ATTEMPT".to_string(), attempt.to_string()),
        ("PIPE_WORKSPACE".to_string(), ws.root.display().to_string()),
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
    let cwd = stage.wdir.to_abs(&ws.root);
    let program = match &stage.kind {
        StageKind::Cmd(cmds) => Program::Shell(cmds.clone()),
        StageKind::Data => {
            return Err(format!(
                "`{}` is tracked data: record it with `pipe add`, it is never run",
                stage.id
            ));
        }
        StageKind::Builtin(name) => {
            let abs = |role: OutRole| -> Vec<String> {
                stage
                    .outs_of(role)
                    .map(|o| o.path.to_abs(&ws.root).display().to_string())
                    .collect()
            };
            let inv = serde_json::json!({
                "stage": stage.id.as_str(),
                "uses": name,
                "params": stage.param_tables,
                "deps": stage.deps.iter().map(|d| d.to_abs(&ws.root).display().to_string()).collect::<Vec<_>>(),
                "outs": abs(OutRole::Out),
                "metrics": abs(OutRole::Metric),
                "plots": abs(OutRole::Plot),
            });
            let path = tmp
                .join("invocations")
                .join(format!("{}.json", stage.id.file_name()));
            let bytes = serde_json::to_vec_pretty(&inv).map_err(|e| e.to_string())?;
            pipe_cache::fsutil::write_atomic(&path, &bytes, false).map_err(|e| e.to_string())?;
            Program::Exec {
                program: crate::builtin::runner()?,
                args: vec!["builtin".into(), path.into_os_string()],
            }
        }
    };
    Ok(Job {
        stage: stage.id.to_string(),
        program,
        cwd,
        env,
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
