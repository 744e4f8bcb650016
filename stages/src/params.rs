//! Typed, strict reading of one params table (`[train]`, `[model]`, ..).
//!
//! Each stage's params struct reads its keys through a [`Section`]: every getter takes the
//! key and its default, checks the TOML type (an integer is accepted where a float is
//! expected, never the reverse) and the range, and records the key as known. `finish`
//! then rejects whatever key nobody asked for, so a typo is an error that names it
//! (`params: unknown key train.lrr`) instead of a silently ignored setting. A missing table
//! means "all defaults".

use std::cell::RefCell;
use std::collections::BTreeSet;

use toml::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("params: unknown key {table}.{key} (known keys: {known})")]
    Unknown {
        table: String,
        key: String,
        known: String,
    },
    #[error("params: {table}.{key} must be {expected}, got {found}")]
    Type {
        table: String,
        key: String,
        expected: &'static str,
        found: String,
    },
    #[error("params: {table}.{key} = {value}: {why}")]
    Invalid {
        table: String,
        key: String,
        value: String,
        why: String,
    },
    #[error("params: `{table}` must be a table, got {found}")]
    NotTable { table: String, found: String },
}

/// One params table being read; see the module header.
pub struct Section<'a> {
    name: &'static str,
    table: Option<&'a toml::Table>,
    asked: RefCell<BTreeSet<&'static str>>,
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string {s:?}"),
        Value::Integer(i) => format!("integer {i}"),
        Value::Float(f) => format!("float {f}"),
        Value::Boolean(b) => format!("boolean {b}"),
        Value::Datetime(d) => format!("datetime {d}"),
        Value::Array(_) => "an array".to_string(),
        Value::Table(_) => "a table".to_string(),
    }
}

impl<'a> Section<'a> {
    /// The table `name` of the invocation's params, or all defaults where it is absent.
    pub fn new(params: &'a toml::Table, name: &'static str) -> Result<Self, ParamError> {
        let table = match params.get(name) {
            None => None,
            Some(Value::Table(t)) => Some(t),
            Some(other) => {
                return Err(ParamError::NotTable {
                    table: name.to_string(),
                    found: describe(other),
                });
            }
        };
        Ok(Section {
            name,
            table,
            asked: RefCell::new(BTreeSet::new()),
        })
    }

    fn get(&self, key: &'static str) -> Option<&'a Value> {
        self.asked.borrow_mut().insert(key);
        self.table.and_then(|t| t.get(key))
    }

    fn type_error(&self, key: &str, expected: &'static str, found: &Value) -> ParamError {
        ParamError::Type {
            table: self.name.to_string(),
            key: key.to_string(),
            expected,
            found: describe(found),
        }
    }

    pub fn invalid(&self, key: &str, value: impl ToString, why: impl Into<String>) -> ParamError {
        ParamError::Invalid {
            table: self.name.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            why: why.into(),
        }
    }

    pub fn f64(&self, key: &'static str, default: f64) -> Result<f64, ParamError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Float(f)) if f.is_finite() => Ok(*f),
            // TOML users write `lr = 1` and mean a float; exact up to 2^53.
            Some(Value::Integer(i)) => Ok(*i as f64),
            Some(v) => Err(self.type_error(key, "a finite number", v)),
        }
    }

    /// A float in `[lo, hi]`.
    pub fn f64_in(
        &self,
        key: &'static str,
        default: f64,
        lo: f64,
        hi: f64,
    ) -> Result<f64, ParamError> {
        let v = self.f64(key, default)?;
        if v < lo || v > hi {
            return Err(self.invalid(key, v, format!("must be between {lo} and {hi}")));
        }
        Ok(v)
    }

