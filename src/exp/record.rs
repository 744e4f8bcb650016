//! The experiment record, `.pipe/exps/<name>.json`: everything `exp show`, `diff`,
//! `apply` and `push` need, so none of them re-reads the experiment's files.
//!
//! Written atomically at each change of state: `queued` when recorded, `running` with the
//! pid of the process running it, then `done` (its stages' lock entries and metrics
//! filled in) or `failed` (with the first failure). A `running` record whose process is
//! gone reads as `failed` (interrupted). Records and the outs under `.pipe/exps/<name>/`
//! are written and removed through the workspace's root (`Workspace::dir`), so neither a
//! name nor a linked `.pipe/exps` can lead a write or a removal out of the workspace; a
//! record is a file of the umask's mode, readable by a teammate's `pipe gc` when the cache
//! is shared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::lock::LockEntry;
use pipe_cache::RootDir;

use super::{ExpError, ExpName};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpState {
    Queued,
    Running,
    Done,
    Failed,
}

impl ExpState {
    pub fn label(self) -> &'static str {
        match self {
            ExpState::Queued => "queued",
            ExpState::Running => "running",
            ExpState::Done => "done",
            ExpState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpRecord {
    pub name: ExpName,
    /// The overrides, typed.
    pub overrides: BTreeMap<String, toml::Value>,
    /// What it was limited to (empty: the whole pipeline).
    #[serde(default)]
    pub targets: Vec<String>,
    pub state: ExpState,
    /// Unix milliseconds (as are the other times): orders the experiments.
    pub queued_at: u64,
    #[serde(default)]
    pub started_at: Option<u64>,
    #[serde(default)]
    pub finished_at: Option<u64>,
    #[serde(default)]
    pub pid: Option<u32>,
    /// The workspace's values of the overridden keys when it was recorded.
    #[serde(default)]
    pub baseline: BTreeMap<String, toml::Value>,
    /// Every param its stages read (overrides applied), for `exp diff`.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Base stage name -> the lock entry of its instance in this experiment (paths as the
    /// experiment wrote them, under `.pipe/exps/<name>/`).
    #[serde(default)]
    pub stages: BTreeMap<String, LockEntry>,
    #[serde(default)]
    pub error: Option<String>,
}

impl ExpRecord {
    /// The state as shown: a `running` record whose process is gone failed.
    pub fn shown_state(&self) -> ExpState {
        match (self.state, self.pid) {
            (ExpState::Running, Some(pid)) if !Path::new(&format!("/proc/{pid}")).exists() => {
                ExpState::Failed
            }
            (s, _) => s,
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(self).map_err(ExpError::Encode)?)
    }

    pub fn decode(bytes: &[u8], from: &str) -> Result<ExpRecord> {
        Ok(
            serde_json::from_slice(bytes).map_err(|e| ExpError::NotARecord {
                from: from.to_string(),
                e,
            })?,
        )
    }
}

/// The records of one workspace, under `.pipe/exps/`. Written and removed through the
/// workspace's root (`Workspace::dir`): a record's name is checked (`ExpName`), and a
/// `.pipe/exps` that is a link out of the workspace is refused.
pub struct Records {
    dir: PathBuf,
    /// The workspace root, for writes; `None`: read only (another workspace's records,
    /// read by gc).
    root: Option<RootDir>,
}

/// A record file under `.pipe/exps/` that does not read as an experiment record: shown by
/// `exp show` as such (never left out silently), removed by `exp remove NAME`.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// The experiment the file's name stands for (`None`: the file name is no
    /// experiment name, so no command names it).
    pub name: Option<ExpName>,
    /// The file, as shown.
    pub file: String,
    pub why: String,
    /// The file could not be read at all (permissions, an I/O error), as opposed to read
    /// and not understood.
    pub io: bool,
}

/// Unix milliseconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `.pipe/exps`, relative to the workspace root.
const REL: &str = ".pipe/exps";

impl Records {
    /// The records of the workspace whose `.pipe/` is `dot` and whose root is `root`
    /// (opened: every write goes through it), to read and write.
    pub fn writable(dot: &Path, root: pipe_cache::RootDir) -> Records {
        Records {
            dir: dot.join("exps"),
            root: Some(root),
        }
    }

