//! The machine's resources and who holds them.
//!
//! Totals: cores (`--cpus`), memory (/proc/meminfo), GPUs (`--gpus N`, else one per entry of
//! CUDA_VISIBLE_DEVICES, so `0,0` is two slots on device 0, else one per line of
//! `nvidia-smi -L`), and the job slots of `--jobs`. A stage takes one slot plus what its
//! `resources` ask for, and gets its GPUs by id (they become its CUDA_VISIBLE_DEVICES). A
//! grant goes back on drop.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::spec::Resources;

#[derive(Debug, Clone)]
pub struct Totals {
    pub jobs: usize,
    pub cpus: u32,
    pub mem: u64,
    /// Device ids as CUDA_VISIBLE_DEVICES spells them.
    pub gpus: Vec<String>,
}

impl Totals {
    pub fn detect(jobs: Option<usize>, cpus: Option<u32>, gpus: Option<u32>) -> Totals {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpus = cpus.unwrap_or(cores as u32).max(1);
        Totals {
            jobs: jobs.unwrap_or(cpus as usize).max(1),
            cpus,
            mem: total_memory().unwrap_or(u64::MAX),
            gpus: match gpus {
                Some(n) => (0..n).map(|i| i.to_string()).collect(),
                None => detect_gpus(),
            },
        }
    }
}

fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn detect_gpus() -> Vec<String> {
    if let Ok(v) = std::env::var("CUDA_VISIBLE_DEVICES") {
        return v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "-1")
            .map(String::from)
            .collect();
    }
    match std::process::Command::new("nvidia-smi").arg("-L").output() {
        Ok(o) if o.status.success() => {
            let n = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with("GPU "))
                .count();
            (0..n).map(|i| i.to_string()).collect()
        }
        _ => Vec::new(),
    }
}

/// A stage asks for more GPUs than this machine has (and it has some).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("asks for {asked} GPUs, but this machine has {here} (pass --gpus N to change the count)")]
pub struct TooFewGpus {
    pub asked: u32,
    pub here: u32,
}

struct Free {
    jobs: usize,
    cpus: u32,
    mem: u64,
    gpus: VecDeque<String>,
}

pub struct Pool {
    free: Mutex<Free>,
    notify: Notify,
    pub totals: Totals,
}

/// Resources held by a running stage.
pub struct Grant {
    pool: Arc<Pool>,
    pub cpus: u32,
    pub mem: u64,
    pub gpus: Vec<String>,
}

impl Drop for Grant {
    fn drop(&mut self) {
        {
            let mut f = self.pool.free.lock().unwrap_or_else(|p| p.into_inner());
            f.jobs += 1;
            f.cpus += self.cpus;
            f.mem = f.mem.saturating_add(self.mem);
            f.gpus.extend(self.gpus.drain(..));
        }
        self.pool.notify.notify_waiters();
    }
}

impl Pool {
    pub fn new(totals: Totals) -> Arc<Pool> {
        Arc::new(Pool {
            free: Mutex::new(Free {
                jobs: totals.jobs,
                cpus: totals.cpus,
                mem: totals.mem,
                gpus: totals.gpus.iter().cloned().collect(),
            }),
            notify: Notify::new(),
            totals,
        })
    }

    /// What a request becomes on this machine: cpus and memory capped at the totals (a
    /// stage asking for more than exists would never start), GPUs dropped where there are
    /// none (the stage runs on CPU). `Err` when GPUs exist but fewer than asked.
    pub fn fit(&self, r: Resources) -> Result<Resources, TooFewGpus> {
        let g = self.totals.gpus.len() as u32;
        if r.gpus > g && g > 0 {
            return Err(TooFewGpus {
                asked: r.gpus,
                here: g,
            });
        }
        Ok(Resources {
            cpus: r.cpus.min(self.totals.cpus),
            gpus: r.gpus.min(g),
            mem: r.mem.min(self.totals.mem),
        })
    }

    /// Waits until the (fitted) request fits, then takes it.
    pub async fn acquire(self: &Arc<Self>, r: Resources) -> Grant {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut f = self.free.lock().unwrap_or_else(|p| p.into_inner());
                if f.jobs >= 1
                    && f.cpus >= r.cpus
                    && f.mem >= r.mem
                    && f.gpus.len() >= r.gpus as usize
                {
                    f.jobs -= 1;
                    f.cpus -= r.cpus;
                    f.mem -= r.mem;
                    let gpus: Vec<String> = f.gpus.drain(..r.gpus as usize).collect();
                    return Grant {
                        pool: self.clone(),
                        cpus: r.cpus,
                        mem: r.mem,
                        gpus,
                    };
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(jobs: usize, cpus: u32, gpus: u32) -> Arc<Pool> {
        Pool::new(Totals {
            jobs,
            cpus,
            mem: 1 << 30,
            gpus: (0..gpus).map(|i| i.to_string()).collect(),
        })
    }

    #[tokio::test]
    async fn grants_distinct_gpus_and_wait_for_release() {
        let p = pool(8, 8, 2);
        let r = Resources {
            cpus: 1,
            gpus: 1,
            mem: 0,
        };
        let a = p.acquire(r).await;
        let b = p.acquire(r).await;
        assert_ne!(a.gpus, b.gpus);
        let p2 = p.clone();
        let waiter = tokio::spawn(async move { p2.acquire(r).await.gpus.clone() });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "no GPU is free");
        let freed = a.gpus.clone();
        drop(a);
        assert_eq!(waiter.await.unwrap(), freed);
        drop(b);
    }

    #[test]
    fn fit_caps_and_refuses() {
        let p = pool(2, 2, 0);
        let f = p
            .fit(Resources {
                cpus: 16,
                gpus: 1,
                mem: 1 << 40,
            })
            .unwrap();
        assert_eq!((f.cpus, f.gpus, f.mem), (2, 0, 1 << 30));
        let g = pool(2, 2, 1);
        assert!(
            g.fit(Resources {
                cpus: 1,
                gpus: 2,
                mem: 0
            })
            .is_err()
        );
    }
}
