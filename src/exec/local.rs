//! Running a job as child processes of this one.
//!
//! Each command runs in its own process group, so that Ctrl-C reaches pipe alone and pipe
//! decides: on cancellation the whole group gets SIGTERM, then SIGKILL after a grace period.
//! When a command exits, whatever it left running in its group is terminated too, so no
//! straggler writes into an out after it was committed. Each group is registered with the
//! [`reaper`](super::reaper) while it runs, so that it ends even when pipe is killed with
//! SIGKILL. stdout and stderr are read line by line, printed with the stage's prefix and
//! appended to the stage's log file.

use std::fs::File;
use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use super::{Cancel, Exit, Job, Program};
use crate::error::StageExit;
use crate::events::{Event, Events};

const GRACE: Duration = Duration::from_secs(5);

pub async fn run(job: &Job, mut cancel: Cancel, events: &Events) -> std::io::Result<Exit> {
    if let Some(dir) = job.log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let log = Arc::new(Mutex::new(File::create(&job.log)?));
    let commands: Vec<Command> = match &job.program {
        Program::Shell(cmds) => cmds
            .iter()
            .map(|c| {
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(c);
                cmd
            })
            .collect(),
        Program::Exec { program, args } => {
            let mut cmd = Command::new(program);
            cmd.args(args);
            vec![cmd]
        }
    };
    let shown: Vec<String> = match &job.program {
        Program::Shell(cmds) => cmds.clone(),
        Program::Exec { program, args } => vec![format!(
            "{} {}",
            program.display(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        )],
    };
    for (i, mut cmd) in commands.into_iter().enumerate() {
        if let Ok(mut f) = log.lock() {
            let _ = writeln!(f, "$ {} (attempt {})", shown[i], job.attempt);
        }
        cmd.current_dir(&job.cwd)
            .envs(job.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let pgid = child.id().map(|p| p as i32);
        let _watched = super::reaper::watch(pgid.unwrap_or(0));
        let pumps = [
            child
                .stdout
                .take()
                .map(|o| pump(o, job.stage.clone(), log.clone(), events.clone())),
            child
                .stderr
                .take()
                .map(|e| pump(e, job.stage.clone(), log.clone(), events.clone())),
        ];
        let status = tokio::select! {
            s = child.wait() => s?,
            _ = cancel.cancelled() => {
                signal_group(pgid, Signal::TERM);
                match tokio::time::timeout(GRACE, child.wait()).await {
                    Ok(_) => {}
                    Err(_) => {
                        signal_group(pgid, Signal::KILL);
                        let _ = child.wait().await;
                    }
                }
                signal_group(pgid, Signal::KILL);
                finish_pumps(pumps).await;
                return Ok(Exit::Cancelled);
            }
        };
        // Leftovers of the command's group must not outlive it.
        signal_group(pgid, Signal::TERM);
        finish_pumps(pumps).await;
        if !status.success() {
            use std::os::unix::process::ExitStatusExt;
            return Ok(Exit::Failed {
                how: StageExit::of(status.code(), status.signal()),
                retry: true,
            });
        }
    }
    Ok(Exit::Success)
}

fn signal_group(pgid: Option<i32>, sig: Signal) {
    if let Some(p) = pgid.and_then(Pid::from_raw) {
        // The group may be gone already: nothing to do then.
        let _ = kill_process_group(p, sig);
    }
}

async fn finish_pumps(pumps: [Option<tokio::task::JoinHandle<()>>; 2]) {
    for p in pumps.into_iter().flatten() {
        // A grandchild that escaped the group may hold the pipe open: don't wait forever.
        let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
    }
}

fn pump<R: AsyncRead + Unpin + Send + 'static>(
    r: R,
    stage: String,
    log: Arc<Mutex<File>>,
    events: Events,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(r);
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Ok(mut f) = log.lock() {
                let _ = f.write_all(&buf);
                if !buf.ends_with(b"\n") {
                    let _ = f.write_all(b"\n");
                }
            }
            let text = String::from_utf8_lossy(&buf);
            let text = text.trim_end_matches(['\n', '\r']);
            // A progress bar redraws with \r: show its latest state.
            let shown = text.rsplit('\r').next().unwrap_or(text);
            events(Event::Output {
                stage: &stage,
                line: shown,
            });
        }
    })
}
