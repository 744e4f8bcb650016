//! The machine's resources and who holds them.
//!
//! Totals: cores (`--cpus`), memory (/proc/meminfo), GPUs (`--gpus N`, else one per entry of
//! CUDA_VISIBLE_DEVICES, so `0,0` is two slots on device 0, else one per line of
//! `nvidia-smi -L`), and the job slots of `--jobs`. A stage takes one slot plus what its
//! `resources` ask for, and gets its GPUs by id (they become its CUDA_VISIBLE_DEVICES). A
//! grant goes back on drop.
//!
//! Stages are served in the order of their rank (their place in the pipeline's dependency
//! order: a sweep's cells one after another, each seed's evaluation right after its
//! training). A stage takes its place in line when it becomes ready, before it has decided
//! whether it needs to run at all, so that the stages ready at once are ordered by rank and
//! not by which finished hashing its deps first. Walking the line in rank order, the first
//! request that fits what is left is served, and what a stage still deciding would take is
//! set aside for it; a request that does not fit holds back none of the others (a small
//! request fills what a big one cannot use). So a run cut short leaves whole cells rather
//! than one seed of many.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::spec::Resources;

/// The most GPUs `--gpus` may say a machine has: each is a device slot pipe holds by its id,
/// and no machine has more (a typo of 99999999 would hold 100 million).
pub const MOST_GPUS: u32 = 1024;

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
    /// The line, by (rank, arrival): each place's request, and whether its stage asks for it
    /// yet (a stage still deciding keeps its place but takes nothing).
    line: BTreeMap<(usize, u64), (Resources, bool)>,
    arrivals: u64,
}

impl Free {
    /// Whether the request at `key` is served now: walking the line in order, an earlier
    /// request that fits and asks goes first (it tells the others once served); what an
    /// earlier one that fits but is still deciding would take is set aside; `key`'s request
    /// must fit what is left. Stops at the first point where no job slot is left.
    fn turn(&self, key: (usize, u64)) -> bool {
        let (mut jobs, mut cpus, mut mem, mut gpus) =
            (self.jobs, self.cpus, self.mem, self.gpus.len());
        for (k, (r, asks)) in &self.line {
            if jobs == 0 {
                return false;
            }
            let fits = cpus >= r.cpus && mem >= r.mem && gpus >= r.gpus as usize;
            if *k == key {
                return fits;
            }
            if fits && *asks {
                return false;
            }
            if fits {
                jobs -= 1;
                cpus -= r.cpus;
                mem -= r.mem;
                gpus -= r.gpus as usize;
            }
        }
        false
    }
}

/// A stage's place in line for its slot and resources: taken when the stage becomes ready,
/// left on drop (the stage had nothing to run, failed, or was cancelled), telling the others.
pub struct Place {
    pool: Arc<Pool>,
    key: (usize, u64),
    r: Resources,
}

impl Place {
    /// Leaves the line for a while (the stage waits on something else that may take long:
    /// another process's path locks, a remote); `back` takes the same place again.
    pub fn step_aside(&self) {
        let removed = self.pool.lock().line.remove(&self.key).is_some();
        if removed {
            self.pool.notify.notify_waiters();
        }
    }

    pub fn back(&self) {
        self.pool
            .lock()
            .line
            .entry(self.key)
            .or_insert((self.r, false));
    }

    /// Waits until the request is served (see `Free::turn`), then takes it.
    pub async fn acquire(self) -> Grant {
        let r = self.r;
        self.pool.lock().line.insert(self.key, (r, true));
        loop {
            let notified = self.pool.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let granted = {
                let mut f = self.pool.lock();
                if f.turn(self.key) {
                    f.jobs -= 1;
                    f.cpus -= r.cpus;
                    f.mem -= r.mem;
                    let gpus: Vec<String> = f.gpus.drain(..r.gpus as usize).collect();
                    f.line.remove(&self.key);
                    Some(gpus)
                } else {
                    None
                }
            };
            if let Some(gpus) = granted {
                // Out of line already (dropping the place tells no one); what is left may
                // serve the next in line.
                self.pool.notify.notify_waiters();
                return Grant {
                    pool: self.pool.clone(),
                    cpus: r.cpus,
                    mem: r.mem,
                    gpus,
                };
            }
            notified.await;
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.step_aside();
    }
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
            let mut f = self.pool.lock();
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
                line: BTreeMap::new(),
                arrivals: 0,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Free> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place in line for the (fitted) request `r` of a stage of rank `rank`.
    pub fn place(self: &Arc<Self>, r: Resources, rank: usize) -> Place {
        let key = {
            let mut f = self.lock();
            let key = (rank, f.arrivals);
            f.arrivals += 1;
            f.line.insert(key, (r, false));
            key
        };
        Place {
            pool: self.clone(),
            key,
            r,
        }
    }

    /// A place in line, then the request once served.
    #[cfg(test)]
    async fn acquire(self: &Arc<Self>, r: Resources, rank: usize) -> Grant {
        self.place(r, rank).acquire().await
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
        let a = p.acquire(r, 0).await;
        let b = p.acquire(r, 0).await;
        assert_ne!(a.gpus, b.gpus);
        let p2 = p.clone();
        let waiter = tokio::spawn(async move { p2.acquire(r, 0).await.gpus.clone() });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "no GPU is free");
        let freed = a.gpus.clone();
        drop(a);
        assert_eq!(waiter.await.unwrap(), freed);
        drop(b);
    }