    /// The records under `dot` (a `.pipe/`), to read only.
    pub fn read_only(dot: &Path) -> Records {
        Records {
            dir: dot.join("exps"),
            root: None,
        }
    }

    fn root(&self) -> Result<&RootDir> {
        Ok(self
            .root
            .as_ref()
            .ok_or_else(|| ExpError::ReadOnly(self.dir.clone()))?)
    }

    pub fn path(&self, name: &ExpName) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The record of `name`; `Err` when it cannot be read or is not `name`'s record.
    pub fn get(&self, name: &ExpName) -> Result<Option<ExpRecord>> {
        let p = self.path(name);
        match std::fs::read(&p) {
            Ok(b) => read_record(&p, &b, name).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ExpError::Read { path: p, e }.into()),
        }
    }

    /// The record, or an error naming the experiments there are.
    pub fn find(&self, name: &ExpName) -> Result<ExpRecord> {
        if let Some(r) = self.get(name)? {
            return Ok(r);
        }
        let names: Vec<String> = self
            .list()?
            .into_iter()
            .map(|r| r.name.to_string())
            .take(10)
            .collect();
        Err(ExpError::NotFound {
            name: name.clone(),
            others: names,
        }
        .into())
    }

    pub fn save(&self, r: &ExpRecord) -> Result<()> {
        self.root()?
            .write_atomic(&format!("{REL}/{}.json", r.name), &r.encode()?, false)?;
        Ok(())
    }

    /// Every readable record, oldest first (see [`Records::list_all`] for the others).
    pub fn list(&self) -> Result<Vec<ExpRecord>> {
        Ok(self.list_all()?.0)
    }

    /// Every record, oldest first, and the record files that do not read as one.
    pub fn list_all(&self) -> Result<(Vec<ExpRecord>, Vec<Unreadable>)> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()));
            }
            Err(e) => {
                return Err(ExpError::Read {
                    path: self.dir.clone(),
                    e,
                }
                .into());
            }
        };
        let paths: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        let read: Vec<std::result::Result<ExpRecord, Unreadable>> = paths
            .par_iter()
            .map(|p| {
                let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                let name = stem.as_deref().and_then(|s| ExpName::parse(s).ok());
                let bad = |why: String, io: bool| Unreadable {
                    name: name.clone(),
                    file: p.display().to_string(),
                    why,
                    io,
                };
                let Some(n) = &name else {
                    return Err(bad("its file name is no experiment name".into(), false));
                };
                let b = std::fs::read(p).map_err(|e| bad(e.to_string(), true))?;
                read_record(p, &b, n).map_err(|e| bad(e.to_string(), false))
            })
            .collect();
        let mut v = Vec::new();
        let mut bad = Vec::new();
        for r in read {
            match r {
                Ok(r) => v.push(r),
                Err(u) => bad.push(u),
            }
        }
        v.sort_by(|a, b| a.queued_at.cmp(&b.queued_at).then(a.name.cmp(&b.name)));
        bad.sort_by(|a, b| a.file.cmp(&b.file));
        Ok((v, bad))
    }

    /// Deletes the record (readable or not) and the experiment's outs.
    pub fn remove(&self, name: &ExpName) -> Result<()> {
        let root = self.root()?;
        root.remove(&format!("{REL}/{name}.json"))?;
        root.remove(&format!("{REL}/{name}"))?;
        Ok(())
    }

    /// Deletes the out directory `.pipe/exps/<name>` of an experiment that has no record.
    pub fn remove_out_dir(&self, name: &ExpName) -> Result<()> {
        self.root()?.remove(&format!("{REL}/{name}"))?;
        Ok(())
    }
}

/// The record in `bytes` (read from `path`), which must be `name`'s.
fn read_record(path: &Path, bytes: &[u8], name: &ExpName) -> Result<ExpRecord> {
    let r = ExpRecord::decode(bytes, &path.display().to_string())?;
    if r.name != *name {
        return Err(ExpError::NotItsRecord {
            path: path.to_path_buf(),
            found: r.name,
            name: name.clone(),
        }
        .into());
    }
    Ok(r)
}

/// `2026-11-30 20:41` (UTC) from unix seconds.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(1_796_086_920), "2026-12-01 01:02");
    }
}
