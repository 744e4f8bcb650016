//! A transfer's progress as a bar on a terminal (push, fetch, pull): bytes moved, with
//! the objects done as its prefix. Off a terminal, nothing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use indicatif::ProgressBar;
use pipe_cache::remote::transfer::{self, Progress};

use super::printer::Printer;

/// A progress callback and, on a terminal, the bar it drives (bytes; objects as prefix).
pub fn progress(
    p: &Printer,
    total_bytes: u64,
    total_objects: usize,
    what: &str,
) -> (Progress, Option<ProgressBar>) {
    let Some(bar) = p.transfer_bar(total_bytes, what) else {
        return (transfer::quiet(), None);
    };
    let b = bar.clone();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    bar.set_prefix(format!("0/{total_objects} objects"));
    let cb: Progress = Arc::new(move |n, objects| {
        if n > 0 {
            b.inc(n);
        }
        if objects > 0 {
            let d = done.fetch_add(objects, Ordering::Relaxed) + objects;
            b.set_prefix(format!("{d}/{total_objects} objects"));
        }
    });
    (cb, Some(bar))
}
