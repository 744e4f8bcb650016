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

/// A params value as JSON, a null param as JSON's `null` (not the sentinel string), at any
/// depth: what a stage reads from `$PIPE_PARAMS` and what a JSON params file is written with.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::String(_) if is_null(v) => J::Null,
        Value::String(s) => J::String(s.clone()),
        Value::Integer(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Boolean(b) => J::Bool(*b),
        Value::Datetime(d) => J::String(d.to_string()),
        Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        Value::Table(t) => J::Object(t.iter().map(|(k, x)| (k.clone(), to_json(x))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_param_is_json_null_at_any_depth() {
        let t = toml::toml! { x = 1 };
        let mut t = Value::Table(t);
        if let Value::Table(m) = &mut t {
            m.insert("n".into(), null());
            m.insert("l".into(), Value::Array(vec![Value::Integer(2), null()]));
        }
        assert_eq!(
            to_json(&t),
            serde_json::json!({ "x": 1, "n": null, "l": [2, null] })
        );
    }
}
