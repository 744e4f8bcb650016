//! Integration tests: the real `pipe` binary on temporary workspaces.

mod support;

mod cache;
mod cli_help;
mod commit;
mod compare;
mod concurrency;
mod confine;
mod data;
mod dvc;
mod dvc_graph;
mod exp;
mod failures;
mod faults;
mod freshness;
mod front;
mod import;
mod integrity;
mod records;
mod remote;
mod report;
mod running;
mod seen;
mod shared_cache;
mod slurm;
mod smoke;
mod snapshots;
mod sweep;
mod untrusted;
mod validation;
