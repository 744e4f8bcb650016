//! The Slurm executor: each stage instance runs as a Slurm job on a cluster whose nodes
//! share the workspace and cache with the submitting host; this process still decides what
//! is stale, and hashes, caches and commits outs after each job ends.
//!
//! Flow of one [`Slurm::run`]:
//! 1. `local = true`: the job runs here, as under the local executor.
//! 2. A job recorded by an earlier pipe process for this very instance (see
//!    [`Slurm::adopt`], called by the scheduler before it moves outs aside) is waited for
//!    instead of submitting another.
//! 3. Otherwise the job goes to the collector, which gathers the jobs handed to it within a
//!    short window (quiet for 200 ms, at most 2 s) and submits each group of instances of
//!    one stage with equal requests as one job array (`--array=0-N%max_jobs`), any other
//!    job alone; each task runs the wrapper of `script.rs`. The job id is recorded under
//!    `.pipe/slurm/jobs/` (`record.rs`) at once. `--detach` returns here.
//! 4. The poller watches every job of the run: every 250 ms it looks for the jobs' exit
//!    status files (a stat each, no Slurm call; a success is final at once), and it calls
//!    `squeue` once for all jobs every poll interval, backing off from 1 s to `poll` while
//!    nothing changes (so at most 60 and, steady, 60/`poll` calls a minute). A job no longer
//!    listed is judged by its status file, else by `scontrol show job`; `sacct` is never
//!    needed. State changes print as `Queued` (with Slurm's reason) and `Started` (with the
//!    node).
//! 5. Ctrl-C / SIGTERM: one `scancel` for every job of the run, waiting until squeue lists
//!    none of them as queued or running.
//!
//! What it could not do (Slurm's commands missing, the probe, a submission) is a
//! [`SlurmError`] (`error.rs`); what it asked of Slurm in a run is an [`Asked`], which the
//! command reports.

mod error;
mod probe;
pub mod query;
pub mod record;
pub mod sbatch;
pub mod script;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::{Cancel, ExecError, Exit, Job, Request};
use crate::config::ExecutorConfig;
use crate::error::StageExit;
use crate::events::{Event, Events, JobState};
pub use error::SlurmError;
use record::Record;
use script::Status;

/// Status files are looked at this often (no Slurm call).
const TICK: Duration = Duration::from_millis(250);
/// The collector submits once no job arrived for this long...
const QUIET: Duration = Duration::from_millis(200);
/// ...or this long after the first.
const WINDOW: Duration = Duration::from_secs(2);
/// How long a shared filesystem may take to show a status file after the job ended.
const STATUS_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
enum State {
    Waiting,
    Done(Exit),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shown {
    Nothing,
    Queued(String),
    Running(String),
}

struct Watched {
    stage: String,
    status: PathBuf,
    slurm_log: PathBuf,
    tx: watch::Sender<State>,
    shown: Shown,
    /// When the job was first seen ended (or gone) without a status file.
    ended_without_status: Option<Instant>,
    /// squeue calls that did not list it.
    unlisted: u32,
}

/// The submitter's answer to a stage: the job id, and its state to wait on (none when the
/// run detaches); or why it was not submitted (one error for every job of a submission).
type Reply = Result<(String, Option<watch::Receiver<State>>), Arc<SlurmError>>;

struct Pending {
    job: Job,
    reply: oneshot::Sender<Reply>,
}

/// Answers every job of a submission that did not happen with why.
fn refuse(members: Vec<Pending>, e: SlurmError) {
    let e = Arc::new(e);
    for p in members {
        let _ = p.reply.send(Err(e.clone()));
    }
}

/// What one `sbatch` call submits: the script, Slurm's output file (with `%j`, or `%A` and
/// `%a` for an array) and the job's name.
struct Submission {
    script: PathBuf,
    output: PathBuf,
    name: String,
}

impl Submission {
    /// Slurm's log of task `i` of job `id`.
    fn log_of(&self, id: &str, i: usize) -> PathBuf {
        let name = self
            .output
            .file_name()
            .map(|f| {
                f.to_string_lossy()
                    .replace("%j", id)
                    .replace("%A", id)
                    .replace("%a", &i.to_string())
            })
            .unwrap_or_default();
        self.output.with_file_name(name)
    }
}

#[derive(Default)]
struct Inner {
    watched: HashMap<String, Watched>,
    /// Records of earlier processes, by stage, not yet adopted or dismissed.
    records: HashMap<String, Record>,
    /// Jobs squeue listed as queued or running when this run started.
    live_at_start: HashSet<String>,
    adopted: HashMap<String, Record>,
}

#[derive(Default)]
struct Stats {
    submissions: usize,
    arrays: usize,
    jobs: usize,
    adopted: usize,
    squeue: usize,
    scontrol: usize,
    seen_ms: Vec<u64>,
}

pub struct Slurm {
    dot: PathBuf,
    root: PathBuf,
    cfg: ExecutorConfig,
    detach: bool,
    run_id: String,
    inner: Mutex<Inner>,
    stats: Mutex<Stats>,
    wake: Notify,
    submit: OnceLock<mpsc::UnboundedSender<Pending>>,
    in_flight: AtomicUsize,
    cancelling: AtomicBool,
    cancelled: tokio::sync::OnceCell<()>,
    started: Instant,
    /// Where what the executor sees goes (its own tasks outlive any one job's call).
    events: Events,
}

/// The client commands pipe calls.
const COMMANDS: [&str; 4] = ["sbatch", "squeue", "scontrol", "scancel"];

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(cmd);
            std::fs::metadata(&f).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}

