//! Data from other repositories: `pipe get`, `pipe import`, `pipe update`.
//!
//! ```text
//! SOURCE (git) --git.rs--> a bare mirror, REV -> commit
//!        commit --source.rs--> PATH as the source tracks it (a pipe out or a DVC out,
//!                              a part of a directory out) + the remote to fetch from
//!        remote --fetch.rs--> objects in our store, verified (blake3; DVC: md5, then
//!                             stored under blake3) -> the Summary of what was imported
//! ```
//! `ops::import` checks the result out (and, for `import`, records it). Mirrors live in
//! `.pipe/imports/<id>.git` (id: [`git::mirror_name`]) so that an update fetches only what
//! is new; `pipe get` uses a temp directory and leaves nothing behind.

pub mod error;
pub mod fetch;
pub mod git;
pub mod source;

pub use error::ImportError;
