//! TOML values as text on one line: pipe's one renderer of a value.
//!
//! Everything pipe writes or shows of a TOML value goes through [`render`]: strings as
//! TOML basic strings (escaped), keys bare when they can be, arrays and inline tables,
//! `nan` and `inf`. The one choice is how a float is spelled ([`Floats`]):
//!
//! | use | floats | e.g. `1e-5` |
//! |---|---|---|
//! | the lock, `pipe explain`'s key parts, freshness reasons, import-dvc's pipe.toml ([`value`]) | [`Floats::Exact`]: the shortest text that reads back as the same float | `1e-5` |
//! | commands, sweep cell names, tables of params ([`decimal`], `spec::params::render`) | [`Floats::Decimal`]: never an exponent | `0.00001` |
//!
//! Both read back as the same float; they differ only past 1e-5 and 1e16, where a command
//! and a cell id have always spelled the number out, and in NaN (`nan` in the lock, `NaN`
//! in a command, as before). Changing
//! either would make every stage whose command interpolates such a param stale (and
//! rename its sweep cells), or rewrite every lock.

use std::fmt::Write as _;

use toml::Value;

/// How a float is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Floats {
    /// The shortest round-trip text, with an exponent for very small or large magnitudes.
    Exact,
    /// Decimal digits only (`0.00001`, `10000000000000000.0`).
    Decimal,
}

/// A value as TOML on one line, floats written as `floats` says. A null param
/// (`spec::null::NULL`) stays the string standing for it: the text reads back.
pub fn render(v: &Value, floats: Floats) -> String {
    render_as(v, floats, false)
}

/// A value as a person reads it: as [`value`], a null param written `null`. For messages
/// and tables only; it does not read back.
pub fn shown(v: &Value) -> String {
    render_as(v, Floats::Exact, true)
}

fn render_as(v: &Value, floats: Floats, null_bare: bool) -> String {
    match v {
        Value::String(s) if null_bare && s == super::null::NULL => "null".into(),
        Value::String(s) => string(s),
        Value::Float(f) => float(*f, floats),
        Value::Array(a) => {
            let inner: Vec<String> = a.iter().map(|x| render_as(x, floats, null_bare)).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Table(t) => {
            if t.is_empty() {
                return "{}".into();
            }
            let inner: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), render_as(v, floats, null_bare)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

/// A value as the lock writes it ([`Floats::Exact`]).
pub fn value(v: &Value) -> String {
    render(v, Floats::Exact)
}

/// A value as a command and a sweep cell's name spell it ([`Floats::Decimal`]), a null
/// param `null`.
pub fn decimal(v: &Value) -> String {
    render_as(v, Floats::Decimal, true)
}

fn float(f: f64, floats: Floats) -> String {
    let s = match floats {
        Floats::Exact if f.is_nan() => return "nan".into(),
        Floats::Exact if f.is_infinite() => return if f > 0.0 { "inf" } else { "-inf" }.into(),
        Floats::Exact => format!("{f:?}"),
        // `NaN` (not TOML's `nan`) as commands and cell names have always spelled it.
        Floats::Decimal if !f.is_finite() => return f.to_string(),
        Floats::Decimal => f.to_string(),
    };
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// A TOML key: bare when it can be, else a quoted string.
pub fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        string(k)
    }
}

/// A TOML basic string.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn floats_exact_for_the_lock_decimal_for_commands() {
        let f = |x: f64| (value(&Value::Float(x)), decimal(&Value::Float(x)));
        assert_eq!(f(1e-5), ("1e-5".into(), "0.00001".into()));
        assert_eq!(f(1e16), ("1e16".into(), "10000000000000000.0".into()));
        assert_eq!(f(0.001), ("0.001".into(), "0.001".into()));
        assert_eq!(f(1.0), ("1.0".into(), "1.0".into()));
        assert_eq!(f(f64::NAN), ("nan".into(), "NaN".into()));
        assert_eq!(f(f64::INFINITY), ("inf".into(), "inf".into()));
        assert_eq!(f(f64::NEG_INFINITY), ("-inf".into(), "-inf".into()));
    }

    #[test]
    fn compound_values_and_strings_are_toml() {
        let t: toml::Table =
            toml::from_str("a = [1, 0.5]\n\"b.c\" = { d = \"x\\ny\" }\ne = {}\n").unwrap();
        let v = Value::Table(t);
        let text = value(&v);
        assert_eq!(
            text,
            "{ a = [1, 0.5], \"b.c\" = { d = \"x\\ny\" }, e = {} }"
        );
        let back: toml::Table = toml::from_str(&format!("v = {text}")).unwrap();
        assert_eq!(back["v"], v);
    }

    proptest! {
        #[test]
        fn both_spellings_read_back_as_the_same_float(x in proptest::num::f64::NORMAL) {
            for s in [value(&Value::Float(x)), decimal(&Value::Float(x))] {
                let t: toml::Table = toml::from_str(&format!("v = {s}")).unwrap();
                prop_assert_eq!(t["v"].as_float(), Some(x));
            }
        }
    }
}
