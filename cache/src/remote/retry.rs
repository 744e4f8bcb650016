//! The retry policy: one place decides how often and how long to retry a remote operation.
//!
//! An operation (one object's upload or download, one listing) that fails with a transient
//! error (see `RemoteError::is_transient`) is run again after an exponential backoff with
//! jitter: `first * 2^(n-1)`, capped at `max`, scaled by a random factor in [0.5, 1]
//! so that many transfers failing together do not retry in lockstep. After `attempts`
//! tries the last error is returned, saying how many attempts were made. The HTTP client's
//! own retries are switched off so this policy is the only one (no retries of retries).

use std::future::Future;
use std::time::Duration;

use super::error::RemoteError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first: Duration::from_millis(200),
            max: Duration::from_secs(4),
        }
    }
}

impl Retry {
    /// No retries (for tests and for operations that must not repeat).
    pub const ONCE: Retry = Retry {
        attempts: 1,
        first: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// The wait after the `failures`-th failure (1-based), given `jitter` in [0, 1].
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let base = self.first.saturating_mul(1u32 << exp.min(31)).min(self.max);
        base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// Runs `op` until it succeeds, fails with a non-transient error, or has been tried
    /// `attempts` times.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, RemoteError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RemoteError>>,
    {
        let attempts = self.attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && n < attempts => {
                    let wait = self.delay(n, jitter());
                    tracing::debug!("retrying in {wait:?} after: {e}");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e.after_attempts(n)),
            }
        }
    }
}

/// A cheap random number in [0, 1]: no need for a cryptographic source to spread retries.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() % 10_001) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> Retry {
        Retry {
            attempts: 4,
            first: Duration::from_millis(100),
            max: Duration::from_millis(350),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let r = policy();
        assert_eq!(r.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(r.delay(2, 1.0), Duration::from_millis(200));
        assert_eq!(r.delay(3, 1.0), Duration::from_millis(350), "capped");
        assert_eq!(r.delay(40, 1.0), Duration::from_millis(350), "no overflow");
        assert_eq!(r.delay(1, 0.0), Duration::from_millis(50), "half at least");
        for i in 0..=10 {
            let d = r.delay(2, i as f64 / 10.0);
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(200));
        }
        let j = jitter();
        assert!((0.0..=1.0).contains(&j));
    }

    fn transient() -> RemoteError {
        RemoteError::Unreachable {
            remote: "r".into(),
            at: "http://127.0.0.1:1".into(),
            detail: "connection refused".into(),
            attempts: 1,
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn transient_errors_are_retried_then_reported_with_the_count() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = rt().block_on(policy().run(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err(transient()) }
        }));
        assert_eq!(calls.load(Ordering::Relaxed), 4);
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("gave up after 4 attempts"), "{msg}");
    }

    #[test]
    fn success_after_a_transient_failure() {
        let calls = AtomicU32::new(0);
        let r = rt().block_on(policy().run(|| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            async move { if n == 0 { Err(transient()) } else { Ok(n) } }
        }));
        assert_eq!(r.unwrap(), 1);
    }

    #[test]
    fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = rt().block_on(policy().run(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            async {
                Err(RemoteError::Auth {
                    remote: "r".into(),
                    detail: "403".into(),
                })
            }
        }));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(!r.unwrap_err().to_string().contains("gave up"));
        let once: Result<(), _> = rt().block_on(Retry::ONCE.run(|| async { Err(transient()) }));
        assert!(!once.unwrap_err().to_string().contains("gave up"));
    }
}
