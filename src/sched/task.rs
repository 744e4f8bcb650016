//! One stage instance through a run: lock its paths, observe it, decide, then restore it
//! from the run cache or run it (with retries) and commit it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backup::Backup;
use crate::commit::commit;
use crate::exec::{Exit, Job, Program};
use crate::fresh::{self, DirtyReason, Freshness};
use crate::graph::{Stage, StageKind};
use crate::lock::{HashInfo, LockEntry};
use crate::observe::observe;
use crate::pathlock::{self, Busy, Held, Mode};
use crate::report::printer::{self, Tone};
use crate::runcache::{KeyParts, RunRecord};
use crate::spec::OutRole;
use crate::wspath::WsPath;

use super::Ctx;

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

/// Exclusive locks on the stage's outs, shared ones on what it reads.
async fn take_locks(ctx: &Ctx, i: usize) -> Result<(Held, bool), Outcome> {
    let stage = &ctx.graph.stages[i];
    let mut want = BTreeMap::new();
    for o in &stage.outs {
        pathlock::want(&mut want, &o.path, Mode::Exclusive);
    }
    for d in &stage.deps {
        let target = ctx
            .graph
            .producer_of(d)
            .and_then(|p| {
                ctx.graph.stages[p]
                    .outs
                    .iter()
                    .find(|o| d.overlaps(&o.path))
                    .map(|o| o.path.clone())
            })
            .unwrap_or_else(|| d.clone());
        pathlock::want(&mut want, &target, Mode::Shared);
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
                    let by = holder.map(|h| format!(", held by {h}")).unwrap_or_default();
                    printer::get().verb(
                        "Waiting",
                        Tone::Warn,
                        &format!(
                            "for {path} (another pipe process is using it{by}) before {}",
                            stage.id
                        ),
                    );
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
    let observed = {
        let c = ctx.clone();
        match blocking(move || observe(&c.ws, &c.graph.stages[i])).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return fail(e.to_string()),
            Err(o) => return o,
        }
    };
    let freshness = fresh::check(&fresh::Check {
        frozen: stage.frozen,
        forced: ctx.opts.force,
        always_changed: stage.always_changed,
        lock: entry.as_ref(),
        observed: &observed,
        upstream: &[],
    });
    let reasons = match freshness {
        Freshness::Fresh => return Outcome::Fresh,
        Freshness::Frozen => return Outcome::Frozen,
        Freshness::Dirty(r) => r,
    };
    let mut deps = BTreeMap::new();
    for (p, h) in &observed.deps {
        match h {
            Some(h) => {
                deps.insert(p.clone(), h.clone());
            }
            None => {
                return fail(format!("dep `{p}` of stage `{id}` does not exist"));
            }
        }
    }

    if !ctx.opts.no_run_cache && !ctx.opts.force && stage.restorable() {
        let key = KeyParts::of(stage, &deps).key();
        match try_restore(ctx, i, key, &deps, &observed.env).await {
            Ok(true) => return Outcome::Restored,
            Ok(false) => {}
            Err(o) => return o,
        }
    }

    let why = describe(&reasons);
    run(ctx, i, deps, observed.env.clone(), why).await
}

fn describe(reasons: &[DirtyReason]) -> String {
    let verbose = printer::get().verbose() > 0;
    match reasons.split_first() {
        None => String::new(),
        Some((first, rest)) if rest.is_empty() || verbose => {
            let all: Vec<String> = std::iter::once(first)
                .chain(rest)
                .map(ToString::to_string)
                .collect();
            all.join(", ")
        }
        Some((first, rest)) => format!("{first} (and {} more)", rest.len()),
    }
}

