//! Observing a stage: hashing its deps and outs (through the state db, so unchanged files
//! cost a stat) into the `Observed` that freshness compares with the lock.
//!
//! Each distinct path is observed once per command, so a directory that is one stage's
//! out and two stages' dep is walked once, not three times:
//! - A command that only looks (status, `repro --dry`, explain) observes all its stages at
//!   once with [`observe_many`].
//! - A run observes each stage when it starts, through the run's [`Seen`]: a path another
//!   stage of the run observed before is not walked again. What the run itself writes is
//!   forgotten when it writes it ([`Seen::forget`]: a stage's outs, before it runs or is
//!   restored; its readers start only after it is done). A command may write more than
//!   its stage declares (its own deps, another stage's out), so every digest is dropped
//!   when a command ends ([`Seen::forget_all`]); a restore writes only the outs.
//! - What another pipe process may have written is caught by the lock: its stages hold
//!   the locks of what they write, and of every out inside or around what they read
//!   (`sched::task`), and record in the lock journal before they let go; what records
//!   nothing (`pipe checkout`, a command that failed) marks the journal when it is done
//!   ([`crate::lock::LockStore::mark`]; a run marks it when any command starts and when
//!   it ends). So every digest is dropped when the lock's [`Stamp`] moved by anything but this run's own
//!   appends, or when a stage had to wait for another process's path lock (that process
//!   may have been killed before it could record or mark).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};

use pipe_cache::{Hashed, Summary, digest_path, hash_path};
use rayon::prelude::*;

use crate::graph::Stage;
use crate::lock::entry::env_digest;
use crate::lock::{LockEntry, LockError, Stamp};
use crate::run::fresh::Observed;
use crate::workspace::Workspace;
use crate::wspath::WsPath;

/// Hashes `paths` in parallel (files through the state db, directories with their
/// manifests); `None` for a path that does not exist.
pub fn hash_all(ws: &Workspace, paths: &[&WsPath]) -> pipe_cache::Result<Vec<Option<Hashed>>> {
    let clock = ws.state.clock()?;
    each_path(paths, |p| hash_path(&ws.root, p, &ws.state, clock))
}

/// Digests of `paths` (directories from their tree entries when unchanged), in parallel,
/// under a state-db clock read by the caller before anything was looked at.
pub fn digest_all_at(
    ws: &Workspace,
    paths: &[&WsPath],
    clock: i64,
) -> pipe_cache::Result<Vec<Option<Summary>>> {
    each_path(paths, |p| digest_path(&ws.root, p, &ws.state, clock))
}

/// `f` of every path, in parallel, in order; the first error stops it.
fn each_path<T: Send>(
    paths: &[&WsPath],
    f: impl Fn(&str) -> pipe_cache::Result<T> + Sync,
) -> pipe_cache::Result<Vec<T>> {
    paths.par_iter().map(|p| f(p.as_str())).collect()
}

/// Observes one stage on its own (`pipe explain`, imports).
pub fn observe(ws: &Workspace, stage: &Stage) -> pipe_cache::Result<Observed> {
    let paths = paths_of(&[stage]);
    let digests = digest_all_at(ws, &paths, ws.state.clock()?)?;
    Ok(assemble(stage, &paths.into_iter().zip(digests).collect()))
}

/// Every distinct path `stages` read or write, in order of first mention.
fn paths_of<'a>(stages: &[&'a Stage]) -> Vec<&'a WsPath> {
    let mut seen = HashSet::new();
    stages
        .iter()
        .flat_map(|s| s.deps.iter().chain(s.outs.iter().map(|o| &o.path)))
        .filter(|p| seen.insert(p.as_str()))
        .collect()
}

/// Observes `stages` with each distinct path digested once (in parallel, one task per
/// path), under one state-db clock.
pub fn observe_many(ws: &Workspace, stages: &[&Stage]) -> pipe_cache::Result<Vec<Observed>> {
    let clock = ws.state.clock()?;
    let paths = paths_of(stages);
    let digests = digest_all_at(ws, &paths, clock)?;
    let memo: Memo = paths.into_iter().zip(digests).collect();
    tracing::debug!(
        stages = stages.len(),
        paths = memo.len(),
        "observed each distinct path once"
    );
    Ok(stages.iter().map(|s| assemble(s, &memo)).collect())
}

/// Digests by path.
type Memo<'a> = HashMap<&'a WsPath, Option<Summary>>;

