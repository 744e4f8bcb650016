//! pipe-cache: content hashing, the content-addressed store, checkout, and the state db.
//!
//! This crate knows nothing about pipelines: it hashes paths, stores and restores bytes
//! by digest, and keeps small records by key. The engine decides what to hash and when.
//!
//! - [`digest`]: the blake3 `Digest` that names everything.
//! - [`hash`]: hashing one file (mmap + rayon for big ones).
//! - [`walk`]: listing a tree, honouring `.pipeignore`.
//! - [`manifest`]: the canonical listing of a directory, whose digest is the directory's.
//! - [`state`]: (path, inode, size, mtime, ctime) -> digest, with racy-entry protection.
//! - [`tree`]: hashing a file or directory through the state db.
//! - [`store`]: objects and run-cache records on disk, link/copy checkout.
//! - [`marker`]: how pipe knows a folder is its cache (and may delete in it).
//! - [`lease`]: leftovers of dead processes, swept by the next command.
//! - [`rootdir`]: a directory opened once, through which nothing can leave it: every
//!   write, move and removal pipe makes in a workspace.
//! - [`trust`]: which objects are known whole; every restore checks through it.
//! - [`remote`]: directory and object-store remotes, and parallel verified transfers.

pub mod digest;
pub mod error;
pub mod fsutil;
pub mod hash;
pub mod lease;
pub mod manifest;
pub mod marker;
pub mod remote;
pub mod rootdir;
pub mod state;
pub mod store;
pub mod tree;
pub mod trust;
pub mod walk;

pub use digest::Digest;
pub use error::{Error, Result};
pub use manifest::Manifest;
pub use rootdir::RootDir;
pub use state::StateDb;
pub use store::{LinkKind, Store, StoreOptions};
pub use tree::{Hashed, Shape, Summary, digest_path, hash_path};
