//! Job records: what a later pipe process needs to adopt a job this one submitted.
//!
//! ```text
//! .pipe/slurm/
//!   jobs/<instance>.json      one record per stage instance with a job out (this file)
//!   status/<instance>.<run>.<attempt>   the wrapper's exit status (see script.rs)
//!   scripts/<run>/...         the wrappers (arrays: one per task, named by index)
//!   submissions.log           every sbatch call: time, job id, arguments
//!   probe-ok                  the workspace was seen from a node (see probe.rs)
//! ```
//!
//! A record is written as soon as `sbatch` answered and removed once its job's end was
//! handed to the scheduler, so a record that outlives its process (kill -9, a lost ssh
//! session, `--detach`) names a job whose result nobody collected yet.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub stage: String,
    /// `12` or `12_3` (an array task).
    pub job: String,
    /// The instance's run-cache key when it was submitted.
    pub key: String,
    pub status: PathBuf,
    pub slurm_log: PathBuf,
    pub attempt: u32,
    pub run: String,
}

pub fn dir(dot: &Path) -> PathBuf {
    dot.join("slurm").join("jobs")
}

fn file_name(stage: &str) -> String {
    stage
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect::<String>()
        + ".json"
}

pub fn write(dot: &Path, r: &Record) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(r).map_err(std::io::Error::other)?;
    pipe_cache::fsutil::write_atomic(&dir(dot).join(file_name(&r.stage)), &bytes, false)
        .map_err(std::io::Error::other)
}

pub fn remove(dot: &Path, stage: &str) {
    let _ = std::fs::remove_file(dir(dot).join(file_name(stage)));
}

/// Every readable record (an unreadable one is dropped: it can only cause a duplicate run).
pub fn load_all(dot: &Path) -> Vec<Record> {
    let Ok(rd) = std::fs::read_dir(dir(dot)) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = tempfile::tempdir().expect("tempdir");
        let r = Record {
            stage: "train@lr=0.1".into(),
            job: "12_3".into(),
            key: "abc".into(),
            status: "/x/s".into(),
            slurm_log: "/x/l".into(),
            attempt: 1,
            run: "r1".into(),
        };
        write(d.path(), &r).expect("write");
        assert_eq!(load_all(d.path()), vec![r.clone()]);
        remove(d.path(), &r.stage);
        assert!(load_all(d.path()).is_empty());
    }
}
