//! An experiment's name, checked once where it enters pipe (the command line, a record
//! read from `.pipe/exps/` or from a remote) and trusted everywhere after: it is a path
//! segment (`.pipe/exps/NAME.json`, `.pipe/exps/NAME/`) and part of a stage id
//! (`train@exp~NAME`), so a name that could climb out (`../../x`) or name a directory
//! (`a/b`) never exists as an [`ExpName`].
//!
//! Letters, digits and `_ - . = , +`, at most 200 bytes, not starting with `.` (so never
//! `.` or `..`), and not `baseline` or `workspace` (the workspace's own row).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExpName(String);

/// Why a name cannot name an experiment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "experiment name `{0}`: use letters, digits and `_ - . = , +` (at most 200, not starting with `.`)"
    )]
    Characters(String),
    #[error("experiment name `{0}` is reserved for the workspace's own results")]
    Reserved(String),
}

/// Names that stand for the workspace's own results in `exp show` and `exp diff`.
pub const RESERVED: [&str; 2] = ["baseline", "workspace"];

impl ExpName {
    /// `Err`: why `name` cannot name an experiment (a sentence naming it).
    pub fn parse(name: &str) -> Result<ExpName, NameError> {
        let ok = !name.is_empty()
            && name.len() <= 200
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.=,+".contains(c));
        if !ok {
            return Err(NameError::Characters(name.to_string()));
        }
        if RESERVED.contains(&name) {
            return Err(NameError::Reserved(name.to_string()));
        }
        Ok(ExpName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ExpName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExpName::parse(s)
    }
}

impl AsRef<str> for ExpName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for ExpName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ExpName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ExpName::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_path_segment_that_cannot_climb() {
        assert!(ExpName::parse("lr=0.01,fusion=a_b").is_ok());
        assert!(ExpName::parse("a.b+c-d").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "../../../x",
            "a/b",
            "/tmp/x",
            ".hidden",
            "a b",
            "a\0b",
            "baseline",
            "workspace",
        ] {
            assert!(ExpName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(ExpName::parse(&"x".repeat(201)).is_err());
        assert_eq!(
            ExpName::parse("a/b").unwrap_err().to_string(),
            "experiment name `a/b`: use letters, digits and `_ - . = , +` (at most 200, not starting with `.`)"
        );
        assert_eq!(
            ExpName::parse("baseline").unwrap_err().to_string(),
            "experiment name `baseline` is reserved for the workspace's own results"
        );
        let json = r#"{"n": "../x"}"#;
        #[derive(Deserialize)]
        struct T {
            #[allow(dead_code)]
            n: ExpName,
        }
        assert!(
            serde_json::from_str::<T>(json).is_err(),
            "decoding checks too"
        );
    }
}