/// The observation of `stage` from the digests of its paths (every one in `memo`).
fn assemble(stage: &Stage, memo: &Memo) -> Observed {
    let info = |p: &WsPath| memo.get(p).copied().flatten();
    Observed {
        cmd: stage.kind.describe(),
        params: stage.params.clone(),
        env: stage
            .env
            .iter()
            .map(|n| (n.clone(), env_digest(std::env::var(n).ok().as_deref())))
            .collect(),
        deps: stage
            .deps
            .iter()
            .map(|p| (p.clone(), info(p)))
            .collect::<BTreeMap<_, _>>(),
        outs: stage
            .outs
            .iter()
            .map(|o| (o.path.clone(), info(&o.path)))
            .collect(),
    }
}

/// What a run has observed so far (see the module's header): each path's digest, or that
/// a stage is observing it now (its readers wait rather than walk it too).
#[derive(Debug, Default)]
pub struct Seen {
    state: Mutex<SeenState>,
    settled: Condvar,
}

#[derive(Debug, Default)]
struct SeenState {
    /// The lock's stamp the digests hold under (`None`: nothing observed yet).
    stamp: Option<Stamp>,
    /// Bumped whenever the digests are dropped: an observation that started before does
    /// not put its results in.
    epoch: u64,
    digests: HashMap<WsPath, Digested>,
}

impl SeenState {
    /// Every digest goes; observations under way do not put theirs in.
    fn drop_all(&mut self) {
        self.digests.clear();
        self.epoch += 1;
    }
}

#[derive(Debug, Clone, Copy)]
enum Digested {
    Busy,
    Done(Option<Summary>),
}

impl Seen {
    fn state(&self) -> MutexGuard<'_, SeenState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Observes `stage`, walking only the paths this run has not observed yet (`afresh`:
    /// after waiting for another process's lock, every digest is dropped first: that
    /// process may have written more than the waited-for path and, killed, recorded and
    /// marked nothing).
    pub fn observe(
        &self,
        ws: &Workspace,
        stage: &Stage,
        afresh: bool,
    ) -> crate::error::Result<Observed> {
        let clock = ws.state.clock()?;
        let paths = paths_of(&[stage]);
        let mut memo: Memo = HashMap::new();
        let (mine, mut theirs, epoch) = {
            let mut st = self.state();
            // Under the state's lock, as this run's own appends are (see `record`).
            let stamp = ws.lock.stamp()?;
            if afresh || st.stamp.as_ref() != Some(&stamp) {
                if st.stamp.is_some() {
                    tracing::debug!(stage = %stage.id, afresh, "the lock changed under this run, or a stage waited for another process: observing every path again");
                }
                st.drop_all();
                st.stamp = Some(stamp);
                self.settled.notify_all();
            }
            let (mut mine, mut theirs) = (Vec::new(), Vec::new());
            for &p in &paths {
                match st.digests.get(p) {
                    Some(Digested::Done(d)) => {
                        memo.insert(p, *d);
                    }
                    Some(Digested::Busy) => theirs.push(p),
                    _ => {
                        st.digests.insert(p.clone(), Digested::Busy);
                        mine.push(p);
                    }
                }
            }
            (mine, theirs, st.epoch)
        };
        let claims = Claims {
            seen: self,
            paths: &mine,
            epoch,
            filled: false,
        };
        let walked = digest_all_at(ws, &mine, clock);
        // A failed walk (or a panic) withdraws the claims as they drop.
        if let Ok(digests) = &walked {
            claims.fill(digests);
        }
        memo.extend(mine.iter().copied().zip(walked?));
        // Paths another stage was walking: wait for its result (or walk them after all,
        // when it failed or the digests were dropped meanwhile).
        if !theirs.is_empty() {
            let mut st = self.state();
            while !theirs.is_empty() {
                let mut busy = false;
                theirs.retain(|p| match st.digests.get(*p) {
                    Some(Digested::Done(d)) => {
                        memo.insert(p, *d);
                        false
                    }
                    Some(Digested::Busy) => {
                        busy = true;
                        true
                    }
                    None => true,
                });
                if !busy {
                    break;
                }
                st = self.settled.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        }
        if !theirs.is_empty() {
            let digests = digest_all_at(ws, &theirs, clock)?;
            memo.extend(theirs.into_iter().zip(digests));
        }
        tracing::debug!(stage = %stage.id, paths = paths.len(), walked = mine.len(), "observed");
        Ok(assemble(stage, &memo))
    }

    /// `written` are about to change (a stage runs or is restored): their digests, and
    /// those of every path inside or around them, are dropped.
    pub fn forget(&self, written: &[&WsPath]) {
        let mut st = self.state();
        st.digests
            .retain(|p, d| matches!(d, Digested::Busy) || !written.iter().any(|w| w.overlaps(p)));
    }

    /// A stage's command ended (however it ended): it may have written anything, not only
    /// its declared outs (its own deps, another stage's out: a breach of its contract that
    /// the stages deciding after it must still see, as they did when each stage observed
    /// on its own). Every digest is dropped, and an observation under way when it ended
    /// does not put its results in.
    pub fn forget_all(&self) {
        self.state().drop_all();
        self.settled.notify_all();
    }

    /// Records `entry` as stage `id`'s in the lock, for this run: digests taken before
    /// still hold, unless someone else wrote to the lock in between. The append happens
    /// under the same lock as the stamp comparisons of [`Seen::observe`], so no stage of
    /// this run takes the run's own append for another process's.
    pub fn record(&self, ws: &Workspace, id: &str, entry: &LockEntry) -> Result<(), LockError> {
        self.own(|| ws.lock.record(id, Some(entry)))
    }

    /// Marks the lock for other processes' runs (see [`crate::lock::LockStore::mark`]): a
    /// stage's command ended and may have written what they observed, even if no record
    /// follows (it failed, was cancelled, or left an out missing). Not another process's
    /// change for this run.
    pub fn mark(&self, ws: &Workspace) -> Result<(), LockError> {
        self.own(|| ws.lock.mark())
    }

    /// This run's own append to the lock, under the lock of [`Seen::observe`]'s stamp
    /// comparisons, with the stamp advanced past it.
    fn own(
        &self,
        append: impl FnOnce() -> Result<crate::lock::Recorded, LockError>,
    ) -> Result<(), LockError> {
        let mut st = self.state();
        let r = append()?;
        if let Some(stamp) = st.stamp.as_mut() {
            stamp.advance(&r);
        }
        Ok(())
    }
}

/// A stage's claims (`Busy`) on the paths it walks: filled with the walk's digests, or,
/// should the walk fail or panic, withdrawn as they drop, so that the stages waiting for
/// those paths walk them themselves instead of waiting forever. Either way the waiters are
/// woken; nothing is put in once the digests were dropped meanwhile (`epoch`).
struct Claims<'a> {
    seen: &'a Seen,
    paths: &'a [&'a WsPath],
    epoch: u64,
    filled: bool,
}

