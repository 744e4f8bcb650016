//! `pipe params diff [A] [B]`: the params each stage read at one revision against another.
//!
//! A git revision's side is its committed `pipe.lock` (what each stage last ran with); the
//! workspace's side is the params files as they are now (what the next run would use).
//! Keys are grouped by scope: the base pipeline, and each sweep cell. A cell's key that
//! changes exactly as the pipeline's does (it inherits it) is counted, not repeated.

use crate::compare::collect;
use crate::compare::diff::{self, Diff};
use crate::error::Result;

use super::Session;
use super::metrics::sides;

pub fn compute_diff(s: &Session, revs: &[String], all: bool) -> Result<Diff> {
    let (repo, a, b) = sides(s, revs)?;
    let old = collect::params_at(s, repo.as_ref(), &a)?;
    let new = collect::params_at(s, repo.as_ref(), &b)?;
    let (rows, unchanged) = diff::compare(&old, &new, all);
    let base = |key: &str| {
        let k = (String::new(), key.to_string());
        (old.get(&k), new.get(&k))
    };
    let before = rows.len();
    let rows: Vec<diff::Row> = rows
        .into_iter()
        .filter(|r| {
            if r.scope.is_empty() || !r.changed() {
                return true;
            }
            let (o, n) = base(&r.key);
            !(o == r.old.as_ref() && n == r.new.as_ref())
        })
        .collect();
    let inherited = before - rows.len();
    Ok(Diff {
        what: "params",
        old: a.label().to_string(),
        new: b.label().to_string(),
        rows,
        unchanged,
        inherited,
        problems: Vec::new(),
    })
}
