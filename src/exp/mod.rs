//! Experiments: one-off runs of the pipeline with param overrides, kept side by side.
//!
//! ```text
//! .pipe/
//!   exps/<name>.json     the record: overrides, state, times, metrics, lock entries
//!   exps/<name>/...      the experiment's outs (its stages' outs, moved here)
//!   exps.lock            the lock of every experiment's stage instances
//! ```
//!
//! Every experiment name is an [`ExpName`], checked where it enters (the command line, a
//! record read from disk or a remote), so none climbs out of `.pipe/exps/`.
//!
//! Flow: `exp run -S k=v` checks the overrides against the params ([`overrides`]), writes
//! a record (`queued`), expands it into stage instances (`graph::exp`), runs them through
//! the scheduler with the sweeps' path (so `--jobs`, resources, the run cache, remotes and
//! executors apply), then fills the record in: `done` or `failed`, the lock entries of
//! its stages and the metrics they wrote. `exp show`, `diff` and `push` read records only;
//! `exp apply` writes the overrides into the params files ([`params_edit`]) and checks the
//! recorded outs out into the workspace.
//!
//! Errors of this room are [`ExpError`]s (an override, a record, a name not found).

pub mod error;
pub mod overrides;
pub mod params_edit;
pub mod record;

pub use error::ExpError;
// Checked where it enters pipe; in `spec`, since stage ids (the graph) hold it too.
pub use crate::spec::exp_name::{ExpName, NameError};
