//! A run's events as lines: what `repro` and `sweep` show while the scheduler works
//! (`     Running train: param lr 0.1 -> 0.2`, `    Restored prepare from the run cache`),
//! and the status line on a terminal.

use crate::events::{DirtyReason, Event, Events, JobState, Outcome};

use super::printer::{self, Tone, elapsed};

/// The sink `repro` and `sweep` give the scheduler.
pub fn printing() -> Events {
    std::sync::Arc::new(print)
}

pub fn print(e: Event<'_>) {
    let p = printer::get();
    match e {
        Event::Started => p.status_start(),
        Event::Progress {
            mut running,
            done,
            total,
        } => {
            running.sort_unstable();
            let shown: Vec<&str> = running.iter().take(4).copied().collect();
            let more = running.len().saturating_sub(shown.len());
            let mut s = format!("[{done}/{total}] running {}", shown.join(", "));
            if more > 0 {
                s.push_str(&format!(" and {more} more"));
            }
            p.status_set(s);
        }
        Event::Waiting {
            stage,
            path,
            holder,
        } => {
            let by = holder.map(|h| format!(", held by {h}")).unwrap_or_default();
            p.verb(
                "Waiting",
                Tone::Warn,
                &format!("for {path} (another pipe process is using it{by}) before {stage}"),
            );
        }
        Event::Running { stage, reasons } => {
            p.verb(
                "Running",
                Tone::Good,
                &format!("{stage}: {}", describe(reasons)),
            );
        }
        Event::Retrying {
            stage,
            attempt,
            attempts,
            why,
        } => p.verb(
            "Retrying",
            Tone::Warn,
            &format!("{stage} (attempt {attempt} of {attempts}): it {why}"),
        ),
        Event::DepChangedDuringRun { stage, path } => p.warn(&format!(
            "dep {path} changed while stage {stage} ran: its outs are kept but not recorded as \
             the result of any inputs; the stage stays stale until it runs again"
        )),
        Event::Quarantined { stage, error } => {
            p.warn(&format!(
                "{error}; the local run cache cannot restore stage {stage}"
            ));
        }
        Event::Pulled {
            stage,
            objects,
            bytes,
            remote,
        } => p.verb(
            "Pulled",
            Tone::Good,
            &format!(
                "{stage}: {objects} object(s), {} from `{remote}`",
                printer::bytes(bytes)
            ),
        ),
        Event::RemoteFailed { remote, error, off } => {
            if off {
                p.warn(&format!(
                    "{error}; not using remote `{remote}` for the rest of this run"
                ));
            } else {
                p.warn(&error);
            }
        }
        Event::Output { stage, line } => p.stage_line(stage, line),
        Event::Job { stage, job, state } => job_state(stage, job, &state),
        Event::Probing { job, why } => p.verb(
            "Waiting",
            Tone::Warn,
            &format!("for probe job {job} ({why}): it checks that the nodes see the workspace"),
        ),
        Event::ExecProblem { message } => p.warn(&message),
        Event::Done { stage, outcome } => done(stage, outcome),
        Event::Panicked { error } => p.error(&format!("internal error in a stage task: {error}")),
        Event::Interrupted { running } => p.warn(&format!(
            "interrupted: stopping {running} running stage(s); nothing of theirs is committed"
        )),
        Event::Terminated => p.warn("terminated: stopping running stages"),
        Event::Ended => p.status_end(),
    }
}

/// Why a stage runs: the first reason (every one with `-v`).
fn describe(reasons: &[DirtyReason]) -> String {
    let verbose = printer::get().verbose() > 0;
    match reasons.split_first() {
        None => String::new(),
        Some((first, rest)) if rest.is_empty() || verbose => {
            let all: Vec<String> = std::iter::once(first)
                .chain(rest)
                .map(ToString::to_string)
                .collect();
            all.join(", ")
        }
        Some((first, rest)) => format!("{first} (and {} more)", rest.len()),
    }
}

fn job_state(stage: &str, job: &str, state: &JobState<'_>) {
    let p = printer::get();
    match state {
        JobState::Queued { why } => {
            p.verb(
                "Queued",
                Tone::Info,
                &format!("{stage} (Slurm job {job}: {why})"),
            );
        }
        JobState::Started { node } => {
            p.verb(
                "Started",
                Tone::Info,
                &format!("{stage} (Slurm job {job} on {node})"),
            );
        }
        JobState::Adopted => p.verb(
            "Adopting",
            Tone::Good,
            &format!("{stage}: Slurm job {job} of an earlier pipe process (not submitted again)"),
        ),
        JobState::Resubmitting { code } => p.detail(
            "Resubmitting",
            &format!("{stage}: Slurm job {job} of an earlier pipe process exited with code {code}"),
        ),
        JobState::Superseded => p.warn(&format!(
            "cancelled Slurm job {job} of an earlier pipe process: it computes {stage} from \
             inputs that have changed since"
        )),
    }
}

fn done(id: &str, o: &Outcome) {
    let p = printer::get();
    match o {
        Outcome::Fresh => p.detail("Fresh", id),
        Outcome::Frozen => p.detail("Frozen", &format!("{id} (not run)")),
        Outcome::Restored => p.verb("Restored", Tone::Good, &format!("{id} from the run cache")),
        Outcome::Ran(d) => p.verb("Finished", Tone::Good, &format!("{id} in {}", elapsed(*d))),
        Outcome::Failed(f) => {
            let mut m = f.to_string();
            if let Some(l) = f.log() {
                m.push_str(&format!(" (log: {})", crate::spec::diag::display_path(l)));
            }
            p.verb("Failed", Tone::Bad, &m);
        }
        Outcome::Skipped(why) => p.verb("Skipped", Tone::Warn, &format!("{id}: {why}")),
        Outcome::Cancelled => p.verb("Cancelled", Tone::Warn, id),
        Outcome::Detached(job) => p.verb(
            "Submitted",
            Tone::Good,
            &format!("{id} as Slurm job {job} (detached: a later `pipe repro` collects it)"),
        ),
    }
}

/// What a run asked of Slurm, for the `Slurm` line after it.
pub fn slurm_asked(a: &crate::exec::slurm::Asked) -> String {
    let mut s = format!(
        "{} submission(s) ({} array(s)) for {} job(s), {} adopted; {} squeue and {} scontrol \
         call(s) in {} ({:.1} squeue/min)",
        a.submissions,
        a.arrays,
        a.jobs,
        a.adopted,
        a.squeue,
        a.scontrol,
        elapsed(a.elapsed),
        a.squeue_per_min()
    );
    if let Some((mean, max)) = a.end_to_pipe_ms {
        s.push_str(&format!("; job end to pipe: mean {mean} ms, max {max} ms"));
    }
    s
}
