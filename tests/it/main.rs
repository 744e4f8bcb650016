//! Integration tests: the real `pipe` binary on temporary workspaces.

mod support;

mod cache;
mod concurrency;
mod exp;
mod freshness;
mod remote;
mod running;
mod smoke;
mod sweep;
mod validation;
