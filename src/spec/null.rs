//! The null param: TOML has no null, so a params table holds a sentinel string where a
//! YAML or JSON params file (and a DVC lock) has one.

use toml::Value;

/// A params value of `null` (YAML `~` or an empty value, JSON `null`). TOML has no null, so
/// a params table holds this string in its place: a key present with a null value is a
/// param whose value is null (as DVC records it), compared like any value, written to the
/// lock as this string and shown as `null` (`None` in a command, as DVC interpolates it).
pub const NULL: &str = "\u{0}null";

/// The value standing for a null param.
pub fn null() -> Value {
    Value::String(NULL.to_string())
}

/// Whether `v` stands for a null param.
pub fn is_null(v: &Value) -> bool {
    matches!(v, Value::String(s) if s == NULL)
}