impl Claims<'_> {
    fn fill(mut self, digests: &[Option<Summary>]) {
        let mut st = self.seen.state();
        if st.epoch == self.epoch {
            for (p, d) in self.paths.iter().zip(digests) {
                st.digests.insert((*p).clone(), Digested::Done(*d));
            }
        }
        self.filled = true;
    }
}

impl Drop for Claims<'_> {
    fn drop(&mut self) {
        if !self.filled {
            let mut st = self.seen.state();
            if st.epoch == self.epoch {
                for p in self.paths {
                    if matches!(st.digests.get(*p), Some(Digested::Busy)) {
                        st.digests.remove(*p);
                    }
                }
            }
        }
        self.seen.settled.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Session;
    use crate::run::decide::Inputs;
    use pipe_cache::Digest;

    /// A workspace with stage `a` reading `in.txt` and writing `out.txt`.
    fn session(dir: &std::path::Path) -> Session {
        std::fs::write(
            dir.join("pipe.toml"),
            "[stage.a]\ncmd = \"cp in.txt out.txt\"\ndeps = [\"in.txt\"]\nouts = [\"out.txt\"]\n",
        )
        .unwrap();
        std::fs::write(dir.join("in.txt"), "one\n").unwrap();
        Session::open(&dir.join("pipe.toml")).unwrap()
    }

    /// [`session`] in a new temporary directory (kept as long as the returned handle).
    fn workspace() -> (tempfile::TempDir, Session) {
        let d = tempfile::tempdir().unwrap();
        let s = session(d.path());
        (d, s)
    }

    fn stage_a(s: &Session) -> &Stage {
        &s.graph[s.graph.find("a").unwrap()]
    }

    fn dep(o: &Observed) -> Digest {
        o.deps["in.txt"].as_ref().unwrap().digest
    }

    #[test]
    fn a_checkout_by_another_process_drops_what_the_run_observed() {
        let (d, s) = workspace();
        let st = stage_a(&s);
        std::fs::write(d.path().join("out.txt"), "one\n").unwrap();
        let inputs = Inputs::new(st, BTreeMap::new(), BTreeMap::new());
        crate::run::commit::commit(&s.ws, st, &inputs, Vec::new(), None).unwrap();
        s.fold_lock().unwrap();
        let out = |o: &Observed| o.outs["out.txt"].as_ref().map(|h| h.digest);
        std::fs::remove_file(d.path().join("out.txt")).unwrap();
        std::fs::write(d.path().join("out.txt"), "edited\n").unwrap();
        let seen = Seen::default();
        let edited = seen.observe(&s.ws, st, false).unwrap();
        // Another process puts the locked out back: it records nothing, but marks the lock.
        let other = Session::open(&d.path().join("pipe.toml")).unwrap();
        crate::ops::checkout::checkout(&Default::default(), &other, &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("out.txt")).unwrap(),
            "one\n"
        );
        assert_ne!(out(&seen.observe(&s.ws, st, false).unwrap()), out(&edited));
    }

    #[test]
    fn a_walk_that_panics_withdraws_its_claims() {
        let (_dir, s) = workspace();
        let st = stage_a(&s);
        let seen = Seen::default();
        let first = seen.observe(&s.ws, st, false).unwrap();
        // A stage claims in.txt to walk it, and its walk panics.
        let p = WsPath::parse("in.txt").unwrap();
        let epoch = {
            let mut g = seen.state();
            g.digests.insert(p.clone(), Digested::Busy);
            g.epoch
        };
        let paths = [&p];
        let walk = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _claims = Claims {
                seen: &seen,
                paths: &paths,
                epoch,
                filled: false,
            };
            panic!("the walk failed");
        }));
        assert!(walk.is_err());
        assert!(!seen.state().digests.contains_key(&p), "claim withdrawn");
        // The next stage walks it itself instead of waiting for it forever.
        assert_eq!(dep(&seen.observe(&s.ws, st, false).unwrap()), dep(&first));
    }

    #[test]
    fn a_run_walks_each_path_once_until_it_or_another_process_writes() {
        let (d, s) = workspace();
        let st = stage_a(&s);
        let seen = Seen::default();
        let first = seen.observe(&s.ws, st, false).unwrap();
        // Changed behind the run's back (no pipe process, no lock): the run keeps what it
        // saw, as a single observation of the whole run would.
        std::fs::write(d.path().join("in.txt"), "two\n").unwrap();
        assert_eq!(dep(&seen.observe(&s.ws, st, false).unwrap()), dep(&first));
        // A stage that waited for another process's lock looks again.
        let afresh = seen.observe(&s.ws, st, true).unwrap();
        assert_ne!(dep(&afresh), dep(&first));

        // This run's own lock appends (records and marks) keep what it saw.
        std::fs::write(d.path().join("in.txt"), "three\n").unwrap();
        let entry =
            crate::lock::LockEntry::new(st, BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        seen.record(&s.ws, "a", &entry).unwrap();
        seen.mark(&s.ws).unwrap();
        assert_eq!(dep(&seen.observe(&s.ws, st, false).unwrap()), dep(&afresh));
        // Another process's append drops everything.
        let other = crate::workspace::Workspace::open(&d.path().join("pipe.toml")).unwrap();
        other.lock.record("a", None).unwrap();
        let now = seen.observe(&s.ws, st, false).unwrap();
        assert_ne!(dep(&now), dep(&afresh));

        // A path the run is about to write (and any path inside or around it) is forgotten.
        std::fs::write(d.path().join("in.txt"), "four\n").unwrap();
        seen.forget(&[&WsPath::parse("other.txt").unwrap()]);
        assert_eq!(dep(&seen.observe(&s.ws, st, false).unwrap()), dep(&now));
        seen.forget(&[&WsPath::parse("in.txt").unwrap()]);
        let four = seen.observe(&s.ws, st, false).unwrap();
        assert_ne!(dep(&four), dep(&now));

        // A command ended: it may have written anything, so everything is looked at again.
        std::fs::write(d.path().join("in.txt"), "five\n").unwrap();
        assert_eq!(dep(&seen.observe(&s.ws, st, false).unwrap()), dep(&four));
        seen.forget_all();
        assert_ne!(dep(&seen.observe(&s.ws, st, false).unwrap()), dep(&four));
    }
}
