//! The wrapper a Slurm job runs: a POSIX shell script that does what the local executor
//! does (the same environment, each command with `sh -c` in the stage's directory, stdin
//! from /dev/null, output appended to the stage's log with a `$ command (attempt N)` line,
//! stopping at the first failure) and writes its exit status to a file on the shared
//! filesystem: the truth about the job once it has left Slurm's queue.
//!
//! The status file holds one line, written to a temporary name and renamed (so a reader
//! never sees half of it): `exit CODE COMMAND ENDED_MS`, `COMMAND` being the 0-based index
//! of the failed command (`-` on success) and `ENDED_MS` the wall clock at the end, for
//! the end-to-commit figure.
//!
//! Slurm sets `CUDA_VISIBLE_DEVICES` for the GPUs it granted, and `SLURM_CPUS_PER_TASK`:
//! the wrapper keeps the former and derives `PIPE_CPUS` (and `OMP_NUM_THREADS`, where pipe
//! would set it) from the latter, instead of the submitting host's values.

use std::path::Path;

use crate::exec::{Job, Program};

/// Single-quoted for sh.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn quote_path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

/// The wrapper script for `job`, writing its exit status to `status`.
pub fn wrapper(job: &Job, status: &Path) -> String {
    let mut s = prelude(job, status);
    s.push_str(&environment(job));
    s.push_str("mkdir -p \"$(dirname \"$log\")\" && : >\"$log\"\n");
    for (i, (shown, run)) in commands(job).iter().enumerate() {
        s.push_str(&format!(
            "printf '%s\\n' {} >>\"$log\"\n",
            quote(&format!("$ {shown} (attempt {})", job.attempt))
        ));
        s.push_str(&format!("{run}>>\"$log\" 2>&1 </dev/null\n"));
        s.push_str(&format!(
            "rc=$?; if [ $rc -ne 0 ]; then finish $rc {i}; exit $rc; fi\n"
        ));
    }
    s.push_str("finish 0 -\n");
    s
}

/// The script's head: where its status and log go, `finish` (which writes the status
/// file), and the move into the stage's directory.
fn prelude(job: &Job, status: &Path) -> String {
    let mut s = String::new();
    s.push_str("#!/bin/sh\n");
    s.push_str(&format!(
        "# pipe: stage {}, attempt {} (written by pipe, run by Slurm)\n",
        job.stage.replace('\n', " "),
        job.attempt
    ));
    s.push_str(&format!("status={}\n", quote_path(status)));
    s.push_str(&format!("log={}\n", quote_path(&job.log)));
    s.push_str(
        "finish() {\n  \
         ended=$(date +%s%3N 2>/dev/null || echo 0)\n  \
         mkdir -p \"$(dirname \"$status\")\" &&\n  \
         printf 'exit %s %s %s\\n' \"$1\" \"$2\" \"$ended\" >\"$status.tmp\" &&\n  \
         mv -f \"$status.tmp\" \"$status\"\n}\n",
    );
    s.push_str(&format!(
        "cd {} || {{ finish 127 -1; exit 127; }}\n",
        quote_path(&job.cwd)
    ));
    s
}

/// The job's environment as exports, the node's CPUs (and GPUs) rather than this host's.
fn environment(job: &Job) -> String {
    let mut s = String::new();
    let mut omp = false;
    for (k, v) in &job.env {
        match k.as_str() {
            "CUDA_VISIBLE_DEVICES" | "PIPE_CPUS" => {}
            "OMP_NUM_THREADS" => omp = true,
            _ => s.push_str(&format!("export {k}={}\n", quote(v))),
        }
    }
    s.push_str("export PIPE_CPUS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
    if omp {
        s.push_str("export OMP_NUM_THREADS=\"$PIPE_CPUS\"\n");
    }
    s
}

/// Each command as the log shows it, and as the script runs it.
fn commands(job: &Job) -> Vec<(String, String)> {
    match &job.program {
        Program::Shell(cmds) => cmds
            .iter()
            .map(|c| (c.clone(), format!("sh -c {} ", quote(c))))
            .collect(),
        Program::Exec { program, args } => {
            let mut run = quote_path(program);
            let mut shown = program.display().to_string();
            for a in args {
                run.push(' ');
                run.push_str(&quote(&a.to_string_lossy()));
                shown.push(' ');
                shown.push_str(&a.to_string_lossy());
            }
            run.push(' ');
            vec![(shown, run)]
        }
    }
}

/// A status file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: i32,
    /// The failed command (0-based); `None` on success or before the first command.
    pub command: Option<usize>,
    /// When the wrapper ended, milliseconds since the epoch (0 if unknown).
    pub ended_ms: u64,
}

impl Status {
    pub fn parse(text: &str) -> Option<Status> {
        let mut it = text.split_whitespace();
        if it.next()? != "exit" {
            return None;
        }
        let code = it.next()?.parse().ok()?;
        let command = it.next()?.parse().ok();
        let ended_ms = it.next().and_then(|e| e.parse().ok()).unwrap_or(0);
        Some(Status {
            code,
            command,
            ended_ms,
        })
    }

    /// Reads the status file; `None` while it does not exist (or is unreadable).
    pub fn read(path: &Path) -> Option<Status> {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| Status::parse(&t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_single_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn parses_status() {
        assert_eq!(
            Status::parse("exit 0 - 1700000000000\n"),
            Some(Status {
                code: 0,
                command: None,
                ended_ms: 1_700_000_000_000
            })
        );
        assert_eq!(
            Status::parse("exit 3 1 5").map(|s| (s.code, s.command)),
            Some((3, Some(1)))
        );
        assert_eq!(Status::parse("garbage"), None);
        assert_eq!(Status::parse(""), None);
    }

    #[test]
    fn wrapper_runs_each_command_and_records_the_failure() {
        let dir = tempfile::tempdir().expect("tempdir");
        let job = Job {
            stage: "s".into(),
            program: Program::Shell(vec![
                "echo one > a".into(),
                "exit 4".into(),
                "touch b".into(),
            ]),
            cwd: dir.path().to_path_buf(),
            env: vec![("PIPE_STAGE".into(), "s'q".into())],
            log: dir.path().join("logs/s.log"),
            attempt: 2,
            request: Default::default(),
        };
        let status = dir.path().join("st/s.status");
        let script = dir.path().join("w.sh");
        std::fs::write(&script, wrapper(&job, &status)).expect("write");
        let out = std::process::Command::new("sh")
            .arg(&script)
            .output()
            .expect("sh");
        assert_eq!(out.status.code(), Some(4));
        let st = Status::read(&status).expect("status");
        assert_eq!((st.code, st.command), (4, Some(1)));
        assert!(dir.path().join("a").exists());
        assert!(!dir.path().join("b").exists());
        let log = std::fs::read_to_string(&job.log).expect("log");
        assert!(log.contains("$ echo one > a (attempt 2)"), "{log}");
    }
}
