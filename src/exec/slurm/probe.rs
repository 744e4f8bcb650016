//! Before the first job: do the cluster's nodes see the workspace?
//!
//! pipe hashes, caches and commits outs in the submitting process, so jobs must write them
//! where that process reads: the workspace (and its cache) must be on a filesystem the
//! nodes share. The check submits a tiny job (1 CPU, 1 minute, the configured partition,
//! account and qos) that writes a token file under `.pipe/slurm/probe/`, and waits for it.
//! A job that ends without the file having appeared is a clear error, before any stage is
//! submitted. A success is remembered in `.pipe/slurm/probe-ok` (the workspace's path) for a
//! day, so the probe costs one tiny job per workspace per day.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crate::config::ExecutorConfig;
use crate::events::{Event, Events};

use super::{SlurmError, query};

const REMEMBERED: Duration = Duration::from_secs(24 * 3600);

pub fn check(
    dot: &Path,
    root: &Path,
    cfg: &ExecutorConfig,
    events: &Events,
) -> Result<(), SlurmError> {
    let ok_file = dot.join("slurm").join("probe-ok");
    if remembered(&ok_file, root) {
        return Ok(());
    }
    let probe_dir = dot.join("slurm").join("probe");
    std::fs::create_dir_all(&probe_dir).map_err(|source| SlurmError::CreateDir {
        path: probe_dir.clone(),
        source,
    })?;
    let token = probe_dir.join(format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let script = probe_dir.join("probe.sh");
    let body = format!(
        "#!/bin/sh\nhostname > {}\n",
        super::script::quote(&token.to_string_lossy())
    );
    std::fs::write(&script, body).map_err(|source| SlurmError::Write {
        path: script.clone(),
        source,
    })?;
    let id = submit(cfg, &script)?;
    wait_for(&id, &token, events)?;
    let _ = std::fs::remove_file(&token);
    let _ = std::fs::write(&ok_file, root.to_string_lossy().as_bytes());
    Ok(())
}

/// Whether a probe for this workspace succeeded within the last day.
fn remembered(ok_file: &Path, root: &Path) -> bool {
    std::fs::read_to_string(ok_file).is_ok_and(|t| t.trim() == root.to_string_lossy())
        && std::fs::metadata(ok_file)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < REMEMBERED)
}

/// Submits the probe job: 1 CPU, 1 minute, the configured partition, account and qos.
fn submit(cfg: &ExecutorConfig, script: &Path) -> Result<String, SlurmError> {
    let mut args = vec![
        "--parsable".to_string(),
        "--job-name=pipe-probe".to_string(),
        "--output=/dev/null".to_string(),
        "--chdir=/".to_string(),
        "--cpus-per-task=1".to_string(),
        "--time=00:01:00".to_string(),
    ];
    if let Some(p) = &cfg.partition {
        args.push(format!("--partition={p}"));
    }
    if let Some(a) = &cfg.account {
        args.push(format!("--account={a}"));
    }
    if let Some(q) = &cfg.qos {
        args.push(format!("--qos={q}"));
    }
    args.extend(cfg.extra.iter().cloned());
    let out = Command::new("sbatch")
        .args(&args)
        .arg(script)
        .output()
        .map_err(|source| SlurmError::Spawn {
            command: "sbatch",
            source,
        })?;
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.split(';').next())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    id.filter(|_| out.status.success())
        .ok_or_else(|| SlurmError::ProbeRefused {
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
}

/// Waits until the probe's `token` appears (the nodes see the workspace), or the job has
/// ended and it has not within a grace (they do not).
fn wait_for(id: &str, token: &Path, events: &Events) -> Result<(), SlurmError> {
    let started = Instant::now();
    let mut announced = false;
    let mut ended_at: Option<Instant> = None;
    let mut last_query = Instant::now();
    let mut node = String::new();
    loop {
        if token.exists() {
            return Ok(());
        }
        if let Some(t) = ended_at {
            // A shared filesystem may show a file a few seconds late.
            if t.elapsed() > Duration::from_secs(10) {
                return Err(SlurmError::NotShared {
                    job: id.to_string(),
                    node: (!node.is_empty()).then_some(node),
                    token: token.to_path_buf(),
                });
            }
        } else if last_query.elapsed() > Duration::from_secs(1) {
            last_query = Instant::now();
            let out = Command::new("squeue")
                .args(["-h", "-t", "all", "-o", "%i|%T|%r|%N", "-j", id])
                .output();
            let listed = out
                .ok()
                .map(|o| query::parse_squeue(&String::from_utf8_lossy(&o.stdout)))
                .and_then(|m| m.get(id).cloned());
            match listed {
                Some(l) if query::phase(&l.state) == query::Phase::Ended => {
                    node = l.node;
                    ended_at = Some(Instant::now());
                }
                None => ended_at = Some(Instant::now()),
                Some(l) => {
                    if !announced && started.elapsed() > Duration::from_secs(3) {
                        let why = if l.reason.is_empty() {
                            l.state
                        } else {
                            l.reason
                        };
                        events(Event::Probing { job: id, why: &why });
                        announced = true;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