    pub fn int(&self, key: &'static str, default: i64) -> Result<i64, ParamError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Integer(i)) => Ok(*i),
            Some(v) => Err(self.type_error(key, "an integer", v)),
        }
    }

    /// An integer `>= min`, as a usize.
    pub fn count(
        &self,
        key: &'static str,
        default: usize,
        min: usize,
    ) -> Result<usize, ParamError> {
        let v = self.int(key, default as i64)?;
        if v < min as i64 {
            return Err(self.invalid(key, v, format!("must be at least {min}")));
        }
        usize::try_from(v).map_err(|_| self.invalid(key, v, "is too large"))
    }

    pub fn u64(&self, key: &'static str, default: u64) -> Result<u64, ParamError> {
        let v = self.int(key, default as i64)?;
        u64::try_from(v).map_err(|_| self.invalid(key, v, "must not be negative"))
    }

    pub fn bool(&self, key: &'static str, default: bool) -> Result<bool, ParamError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Boolean(b)) => Ok(*b),
            Some(v) => Err(self.type_error(key, "true or false", v)),
        }
    }

    pub fn string(&self, key: &'static str, default: &str) -> Result<String, ParamError> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(self.type_error(key, "a string", v)),
        }
    }

    /// A string that must be one of `allowed`.
    pub fn choice(
        &self,
        key: &'static str,
        default: &str,
        allowed: &[&str],
    ) -> Result<String, ParamError> {
        let v = self.string(key, default)?;
        if !allowed.contains(&v.as_str()) {
            return Err(self.invalid(
                key,
                format!("{v:?}"),
                format!("must be one of {}", allowed.join(", ")),
            ));
        }
        Ok(v)
    }

    /// Rejects keys that no getter asked for; call after reading every key.
    pub fn finish(self) -> Result<(), ParamError> {
        let Some(table) = self.table else {
            return Ok(());
        };
        let asked = self.asked.borrow();
        if let Some(key) = table.keys().find(|k| !asked.contains(k.as_str())) {
            return Err(ParamError::Unknown {
                table: self.name.to_string(),
                key: key.clone(),
                known: asked.iter().copied().collect::<Vec<_>>().join(", "),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> toml::Table {
        match text.parse::<toml::Table>() {
            Ok(t) => t,
            Err(e) => panic!("test params do not parse: {e}"),
        }
    }

    #[test]
    fn defaults_apply_when_the_table_or_key_is_missing() {
        let p = params("");
        let s = Section::new(&p, "train").unwrap();
        assert_eq!(s.f64("lr", 0.5).unwrap(), 0.5);
        assert!(s.finish().is_ok());
        let p = params("[train]\nepochs = 3\n");
        let s = Section::new(&p, "train").unwrap();
        assert_eq!(s.f64("lr", 0.5).unwrap(), 0.5);
        assert_eq!(s.count("epochs", 1, 1).unwrap(), 3);
        assert!(s.finish().is_ok());
    }

    #[test]
    fn unknown_key_is_named() {
        let p = params("[train]\nlrr = 0.1\n");
        let s = Section::new(&p, "train").unwrap();
        s.f64("lr", 0.5).unwrap();
        let err = s.finish().unwrap_err().to_string();
        assert!(err.starts_with("params: unknown key train.lrr"), "{err}");
        assert!(err.contains("lr"), "{err}");
    }

    #[test]
    fn wrong_type_names_key_and_value() {
        let p = params("[train]\nlr = \"fast\"\nepochs = 2.5\n");
        let s = Section::new(&p, "train").unwrap();
        let err = s.f64("lr", 0.5).unwrap_err().to_string();
        assert_eq!(
            err,
            "params: train.lr must be a finite number, got string \"fast\""
        );
        let err = s.count("epochs", 1, 1).unwrap_err().to_string();
        assert_eq!(
            err,
            "params: train.epochs must be an integer, got float 2.5"
        );
    }

    #[test]
    fn integers_widen_to_floats_and_ranges_are_checked() {
        let p = params("[t]\na = 1\nb = 1.5\nc = 0\nd = \"gru\"\n");
        let s = Section::new(&p, "t").unwrap();
        assert_eq!(s.f64("a", 0.0).unwrap(), 1.0);
        assert!(s.f64_in("b", 0.0, 0.0, 1.0).is_err());
        assert!(
            s.count("c", 1, 1)
                .unwrap_err()
                .to_string()
                .contains("at least 1")
        );
        assert!(s.choice("d", "lstm", &["lstm", "gru"]).is_ok());
        assert!(s.choice("d", "lstm", &["lstm"]).is_err());
    }

    #[test]
    fn a_non_table_is_rejected() {
        let p = params("train = 3\n");
        assert!(matches!(
            Section::new(&p, "train"),
            Err(ParamError::NotTable { .. })
        ));
    }
}