impl Slurm {
    /// Checks that Slurm's commands are here and that the nodes see the workspace, and
    /// reads the jobs earlier pipe processes left.
    pub fn start(
        dot: &Path,
        root: &Path,
        cfg: &ExecutorConfig,
        detach: bool,
        events: Events,
    ) -> Result<Arc<Slurm>, SlurmError> {
        let missing: Vec<&str> = COMMANDS.iter().copied().filter(|c| !on_path(c)).collect();
        if !missing.is_empty() {
            return Err(SlurmError::NotOnPath { missing });
        }
        probe::check(dot, root, cfg, &events)?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let s = Slurm {
            dot: dot.to_path_buf(),
            root: root.to_path_buf(),
            cfg: cfg.clone(),
            detach,
            events,
            run_id: format!("{now:x}-{}", std::process::id()),
            inner: Mutex::new(Inner::default()),
            stats: Mutex::new(Stats::default()),
            wake: Notify::new(),
            submit: OnceLock::new(),
            in_flight: AtomicUsize::new(0),
            cancelling: AtomicBool::new(false),
            cancelled: tokio::sync::OnceCell::new(),
            started: Instant::now(),
        };
        s.load_records();
        Ok(Arc::new(s))
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records left by earlier processes, and which of their jobs are still in the queue
    /// (one squeue call).
    fn load_records(&self) {
        let records = record::load_all(&self.dot);
        if records.is_empty() {
            return;
        }
        let mut bases: Vec<&str> = records.iter().map(|r| query::base_id(&r.job)).collect();
        bases.sort_unstable();
        bases.dedup();
        let listed = std::process::Command::new("squeue")
            .args(["-h", "-r", "-t", "all", "-o", "%i|%T|%r|%N", "-j"])
            .arg(bases.join(","))
            .output()
            .map(|o| query::parse_squeue(&String::from_utf8_lossy(&o.stdout)))
            .unwrap_or_default();
        self.stats().squeue += 1;
        let mut inner = self.inner();
        for (id, l) in listed {
            if query::phase(&l.state) != query::Phase::Ended {
                inner.live_at_start.insert(id);
            }
        }
        for r in records {
            inner.records.insert(r.stage.clone(), r);
        }
    }

    /// Whether the next `run` of `stage` waits for a job an earlier process submitted (see
    /// [`super::Executor::adopt`]). A recorded job for other inputs is cancelled: it would
    /// write the same outs.
    pub fn adopt(&self, stage: &str, key: &str) -> bool {
        let mut inner = self.inner();
        let Some(rec) = inner.records.remove(stage) else {
            return false;
        };
        let live = inner.live_at_start.contains(&rec.job);
        if rec.key != key {
            if live {
                let _ = std::process::Command::new("scancel").arg(&rec.job).status();
                (self.events)(Event::Job {
                    stage,
                    job: &rec.job,
                    state: JobState::Superseded,
                });
            }
            record::remove(&self.dot, stage);
            return false;
        }
        match Status::read(&rec.status) {
            Some(s) if s.code == 0 => {}
            Some(s) => {
                (self.events)(Event::Job {
                    stage,
                    job: &rec.job,
                    state: JobState::Resubmitting { code: s.code },
                });
                record::remove(&self.dot, stage);
                return false;
            }
            None if live => {}
            None => {
                record::remove(&self.dot, stage);
                return false;
            }
        }
        inner.adopted.insert(stage.to_string(), rec);
        true
    }

    pub async fn run(self: &Arc<Self>, job: &Job, mut cancel: Cancel) -> Result<Exit, ExecError> {
        if job.request.local {
            return Ok(super::local::run(job, cancel, &self.events).await?);
        }
        self.start_tasks();
        let adopted = self.inner().adopted.remove(&job.stage);
        let (id, rx) = match adopted {
            Some(rec) if self.detach => {
                // Still running: leave it (and its record) to the run that collects.
                return Ok(Exit::Detached { job: rec.job });
            }
            Some(rec) => {
                (self.events)(Event::Job {
                    stage: &job.stage,
                    job: &rec.job,
                    state: JobState::Adopted,
                });
                self.stats().adopted += 1;
                let rx = self.watch(&rec.job, &rec.stage, &rec.status, &rec.slurm_log);
                (rec.job, Some(rx))
            }
            None => {
                let (tx, reply) = oneshot::channel();
                let sent = self.submit.get().is_some_and(|s| {
                    s.send(Pending {
                        job: job.clone(),
                        reply: tx,
                    })
                    .is_ok()
                });
                if !sent {
                    return Err(SlurmError::SubmitterStopped.into());
                }
                let answer = tokio::select! {
                    r = reply => r,
                    _ = cancel.cancelled() => {
                        self.cancel_all().await;
                        return Ok(Exit::Cancelled);
                    }
                };
                match answer {
                    Ok(Ok(x)) => x,
                    Ok(Err(e)) => return Err(ExecError::Slurm(e)),
                    Err(_) => return Err(SlurmError::SubmitterStopped.into()),
                }
            }
        };
        let Some(mut rx) = rx else {
            return Ok(Exit::Detached { job: id });
        };
        loop {
            if let State::Done(exit) = rx.borrow_and_update().clone() {
                return Ok(exit);
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Err(SlurmError::Lost { job: id }.into());
                    }
                }
                _ = cancel.cancelled() => {
                    self.cancel_all().await;
                    return Ok(Exit::Cancelled);
                }
            }
        }
    }

    fn start_tasks(self: &Arc<Self>) {
        self.submit.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(self.clone().collector(rx));
            if !self.detach {
                tokio::spawn(self.clone().poller());
            }
            tx
        });
    }

    fn watch(
        &self,
        id: &str,
        stage: &str,
        status: &Path,
        slurm_log: &Path,
    ) -> watch::Receiver<State> {
        let (tx, rx) = watch::channel(State::Waiting);
        self.inner().watched.insert(
            id.to_string(),
            Watched {
                stage: stage.to_string(),
                status: status.to_path_buf(),
                slurm_log: slurm_log.to_path_buf(),
                tx,
                shown: Shown::Nothing,
                ended_without_status: None,
                unlisted: 0,
            },
        );
        self.wake.notify_one();
        rx
    }

    /// Gathers the jobs handed over within a short window and submits them, arrays where
    /// instances of one stage share a request.
    async fn collector(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Pending>) {
        while let Some(first) = rx.recv().await {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let mut batch = vec![first];
            let opened = Instant::now();
            loop {
                let left = WINDOW.saturating_sub(opened.elapsed());
                if left.is_zero() {
                    break;
                }
                match tokio::time::timeout(QUIET.min(left), rx.recv()).await {
                    Ok(Some(p)) => batch.push(p),
                    _ => break,
                }
            }
            let mut groups: Vec<(Request, Vec<Pending>)> = Vec::new();
            for p in batch {
                let key = Request {
                    key: String::new(),
                    ..p.job.request.clone()
                };
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => v.push(p),
                    None => groups.push((key, vec![p])),
                }
            }
            for (n, (req, members)) in groups.into_iter().enumerate() {
                self.submit_group(&req, members, n).await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn status_path(&self, job: &Job) -> PathBuf {
        self.dot.join("slurm").join("status").join(format!(
            "{}.{}.{}",
            file_name(&job.stage),
            self.run_id,
            job.attempt
        ))
    }

    /// Submits `members` (jobs with equal requests) as one job, or one job array, and
    /// registers each: recorded for a later run, watched by the poller.
    async fn submit_group(&self, req: &Request, members: Vec<Pending>, n: usize) {
        if self.cancelling.load(Ordering::SeqCst) {
            return refuse(members, SlurmError::Interrupted);
        }
        let count = members.len();
        let statuses: Vec<PathBuf> = members.iter().map(|p| self.status_path(&p.job)).collect();
        let submission = match self.write_scripts(req, &members, &statuses, n) {
            Ok(x) => x,
            Err(e) => return refuse(members, SlurmError::Script(e)),
        };
        let args = sbatch::args(
            &self.cfg,
            req,
            &submission.name,
            &submission.output,
            &self.root,
            count,
        );
        let id = match sbatch::submit(&self.dot, &args, &submission.script).await {
            Ok(id) => id,
            Err(e) => return refuse(members, e),
        };
        {
            let mut st = self.stats();
            st.submissions += 1;
            st.arrays += usize::from(count > 1);
            st.jobs += count;
        }
        for (i, (p, status)) in members.into_iter().zip(statuses).enumerate() {
            let job_id = if count == 1 {
                id.clone()
            } else {
                format!("{id}_{i}")
            };
            let slurm_log = submission.log_of(&id, i);
            self.register(p, job_id, status, slurm_log);
        }
    }

    /// Writes the wrapper script of each member (one job: its own; an array: one per task
    /// and a driver that picks its task's), with the status files' directories.
    fn write_scripts(
        &self,
        req: &Request,
        members: &[Pending],
        statuses: &[PathBuf],
        n: usize,
    ) -> std::io::Result<Submission> {
        let scripts = self.dot.join("slurm").join("scripts").join(&self.run_id);
        let slurm_logs = self.dot.join("logs").join("slurm");
        std::fs::create_dir_all(&scripts)?;
        std::fs::create_dir_all(&slurm_logs)?;
        for s in statuses {
            if let Some(d) = s.parent() {
                std::fs::create_dir_all(d)?;
            }
            let _ = std::fs::remove_file(s);
        }
        if let [one] = members {
            let job = &one.job;
            let file = scripts.join(format!("{}.{}.sh", file_name(&job.stage), job.attempt));
            std::fs::write(&file, script::wrapper(job, &statuses[0]))?;
            return Ok(Submission {
                script: file,
                output: slurm_logs.join(format!("{}-%j.out", file_name(&job.stage))),
                name: format!("pipe-{}-{}", self.run_id, job.stage),
            });
        }
        let seq = self.stats().submissions + n;
        let dir = scripts.join(format!("array-{seq}"));
        std::fs::create_dir_all(&dir)?;
        for (i, p) in members.iter().enumerate() {
            std::fs::write(
                dir.join(format!("{i}.sh")),
                script::wrapper(&p.job, &statuses[i]),
            )?;
        }
        let driver = dir.join("array.sh");
        std::fs::write(
            &driver,
            format!(
                "#!/bin/sh\n# pipe: a job array, one wrapper per task\nexec sh {}/\"$SLURM_ARRAY_TASK_ID.sh\"\n",
                script::quote(&dir.to_string_lossy())
            ),
        )?;
        Ok(Submission {
            script: driver,
            output: slurm_logs.join(format!("{}-%A_%a.out", file_name(&req.group))),
            name: format!("pipe-{}-{}", self.run_id, req.group),
        })
    }

    /// A submitted job: recorded (so that a later run can adopt it), watched unless the
    /// run detaches, and answered to the stage waiting for it.
    fn register(&self, p: Pending, job_id: String, status: PathBuf, slurm_log: PathBuf) {
        let rec = Record {
            stage: p.job.stage.clone(),
            job: job_id.clone(),
            key: p.job.request.key.clone(),
            status: status.clone(),
            slurm_log: slurm_log.clone(),
            attempt: p.job.attempt,
            run: self.run_id.clone(),
        };
        if let Err(e) = record::write(&self.dot, &rec) {
            (self.events)(Event::ExecProblem {
                message: format!(
                    "cannot record Slurm job {job_id} under {}: {e}; a later run cannot adopt it",
                    record::dir(&self.dot).display()
                ),
            });
        }
        let rx = (!self.detach).then(|| self.watch(&job_id, &p.job.stage, &status, &slurm_log));
        let _ = p.reply.send(Ok((job_id, rx)));
    }

    /// Watches every job of the run until it ends.
    async fn poller(self: Arc<Self>) {
        let max = Duration::from_secs_f64(self.cfg.poll);
        let min = max.min(Duration::from_secs(1));
        let mut backoff = min;
        let mut next = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = self.wake.notified() => {}
            }
            let jobs: Vec<(String, PathBuf)> = self
                .inner()
                .watched
                .iter()
                .map(|(id, w)| (id.clone(), w.status.clone()))
                .collect();
            if jobs.is_empty() {
                backoff = min;
                continue;
            }
            let mut failed_status = false;
            for (id, status) in &jobs {
                match Status::read(status) {
                    Some(s) if s.code == 0 => self.resolve(id, Exit::Success, Some(&s)),
                    Some(_) => failed_status = true,
                    None => {}
                }
            }
            if !failed_status && Instant::now() < next {
                continue;
            }
            let ids: Vec<String> = self.inner().watched.keys().cloned().collect();
            if ids.is_empty() {
                continue;
            }
            let listed = match query::squeue(&ids).await {
                Ok(m) => m,
                Err(e) => {
                    (self.events)(Event::ExecProblem {
                        message: format!("{e} (trying again in {max:.0?})"),
                    });
                    next = Instant::now() + max;
                    continue;
                }
            };
            self.stats().squeue += 1;
            let mut changed = false;
            for id in &ids {
                match listed.get(id) {
                    Some(l) => match query::phase(&l.state) {
                        query::Phase::Queued => {
                            let why = if l.reason.is_empty() {
                                l.state.clone()
                            } else {
                                l.reason.clone()
                            };
                            changed |= self.show(id, Shown::Queued(why));
                        }
                        query::Phase::Running => {
                            changed |= self.show(id, Shown::Running(l.node.clone()));
                        }
                        query::Phase::Ended => {
                            changed = true;
                            self.ended(id, &l.state);
                        }
                    },
                    None => {
                        changed = true;
                        let first = {
                            let mut inner = self.inner();
                            match inner.watched.get_mut(id) {
                                Some(w) => {
                                    w.unlisted += 1;
                                    w.unlisted == 1
                                }
                                None => continue,
                            }
                        };
                        let state = if first {
                            self.stats().scontrol += 1;
                            query::scontrol(id)
                                .await
                                .and_then(|m| m.get("JobState").cloned())
                                .filter(|s| query::phase(s) == query::Phase::Ended)
                        } else {
                            None
                        };
                        self.ended(id, state.as_deref().unwrap_or(""));
                    }
                }
            }
            backoff = if changed {
                min
            } else {
                backoff.mul_f64(1.5).min(max)
            };
            next = Instant::now() + backoff;
        }
    }

    /// Tells a job's new state; whether it changed.
    fn show(&self, id: &str, now: Shown) -> bool {
        let mut inner = self.inner();
        let Some(w) = inner.watched.get_mut(id) else {
            return false;
        };
        if w.shown == now {
            return false;
        }
        let state = match &now {
            Shown::Queued(why) => Some(JobState::Queued { why }),
            Shown::Running(node) => Some(JobState::Started { node }),
            Shown::Nothing => None,
        };
        if let Some(state) = state {
            (self.events)(Event::Job {
                stage: &w.stage,
                job: id,
                state,
            });
        }
        w.shown = now;
        true
    }

    /// A job that ended (`state` from Slurm; empty when Slurm no longer knows it).
    fn ended(&self, id: &str, state: &str) {
        let (status_path, slurm_log, since) = {
            let mut inner = self.inner();
            let Some(w) = inner.watched.get_mut(id) else {
                return;
            };
            (
                w.status.clone(),
                w.slurm_log.clone(),
                *w.ended_without_status.get_or_insert_with(Instant::now),
            )
        };
        let status = Status::read(&status_path);
        let word = state.split_whitespace().next().unwrap_or("");
        let log = crate::spec::diag::display_path(&slurm_log);
        let exit = match (word, &status) {
            ("COMPLETED" | "", Some(s)) if s.code == 0 => Exit::Success,
            (
                "TIMEOUT" | "OUT_OF_MEMORY" | "NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL" | "DEADLINE",
                _,
            ) => cluster(
                word,
                format!(
                    "ran as Slurm job {id} and ended {word}: {}; Slurm's log: {log}",
                    query::meaning(word)
                ),
                query::retryable(word),
            ),
            ("CANCELLED", _) => {
                let by = if self.cancelling.load(Ordering::SeqCst) {
                    "by this pipe run"
                } else {
                    "from outside pipe (scancel by a user, or an administrator)"
                };
                cluster(
                    "CANCELLED",
                    format!("ran as Slurm job {id} and was CANCELLED {by}; Slurm's log: {log}"),
                    false,
                )
            }
            (_, Some(s)) if s.code != 0 => cluster(
                "FAILED",
                format!(
                    "ran as Slurm job {id} and FAILED: {} exited with code {}",
                    s.command
                        .map_or("its wrapper".to_string(), |c| format!("command {}", c + 1)),
                    s.code
                ),
                true,
            ),
            _ if since.elapsed() < STATUS_GRACE => return,
            _ => cluster(
                if word.is_empty() { "LOST" } else { word },
                format!(
                    "ran as Slurm job {id} and ended {} without writing its exit status to {}: \
                     do the nodes see the workspace (it must be on a shared filesystem)? \
                     Slurm's log: {log}",
                    if word.is_empty() {
                        "out of Slurm's memory".to_string()
                    } else {
                        word.to_string()
                    },
                    crate::spec::diag::display_path(&status_path)
                ),
                false,
            ),
        };
        self.resolve(id, exit, status.as_ref());
    }

    fn resolve(&self, id: &str, exit: Exit, status: Option<&Status>) {
        let Some(w) = self.inner().watched.remove(id) else {
            return;
        };
        if let Some(s) = status.filter(|s| s.ended_ms > 0) {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            self.stats().seen_ms.push(now.saturating_sub(s.ended_ms));
        }
        record::remove(&self.dot, &w.stage);
        let _ = w.tx.send(State::Done(exit));
    }

    /// Ctrl-C / SIGTERM: cancels every job of the run, once, and waits until squeue no
    /// longer lists any of them as queued or running.
    async fn cancel_all(&self) {
        self.cancelling.store(true, Ordering::SeqCst);
        self.cancelled
            .get_or_init(|| async {
                // A submission under way registers its jobs first.
                let deadline = Instant::now() + Duration::from_secs(30);
                while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let (ids, stages): (Vec<String>, Vec<String>) = self
                    .inner()
                    .watched
                    .iter()
                    .map(|(id, w)| (id.clone(), w.stage.clone()))
                    .unzip();
                if ids.is_empty() {
                    return;
                }
                let mut bases: Vec<&str> = ids.iter().map(|i| query::base_id(i)).collect();
                bases.sort_unstable();
                bases.dedup();
                let done = tokio::process::Command::new("scancel")
                    .args(&bases)
                    .status()
                    .await;
                if !done.is_ok_and(|s| s.success()) {
                    (self.events)(Event::ExecProblem {
                        message: format!(
                            "scancel {} failed: the jobs may still run",
                            bases.join(" ")
                        ),
                    });
                }
                for s in &stages {
                    record::remove(&self.dot, s);
                }
                while Instant::now() < deadline {
                    let listed = query::squeue(&ids).await.unwrap_or_default();
                    self.stats().squeue += 1;
                    if !listed
                        .values()
                        .any(|l| query::phase(&l.state) != query::Phase::Ended)
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            })
            .await;
    }

    /// What this run asked of Slurm, for the closing report; `None` when it asked nothing.
    pub fn asked(&self) -> Option<Asked> {
        let st = self.stats();
        if st.submissions == 0 && st.adopted == 0 {
            return None;
        }
        let seen = (!st.seen_ms.is_empty()).then(|| {
            let mean = st.seen_ms.iter().sum::<u64>() / st.seen_ms.len() as u64;
            let max = st.seen_ms.iter().max().copied().unwrap_or(0);
            (mean, max)
        });
        Some(Asked {
            submissions: st.submissions,
            arrays: st.arrays,
            jobs: st.jobs,
            adopted: st.adopted,
            squeue: st.squeue,
            scontrol: st.scontrol,
            elapsed: self.started.elapsed(),
            end_to_pipe_ms: seen,
        })
    }
}

/// What a run asked of Slurm, and how soon it saw its jobs end.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    pub submissions: usize,
    pub arrays: usize,
    pub jobs: usize,
    pub adopted: usize,
    pub squeue: usize,
    pub scontrol: usize,
    /// Since the executor started.
    pub elapsed: Duration,
    /// From a job's end (its status file) to pipe seeing it: mean and max, milliseconds.
    pub end_to_pipe_ms: Option<(u64, u64)>,
}

impl Asked {
    /// squeue calls a minute (the run's first minute counts as a whole one).
    pub fn squeue_per_min(&self) -> f64 {
        let mins = self.elapsed.as_secs_f64() / 60.0;
        self.squeue as f64 / mins.max(1.0 / 60.0)
    }
}

/// A job that ended in a state of Slurm's.
fn cluster(state: &str, detail: String, retry: bool) -> Exit {
    Exit::Failed {
        how: StageExit::Cluster {
            state: state.to_string(),
            detail,
        },
        retry,
    }
}

fn file_name(stage: &str) -> String {
    stage
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect()
}
