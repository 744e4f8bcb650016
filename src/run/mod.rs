//! The run path: what becomes of one stage instance in a command, in one place.
//!
//! ```text
//!  observe ──► decide ──► Fresh / Frozen                      (nothing to do)
//!   (paths,      │
//!   state db)    ├──────► Restore { inputs, outs, record } ──► restore (checkout, verified)
//!                │                                               └─► lock entry
//!                └──────► Run { reasons, inputs, .. } ──► backup ──► exec ──► commit
//!                                                         (outs aside)        (store outs,
//!                                                                              run-cache record
//!                                                                              under inputs.key,
//!                                                                              lock entry)
//! ```
//!
//! - [`observe`]: hashes a stage's deps and outs through the state db (an unchanged file
//!   costs a stat; a command that only looks digests each distinct path once).
//! - [`fresh`]: compares an observation with the lock entry, as data with reasons.
//! - [`decide`]: the one decision, asked by `pipe status`, `repro --dry`, `pipe explain`
//!   and the scheduler; it computes the run-cache key once ([`decide::Inputs`]) and the
//!   decision carries it to the restore or the commit.
//! - [`runcache`]: the key's parts and the records stored under it.
//! - [`restore`]: checks outs out of the cache, every object verified first.
//! - [`backup`], [`commit`]: only success writes state; a failure leaves outs as they were.
//! - [`outlinks`]: outs hold no symbolic links out of the workspace.
//! - [`plan`]: status and dry runs: every selected stage decided in dependency order.
//!
//! The scheduler (`crate::sched`) owns slots, path locks, retries and events around this.

pub mod backup;
pub mod commit;
pub mod contract;
pub mod decide;
pub mod fresh;
pub mod observe;
pub mod outlinks;
pub mod partial;
pub mod plan;
pub mod restore;
pub mod runcache;
