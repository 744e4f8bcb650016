//! Stopping transfers when pipe is told to stop (Ctrl-C, SIGTERM).
//!
//! A directory remote's reads and writes block a thread of tokio's blocking pool, and a
//! blocked system call cannot be interrupted: a hung NFS mount holds its thread until the
//! server answers. What can be done is to stop *waiting* for it. [`stop`] (called by the
//! engine's signal handling, once) makes every transfer in flight return
//! [`RemoteError::Stopped`] at once and every later one fail before it starts; each
//! abandoned download removes its temp file on the way out. The thread stays blocked, so
//! whoever owns the runtime shuts it down with a bound (`Runtime::shutdown_timeout`)
//! rather than waiting for it.
//!
//! Process-wide, as signals are: one flag, no handle to thread through every caller.

use std::future::Future;
use std::sync::OnceLock;

use tokio::sync::watch;

use super::error::RemoteError;

fn flag() -> &'static watch::Sender<bool> {
    static FLAG: OnceLock<watch::Sender<bool>> = OnceLock::new();
    FLAG.get_or_init(|| watch::Sender::new(false))
}

/// Abandons every transfer in flight and refuses new ones, for the rest of the process.
pub fn stop() {
    flag().send_replace(true);
}

/// Whether [`stop`] was called.
pub fn stopped() -> bool {
    *flag().borrow()
}

/// Runs `op` for remote `remote` unless pipe stops first: then `RemoteError::Stopped`,
/// and `op` is dropped where it waits.
pub async fn unless_stopped<T>(
    remote: &str,
    op: impl Future<Output = Result<T, RemoteError>>,
) -> Result<T, RemoteError> {
    let mut rx = flag().subscribe();
    let halted = || RemoteError::Stopped {
        remote: remote.to_string(),
    };
    if *rx.borrow_and_update() {
        return Err(halted());
    }
    tokio::select! {
        r = op => r,
        _ = rx.wait_for(|s| *s) => Err(halted()),
    }
}
