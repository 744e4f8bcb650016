//! Integration tests: the real `pipe` binary on temporary workspaces.

mod support;

mod cache;
mod concurrency;
mod freshness;
mod remote;
mod running;
mod slurm;
mod smoke;
mod sweep;
mod validation;
