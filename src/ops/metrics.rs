//! `pipe metrics show` and `pipe metrics diff`: the pipeline's metrics files, flattened,
//! now or at git revisions, as models `report::compare` renders. A file that cannot be
//! read is named in the error at the end ([`problems_error`]); every other file is still
//! shown.

use crate::compare::collect::{self, Read};
use crate::compare::diff::{self, Diff, Keyed, Problem};
use crate::compare::git::{Repo, Rev};
use crate::error::Result;
use crate::ops::error::OpsError;
use crate::report::compare::Shown;
use crate::spec::OutRole;

use super::Session;

/// The error for files that could not be read, after the rest was printed.
pub fn problems_error(problems: &[Problem]) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("metrics file {} ({}): {}", p.path, p.rev, p.error))
        .collect();
    Err(OpsError::Unreadable { lines }.into())
}

/// The two sides of a diff: `[A] [B]`, default `HEAD` and the workspace.
pub fn sides(s: &Session, revs: &[String]) -> Result<(Option<Repo>, Rev, Rev)> {
    let (a, b) = match revs {
        [] => ("HEAD", "workspace"),
        [a] => (a.as_str(), "workspace"),
        [a, b] => (a.as_str(), b.as_str()),
        _ => {
            return Err(OpsError::TooManyRevs { n: revs.len() }.into());
        }
    };
    let ws = |r: &str| r.eq_ignore_ascii_case("workspace");
    if ws(a) && ws(b) {
        return Ok((None, Rev::Workspace, Rev::Workspace));
    }
    let repo = Repo::open(&s.ws.root)?;
    let (ra, rb) = (repo.rev(a)?, repo.rev(b)?);
    Ok((Some(repo), ra, rb))
}

/// Every metrics file of `targets` as it is in the workspace (absent ones left out), and
/// the files that could not be read.
pub fn show(s: &Session, targets: &[String]) -> Result<(Vec<Shown>, Vec<Problem>)> {
    let files = collect::files(&s.graph, targets, OutRole::Metric)?;
    let reads = collect::metrics_at(s, None, &Rev::Workspace, &files)?;
    let mut problems = Vec::new();
    let mut shown = Vec::new();
    for (f, r) in files.iter().zip(reads) {
        let (metrics, error) = match r {
            Read::Ok(m) => (Some(m), None),
            Read::Absent => continue,
            Read::Broken(e) => {
                let e = e.to_string();
                problems.push(Problem {
                    path: f.path.clone(),
                    rev: "workspace".into(),
                    error: e.clone(),
                });
                (None, Some(e))
            }
        };
        shown.push(Shown {
            stage: f.stage.clone(),
            path: f.path.clone(),
            metrics,
            error,
        });
    }
    Ok((shown, problems))
}

fn keyed(
    files: &[collect::FileRef],
    reads: Vec<Read>,
    rev: &Rev,
    problems: &mut Vec<Problem>,
) -> Keyed {
    let mut out = Keyed::new();
    for (f, r) in files.iter().zip(reads) {
        match r {
            Read::Ok(m) => {
                for (k, v) in m {
                    out.insert((f.path.clone(), k), v);
                }
            }
            Read::Absent => {}
            Read::Broken(error) => problems.push(Problem {
                path: f.path.clone(),
                rev: rev.label().to_string(),
                error: error.to_string(),
            }),
        }
    }
    out
}

/// The diff of every metrics file between two revisions.
pub fn compute_diff(s: &Session, targets: &[String], revs: &[String], all: bool) -> Result<Diff> {
    let (repo, a, b) = sides(s, revs)?;
    let files = collect::files(&s.graph, targets, OutRole::Metric)?;
    let mut problems = Vec::new();
    let old = collect::metrics_at(s, repo.as_ref(), &a, &files)?;
    let old = keyed(&files, old, &a, &mut problems);
    let new = collect::metrics_at(s, repo.as_ref(), &b, &files)?;
    let new = keyed(&files, new, &b, &mut problems);
    let (rows, unchanged) = diff::compare(&old, &new, all);
    Ok(Diff {
        what: "metrics",
        old: a.label().to_string(),
        new: b.label().to_string(),
        rows,
        unchanged,
        inherited: 0,
        problems,
    })
}
