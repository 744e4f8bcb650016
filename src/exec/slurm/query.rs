//! Asking Slurm about jobs: one batched `squeue` for every job of the run, `scontrol show
//! job` for one that is no longer listed, and what a Slurm job state means to pipe.
//!
//! `squeue -h -r -t all -j A,B,... -o '%i|%T|%r|%N'` lists each array task on its own line
//! (`12_3`), finished jobs included while the controller still remembers them
//! (`MinJobAge`). When none of the ids is known any more, squeue exits 1 with "Invalid job
//! id specified": that is an empty answer, not an error.

use std::collections::HashMap;

use tokio::process::Command;

use super::SlurmError;

/// One line of squeue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub state: String,
    /// Why a pending job waits (`Resources`, `Priority`, ...); `None` shown as empty.
    pub reason: String,
    pub node: String,
}

/// The base job id of `12_3` (the array job) or `12`.
pub fn base_id(id: &str) -> &str {
    id.split_once('_').map_or(id, |(b, _)| b)
}

/// Parses squeue's `%i|%T|%r|%N` lines.
pub fn parse_squeue(text: &str) -> HashMap<String, Listed> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let mut f = line.trim().split('|');
        let (Some(id), Some(state), reason, node) = (f.next(), f.next(), f.next(), f.next()) else {
            continue;
        };
        if id.is_empty() {
            continue;
        }
        let clean = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty() && *s != "None" && *s != "(null)")
                .unwrap_or("")
                .to_string()
        };
        m.insert(
            id.to_string(),
            Listed {
                state: state.trim().to_string(),
                reason: clean(reason),
                node: clean(node),
            },
        );
    }
    m
}

/// One squeue call for all `ids` (job ids or array task ids).
pub async fn squeue(ids: &[String]) -> Result<HashMap<String, Listed>, SlurmError> {
    let mut bases: Vec<&str> = ids.iter().map(|i| base_id(i)).collect();
    bases.sort_unstable();
    bases.dedup();
    if bases.is_empty() {
        return Ok(HashMap::new());
    }
    let out = Command::new("squeue")
        .args(["-h", "-r", "-t", "all", "-o", "%i|%T|%r|%N", "-j"])
        .arg(bases.join(","))
        .output()
        .await
        .map_err(|source| SlurmError::Spawn {
            command: "squeue",
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("Invalid job id") {
            return Ok(HashMap::new());
        }
        return Err(SlurmError::Squeue {
            stderr: stderr.trim().to_string(),
        });
    }
    Ok(parse_squeue(&String::from_utf8_lossy(&out.stdout)))
}

/// `scontrol show job ID` as key=value pairs (one record, `-o`); `None` when Slurm no
/// longer knows the job.
pub async fn scontrol(id: &str) -> Option<HashMap<String, String>> {
    let out = Command::new("scontrol")
        .args(["-o", "show", "job", id])
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?;
    Some(parse_scontrol(line))
}

pub fn parse_scontrol(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What a job state means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Running,
    /// Ended; the exit-status file and the state tell how.
    Ended,
}

pub fn phase(state: &str) -> Phase {
    // `CANCELLED by 0` in some versions: the first word is the state.
    match state.split_whitespace().next().unwrap_or("") {
        "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "SUSPENDED" | "STOPPED"
        | "RESV_DEL_HOLD" => Phase::Queued,
        "RUNNING" | "CONFIGURING" | "COMPLETING" | "SIGNALING" | "STAGE_OUT" | "RESIZING" => {
            Phase::Running
        }
        "" => Phase::Queued,
        _ => Phase::Ended,
    }
}

/// An ended state that is worth another attempt: the job did nothing wrong.
pub fn retryable(state: &str) -> bool {
    matches!(
        state.split_whitespace().next().unwrap_or(""),
        "NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL"
    )
}

/// What an ended state means, in words, for the failure message.
pub fn meaning(state: &str) -> &'static str {
    match state.split_whitespace().next().unwrap_or("") {
        "TIMEOUT" => "it reached its time limit (raise resources.time or executor.time)",
        "OUT_OF_MEMORY" => "it ran out of memory (raise resources.mem)",
        "NODE_FAIL" => "its node failed",
        "PREEMPTED" => "a job of higher priority preempted it",
        "BOOT_FAIL" => "its node failed to boot",
        "DEADLINE" => "it missed its deadline",
        "CANCELLED" => "it was cancelled",
        "FAILED" => "it failed",
        _ => "it ended abnormally",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines() {
        let m = parse_squeue(
            "12_2|PENDING|Resources|\n12_0|RUNNING|None|vm\n7|TIMEOUT|TimeLimit|vm\n\n",
        );
        assert_eq!(m.len(), 3);
        assert_eq!(m["12_2"].reason, "Resources");
        assert_eq!(m["12_2"].node, "");
        assert_eq!(m["12_0"].reason, "");
        assert_eq!(m["12_0"].node, "vm");
        assert_eq!(m["7"].state, "TIMEOUT");
    }

    #[test]
    fn phases() {
        assert_eq!(phase("PENDING"), Phase::Queued);
        assert_eq!(phase("COMPLETING"), Phase::Running);
        assert_eq!(phase("COMPLETED"), Phase::Ended);
        assert_eq!(phase("CANCELLED by 0"), Phase::Ended);
        assert!(retryable("NODE_FAIL") && retryable("PREEMPTED"));
        assert!(!retryable("TIMEOUT") && !retryable("FAILED"));
    }

    #[test]
    fn scontrol_pairs() {
        let m =
            parse_scontrol("JobId=5 ArrayJobId=4 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15");
        assert_eq!(m["JobState"], "TIMEOUT");
        assert_eq!(m["ExitCode"], "0:15");
        assert_eq!(base_id("12_3"), "12");
        assert_eq!(base_id("12"), "12");
    }
}