    fn cpus(n: u32) -> Resources {
        Resources {
            cpus: n,
            gpus: 0,
            mem: 0,
        }
    }

    /// Let the spawned waiters register and park.
    async fn settle() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    #[tokio::test]
    async fn waiters_are_served_by_rank_and_a_big_one_does_not_hold_back_a_small_one() {
        let p = pool(8, 2, 0);
        let held = p.acquire(cpus(2), 0).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for rank in [5, 3, 9, 1] {
            let (p, order) = (p.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let g = p.acquire(cpus(1), rank).await;
                order.lock().unwrap().push(rank);
                // Held a moment, then given back for the next.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                drop(g);
            }));
            settle().await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [1, 3, 5, 9]);

        // Rank 0 wants both cpus, one is free: rank 1's one-cpu request goes ahead of it.
        let one = p.acquire(cpus(1), 0).await;
        let p2 = p.clone();
        let big = tokio::spawn(async move { p2.acquire(cpus(2), 0).await.cpus });
        settle().await;
        let small = tokio::time::timeout(std::time::Duration::from_secs(5), p.acquire(cpus(1), 1))
            .await
            .expect("a fitting request is not held back by one that does not fit");
        drop(small);
        drop(one);
        assert_eq!(big.await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_waiter_cancelled_in_line_does_not_block_the_next() {
        let p = pool(8, 1, 0);
        let held = p.acquire(cpus(1), 0).await;
        let p2 = p.clone();
        let first = tokio::spawn(async move { p2.acquire(cpus(1), 1).await.cpus });
        let p3 = p.clone();
        let second = tokio::spawn(async move { p3.acquire(cpus(1), 2).await.cpus });
        settle().await;
        first.abort();
        let _ = first.await;
        drop(held);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), second)
            .await
            .expect("the next in line is served");
        assert_eq!(got.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_place_taken_before_asking_is_kept_and_given_up_on_drop() {
        // One slot; rank 0 is ready but still deciding when rank 1 asks: rank 1 waits.
        let p = pool(1, 2, 0);
        let first = p.place(cpus(1), 0);
        let p2 = p.clone();
        let second = tokio::spawn(async move { p2.acquire(cpus(1), 1).await.cpus });
        settle().await;
        assert!(!second.is_finished(), "the slot is kept for rank 0");
        // Rank 0 steps aside (waits on another process): rank 1 goes.
        first.step_aside();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), second)
            .await
            .expect("served once rank 0 stepped aside");
        assert_eq!(got.unwrap(), 1);
        // Back in line and asking: served, ahead of a later rank 1.
        first.back();
        let p3 = p.clone();
        let third = tokio::spawn(async move { p3.acquire(cpus(1), 1).await.cpus });
        settle().await;
        assert!(!third.is_finished());
        let g = first.acquire().await;
        assert!(!third.is_finished(), "rank 0 holds the one slot");
        drop(g);
        assert_eq!(third.await.unwrap(), 1);
        // A place dropped without asking (its stage had nothing to run) frees its turn.
        let idle = p.place(cpus(1), 0);
        let p4 = p.clone();
        let fourth = tokio::spawn(async move { p4.acquire(cpus(1), 1).await.cpus });
        settle().await;
        assert!(!fourth.is_finished());
        drop(idle);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), fourth)
            .await
            .expect("served once the place was given up");
        assert_eq!(got.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_place_keeps_only_what_it_asks_for() {
        // Two slots: rank 0 deciding keeps one, rank 1 takes the other at once.
        let p = pool(2, 2, 0);
        let _first = p.place(cpus(1), 0);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), p.acquire(cpus(1), 1))
            .await
            .expect("the second slot is free");
        assert_eq!(got.cpus, 1);
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
