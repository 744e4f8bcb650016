//! A git merge driver for lock files: merges by stage instead of by line.
//!
//! `pipe init` registers it (`.gitattributes`: `pipe.lock merge=pipe-lock`; git config
//! `merge.pipe-lock.driver = pipe merge-lock %O %A %B`). For each stage: taken from the side
//! that changed it; when both sides changed it differently, ours is kept and the stage is
//! reported as a conflict (exit 1, so git marks the file conflicted). Two branches that ran
//! different sweep cells merge without conflict even when their entries sit side by side.

use std::collections::BTreeSet;

use super::{Entries, format};

pub struct Merged {
    pub entries: Entries,
    pub conflicts: Vec<String>,
}

pub fn merge3(base: &Entries, ours: &Entries, theirs: &Entries) -> Merged {
    let ids: BTreeSet<&String> = base
        .keys()
        .chain(ours.keys())
        .chain(theirs.keys())
        .collect();
    let mut entries = Entries::new();
    let mut conflicts = Vec::new();
    for id in ids {
        let (b, o, t) = (base.get(id), ours.get(id), theirs.get(id));
        let pick = if o == t || t == b {
            o
        } else if o == b {
            t
        } else {
            conflicts.push(id.clone());
            o
        };
        if let Some(e) = pick {
            entries.insert(id.clone(), e.clone());
        }
    }
    Merged { entries, conflicts }
}

/// One of the three locks git hands the merge driver is no lock (bad input: exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{side}: {e}")]
pub struct MergeError {
    /// `base`, `ours` or `theirs`.
    pub side: &'static str,
    pub e: format::ParseError,
}

impl MergeError {
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// Parses three lock texts and merges them; the result's text is `format::render`.
pub fn merge_texts(
    base: &str,
    ours: &str,
    theirs: &str,
) -> Result<(String, Vec<String>), MergeError> {
    let parse = |side, text| format::parse(text).map_err(|e| MergeError { side, e });
    let m = merge3(
        &parse("base", base)?,
        &parse("ours", ours)?,
        &parse("theirs", theirs)?,
    );
    Ok((format::render(&m.entries), m.conflicts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LockEntry;
    use std::collections::BTreeMap;

    fn e(cmd: &str) -> LockEntry {
        LockEntry {
            cmd: cmd.into(),
            params: BTreeMap::new(),
            env: BTreeMap::new(),
            deps: BTreeMap::new(),
            outs: BTreeMap::new(),
            changed_during_run: Vec::new(),
            key: None,
        }
    }

    #[test]
    fn merges_by_stage() {
        let base: Entries = [("a".to_string(), e("1"))].into();
        let mut ours = base.clone();
        ours.insert("cell1".into(), e("x"));
        let mut theirs = base.clone();
        theirs.insert("cell2".into(), e("y"));
        theirs.insert("a".into(), e("2"));
        let m = merge3(&base, &ours, &theirs);
        assert!(m.conflicts.is_empty());
        assert_eq!(m.entries.len(), 3);
        assert_eq!(m.entries["a"].cmd, "2");
    }

    #[test]
    fn reports_true_conflicts_and_keeps_ours() {
        let base: Entries = [("a".to_string(), e("1"))].into();
        let ours: Entries = [("a".to_string(), e("2"))].into();
        let theirs: Entries = [("a".to_string(), e("3"))].into();
        let m = merge3(&base, &ours, &theirs);
        assert_eq!(m.conflicts, vec!["a".to_string()]);
        assert_eq!(m.entries["a"].cmd, "2");
        // A deletion on one side with no change on the other is taken.
        let m = merge3(&base, &base, &Entries::new());
        assert!(m.entries.is_empty());
    }

    #[test]
    fn a_side_that_is_no_lock_is_named() {
        let e = merge_texts("", "version = 9\n", "").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ours: lock file version 9 is not supported by this pipe (which writes version 1)"
        );
        assert_eq!(e.exit_code(), 2);
    }
}