async fn try_restore(
    ctx: &Arc<Ctx>,
    i: usize,
    key: pipe_cache::Digest,
    deps: &BTreeMap<String, HashInfo>,
    env: &BTreeMap<String, String>,
) -> Result<bool, Outcome> {
    let stage = &ctx.graph.stages[i];
    let record = match ctx.ws.store.get_record(&key) {
        Ok(Some(bytes)) => RunRecord::decode(&bytes),
        Ok(None) => None,
        Err(e) => return Err(fail(e.to_string())),
    };
    // Local first; with `--pull`, the remote behind it (a record, then its objects).
    let record = match (record, &ctx.opts.pull) {
        (Some(r), _) => r,
        (None, Some(remote)) => match remote.record(&ctx.ws, &key).await {
            Some(r) => r,
            None => return Ok(false),
        },
        (None, None) => return Ok(false),
    };
    let Some(outs) = crate::restore::outs_from(stage, &record.outs) else {
        return Ok(false);
    };
    let present = {
        let (c, o) = (ctx.clone(), outs.clone());
        blocking(move || crate::restore::objects_present(&c.ws.store, &o)).await?
    };
    if !present {
        let Some(remote) = &ctx.opts.pull else {
            return Ok(false);
        };
        if !remote.fetch(&ctx.ws, stage.id.as_str(), &outs).await {
            return Ok(false);
        }
    }
    let entry = LockEntry::new(stage, env.clone(), deps.clone(), record.outs.clone());
    let (c, o) = (ctx.clone(), outs);
    let id = stage.id.to_string();
    blocking(move || -> crate::error::Result<()> {
        crate::restore::checkout(&c.ws, &o)?;
        c.ws.lock.record(&id, Some(&entry))?;
        Ok(())
    })
    .await?
    .map_err(|e| fail(e.to_string()))?;
    Ok(true)
}

async fn run(
    ctx: &Arc<Ctx>,
    i: usize,
    deps: BTreeMap<String, HashInfo>,
    env: BTreeMap<String, String>,
    why: String,
) -> Outcome {
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
    let key = KeyParts::of(stage, &deps).key().to_string();
    let adopted = ctx.exec.adopt(stage.id.as_str(), &key);
    printer::get().verb("Running", Tone::Good, &format!("{id}: {why}"));
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
        exit = match ctx.exec.run(&job, ctx.cancel.clone()).await {
            Ok(x) => x,
            Err(e) => {
                let _ = backup.restore();
                return fail(format!("cannot start stage `{id}`: {e}"));
            }
        };
        match &exit {
            _ if exit.retryable() && attempt < attempts && !ctx.cancel.is_cancelled() => {
                printer::get().verb(
                    "Retrying",
                    Tone::Warn,
                    &format!(
                        "{id} (attempt {} of {attempts}): it {}",
                        attempt + 1,
                        exit.describe()
                    ),
                );
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
            };
        }
    }
    let c = ctx.clone();
    let committed = blocking(move || {
        let st = &c.graph.stages[i];
        let changed = changed_deps(&c.ws, st, &deps)?;
        for p in &changed {
            printer::get().warn(&format!(
                "dep {p} changed while stage {} ran: its outs are kept but not recorded as \
                 the result of any inputs; the stage stays stale until it runs again",
                st.id
            ));
        }
        commit(&c.ws, st, &deps, &env, changed)
    })
    .await;
    match committed {
        Ok(Ok(_)) => {
            backup.discard();
            Outcome::Ran(started.elapsed())
        }
        Ok(Err(e)) => {
            let restored = backup.restore();
            let env = !matches!(e, crate::error::Error::StageFailed(_));
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
    before: &BTreeMap<String, HashInfo>,
) -> crate::error::Result<Vec<String>> {
    let paths: Vec<&WsPath> = stage.deps.iter().collect();
    let clock = ws.state.clock()?;
    let now = crate::observe::digest_all_at(ws, &paths, clock)?;
    Ok(stage
        .deps
        .iter()
        .zip(now)
        .filter(|(p, n)| match (before.get(p.as_str()), n) {
            (Some(b), Some(n)) => b.digest != n.digest,
            _ => true,
        })
        .map(|(p, _)| p.to_string())
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
