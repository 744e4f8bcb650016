//! `sbatch` arguments for a job or a job array, and the submission itself.
//!
//! Every submission is `sbatch --parsable` with the job's name (run id + instance, or the
//! stage for an array), Slurm's own output file under `.pipe/logs/slurm/`, `--chdir`,
//! `--cpus-per-task`, `--mem` (MiB), `--gres=gpu:N`, `--time`, `-p`, `-A`, `--qos`, then
//! the configured `extra` arguments as written. A stage's `resources.partition` and
//! `resources.time` win over `[executor]`'s. Each call is appended to
//! `.pipe/slurm/submissions.log` (time, job id, arguments): what was asked of Slurm.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::config::ExecutorConfig;
use crate::exec::Request;
use crate::exec::slurm::SlurmError;
use crate::spec::duration;

/// Arguments for one submission of `count` tasks (1 = a plain job) sharing `req`.
pub fn args(
    cfg: &ExecutorConfig,
    req: &Request,
    name: &str,
    output: &Path,
    chdir: &Path,
    count: usize,
) -> Vec<String> {
    let mut a = vec![
        "--parsable".to_string(),
        format!("--job-name={name}"),
        format!("--output={}", output.display()),
        format!("--chdir={}", chdir.display()),
        format!("--cpus-per-task={}", req.cpus.max(1)),
    ];
    if count > 1 {
        let throttle = cfg.max_jobs.min(count);
        a.push(format!("--array=0-{}%{throttle}", count - 1));
    }
    if req.mem > 0 {
        a.push(format!("--mem={}M", req.mem.div_ceil(1 << 20)));
    }
    if req.gpus > 0 {
        a.push(format!("--gres=gpu:{}", req.gpus));
    }
    if let Some(t) = req.time.or(cfg.time) {
        a.push(format!("--time={}", duration::slurm(t)));
    }
    if let Some(p) = req.partition.as_ref().or(cfg.partition.as_ref()) {
        a.push(format!("--partition={p}"));
    }
    if let Some(acct) = &cfg.account {
        a.push(format!("--account={acct}"));
    }
    if let Some(q) = &cfg.qos {
        a.push(format!("--qos={q}"));
    }
    a.extend(cfg.extra.iter().cloned());
    a
}

/// Runs `sbatch ARGS SCRIPT`; the job id (for an array, the array's id).
pub async fn submit(dot: &Path, args: &[String], script: &Path) -> Result<String, SlurmError> {
    let out = Command::new("sbatch")
        .args(args)
        .arg(script)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| SlurmError::Spawn {
            command: "sbatch",
            source,
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout
        .lines()
        .next()
        .and_then(|l| l.split(';').next())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
        .map(String::from);
    let logged = audit(dot, id.as_deref(), args, script);
    match (out.status.success(), id) {
        (true, Some(id)) => {
            if let Err(e) = logged {
                tracing::warn!("cannot append to the submissions log: {e}");
            }
            Ok(id)
        }
        _ => Err(SlurmError::Sbatch {
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

pub fn audit_log(dot: &Path) -> PathBuf {
    dot.join("slurm").join("submissions.log")
}

fn audit(dot: &Path, id: Option<&str>, args: &[String], script: &Path) -> std::io::Result<()> {
    let path = audit_log(dot);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    writeln!(
        f,
        "{now} {} sbatch {} {}",
        id.unwrap_or("-"),
        args.join(" "),
        script.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_for_an_array_with_everything() {
        let cfg = ExecutorConfig {
            partition: Some("cpu".into()),
            account: Some("proj".into()),
            qos: Some("low".into()),
            time: Some(3600),
            extra: vec!["--constraint=a100".into()],
            max_jobs: 3,
            ..ExecutorConfig::default()
        };
        let req = Request {
            cpus: 4,
            mem: 1536 << 20,
            gpus: 2,
            time: Some(90),
            partition: Some("gpu".into()),
            ..Request::default()
        };
        let a = args(
            &cfg,
            &req,
            "pipe-r-train",
            Path::new("/w/l-%A_%a.out"),
            Path::new("/w"),
            8,
        );
        assert_eq!(
            a,
            [
                "--parsable",
                "--job-name=pipe-r-train",
                "--output=/w/l-%A_%a.out",
                "--chdir=/w",
                "--cpus-per-task=4",
                "--array=0-7%3",
                "--mem=1536M",
                "--gres=gpu:2",
                "--time=00:01:30",
                "--partition=gpu",
                "--account=proj",
                "--qos=low",
                "--constraint=a100",
            ]
        );
    }

    #[test]
    fn a_plain_job_has_no_array_and_uses_the_defaults() {
        let cfg = ExecutorConfig {
            partition: Some("cpu".into()),
            ..ExecutorConfig::default()
        };
        let a = args(
            &cfg,
            &Request::default(),
            "n",
            Path::new("/o"),
            Path::new("/w"),
            1,
        );
        assert!(!a.iter().any(|x| x.starts_with("--array")));
        assert!(a.contains(&"--partition=cpu".to_string()));
        assert!(a.contains(&"--cpus-per-task=1".to_string()));
        assert!(
            !a.iter()
                .any(|x| x.starts_with("--mem") || x.starts_with("--time"))
        );
    }
}
