//! `-S KEY=VALUE` overrides: parsed as TOML values, checked against the params exactly as
//! sweep overrides are (an unknown key with "did you mean", a value of the wrong type),
//! and the default experiment name made from them as a sweep cell's name is.

use std::collections::BTreeMap;

use toml::Value;

use super::ExpError;
use crate::spec::naming::{short_names, value_label};
use crate::spec::params::Params;
use crate::spec::sweep::{base_value, typed_value};

/// Overrides in the order given, each checked and typed.
pub fn parse(params: &Params, args: &[String]) -> Result<Vec<(String, Value)>, ExpError> {
    let mut out: Vec<(String, Value)> = Vec::with_capacity(args.len());
    for a in args {
        let Some((k, raw)) = a.split_once('=') else {
            return Err(ExpError::OverrideShape { arg: a.clone() });
        };
        let k = k.trim();
        if out.iter().any(|(x, _)| x == k) {
            return Err(ExpError::OverriddenTwice {
                arg: a.clone(),
                key: k.to_string(),
            });
        }
        let at = |e| ExpError::Override { arg: a.clone(), e };
        let base = base_value(params, k).map_err(at)?;
        let v = match (&base, value_of(raw)) {
            // A string param takes the text as written (`-S model.name=123`).
            (Value::String(_), v) if !matches!(v, Value::String(_)) => {
                Value::String(raw.to_string())
            }
            (_, v) => v,
        };
        let v = typed_value(k, &base, &v).map_err(at)?;
        out.push((k.to_string(), v));
    }
    Ok(out)
}

/// The text of a value as TOML (`0.01`, `true`, `[1, 2]`, `"x"`), else a bare string.
fn value_of(raw: &str) -> Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

/// The default name: the overrides as a sweep cell names them (`lr=0.01,bs=64`).
pub fn default_name(overrides: &[(String, Value)]) -> String {
    let keys: Vec<String> = overrides.iter().map(|(k, _)| k.clone()).collect();
    let short = short_names(&keys);
    overrides
        .iter()
        .map(|(k, v)| format!("{}={}", short[k], value_label(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The overrides as a map.
pub fn to_map(o: &[(String, Value)]) -> BTreeMap<String, Value> {
    o.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_toml_else_as_text() {
        assert_eq!(value_of("0.01"), Value::Float(0.01));
        assert_eq!(value_of("3"), Value::Integer(3));
        assert_eq!(value_of("true"), Value::Boolean(true));
        assert_eq!(
            value_of("weighted_mean"),
            Value::String("weighted_mean".into())
        );
        assert_eq!(
            value_of("[1, 2]"),
            Value::Array(vec![Value::Integer(1), Value::Integer(2)])
        );
    }

    #[test]
    fn names_follow_the_sweep_cells() {
        let o = vec![
            ("train.lr".to_string(), Value::Float(0.01)),
            ("model.fusion".to_string(), Value::String("a/b".into())),
        ];
        assert_eq!(default_name(&o), "lr=0.01,fusion=a_b");
    }
}
