//! No stage outlives the pipe that started it, even when pipe is killed with SIGKILL.
//!
//! A killed process runs no code, so the guard must live in another process. The first
//! local job of a command starts one watcher, `pipe __reap` (this binary re-invoked, in a
//! process group of its own so that a Ctrl-C meant for pipe does not reach it), whose stdin
//! is a pipe that only this process holds open (std opens it close-on-exec, so no stage
//! inherits it). pipe writes `+PGID` when a stage's process group starts and `-PGID` when
//! it is over. When pipe exits, however it exits, the kernel closes the pipe and the
//! watcher reads end-of-file: every group still listed gets SIGTERM, then SIGKILL after a
//! grace period, and the watcher exits. On a normal exit the list is empty and it just
//! exits.
//!
//! Why not `PR_SET_PDEATHSIG` in the child: it reaches the direct child only (the `sh -c`),
//! not the commands it started, which would go on writing into the workspace; and setting
//! it needs code run between fork and exec. The watcher signals the whole group.
//!
//! Not covered: a process that leaves its stage's group on purpose (`setsid`, a daemon),
//! and the microseconds between a stage's spawn and its `+PGID` line.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

/// The hidden subcommand that runs [`serve`].
pub const SUBCOMMAND: &str = "__reap";

/// How long groups get to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

struct Watcher {
    stdin: Mutex<ChildStdin>,
    /// Kept so the handle is not dropped; the watcher exits on its own when pipe does.
    _child: Child,
}

static WATCHER: OnceLock<Option<Watcher>> = OnceLock::new();

fn watcher() -> Option<&'static Watcher> {
    WATCHER
        .get_or_init(|| match start() {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "cannot start the stage watcher ({e}): a stage may outlive a killed pipe"
                );
                None
            }
        })
        .as_ref()
}

fn start() -> std::io::Result<Watcher> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg(SUBCOMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("the watcher has no stdin"))?;
    Ok(Watcher {
        stdin: Mutex::new(stdin),
        _child: child,
    })
}

fn tell(line: &str) -> bool {
    let Some(w) = watcher() else {
        return false;
    };
    let mut stdin = w.stdin.lock().unwrap_or_else(|p| p.into_inner());
    match stdin
        .write_all(line.as_bytes())
        .and_then(|()| stdin.flush())
    {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("the stage watcher is gone ({e}): a stage may outlive a killed pipe");
            false
        }
    }
}

/// A process group the watcher kills if pipe dies; dropping it tells the watcher the group
/// is over (drop it only once the group has been signalled to end).
pub struct Watched(Option<i32>);

/// Registers process group `pgid` with the watcher (started on first use).
pub fn watch(pgid: i32) -> Watched {
    let told = pgid > 0 && tell(&format!("+{pgid}\n"));
    tracing::debug!(pgid, told, "watching a stage's process group");
    Watched(told.then_some(pgid))
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            tell(&format!("-{pgid}\n"));
        }
    }
}

/// The watcher's side: reads `+PGID` / `-PGID` lines until end-of-file, then ends every
/// group still listed. Returns the groups it had to end.
pub fn serve(input: impl BufRead) -> Vec<i32> {
    let mut groups = BTreeSet::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        let (add, n) = match line.split_at_checked(1) {
            Some(("+", n)) => (true, n),
            Some(("-", n)) => (false, n),
            _ => continue,
        };
        let Ok(n) = n.trim().parse::<i32>() else {
            continue;
        };
        if add {
            groups.insert(n);
        } else {
            groups.remove(&n);
        }
    }
    let pids: Vec<Pid> = groups.iter().filter_map(|&g| Pid::from_raw(g)).collect();
    for &p in &pids {
        let _ = kill_process_group(p, Signal::TERM);
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && pids.iter().any(|&p| alive(p)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &p in &pids {
        if alive(p) {
            let _ = kill_process_group(p, Signal::KILL);
        }
    }
    groups.into_iter().collect()
}

/// Some process of group `p` still exists (a zombie counts: it is gone once reaped).
fn alive(p: Pid) -> bool {
    test_kill_process_group(p).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_the_groups_still_listed() {
        let mut child = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .expect("spawn sleep");
        let pgid = child.id() as i32;
        let input = format!("+{pgid}\n+999999999\n-999999999\ngarbage\n");
        let ended = serve(input.as_bytes());
        assert_eq!(ended, vec![pgid]);
        let status = child.wait().expect("wait");
        assert!(!status.success(), "sleep survived: {status:?}");
    }

    #[test]
    fn a_group_that_ended_is_left_alone() {
        assert!(serve("+123\n-123\n".as_bytes()).is_empty());
    }
}
