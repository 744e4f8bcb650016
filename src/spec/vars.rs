//! `[vars]`: literal values for `${name}` in `cmd`, `deps`, `outs` and `wdir`.
//!
//! A var's value is substituted as written; it is not interpolated again. So a `${...}`
//! inside `[vars]` (`x = "${y}"`, or the cycle `x = "${y}"`, `y = "${x}"`) would reach the
//! shell literally: it is refused when the pipeline is loaded, pointing at the value, as
//! DVC refuses interpolation in its `vars`. `$${` (a literal `${`) stays allowed.

use std::ops::Range;

use toml_edit::{Item, Value};

use super::diag::{SourceFile, SpecError};
use super::interp;

/// Refuses a `${...}` anywhere under `[vars]` of `file` (a pipeline file).
pub fn check_literal(file: &SourceFile) -> Result<(), SpecError> {
    if !interp::has_vars(&file.text) {
        return Ok(());
    }
    // The file already parsed as TOML; a failure here only means there is nothing to check.
    let Ok(doc) = toml_edit::Document::parse(&*file.text) else {
        return Ok(());
    };
    let Some(vars) = doc.get("vars") else {
        return Ok(());
    };
    let Some(bad) = in_item(vars, "vars") else {
        return Ok(());
    };
    Err(file
        .error(
            bad.span,
            format!(
                "`{}` = {:?}: `${{...}}` is not expanded inside [vars]",
                bad.key, bad.value
            ),
        )
        .help(
            "vars are literal values: write the value itself, or write the `${...}` in the stage's cmd, deps or outs",
        ))
}

struct Template {
    key: String,
    value: String,
    span: Range<usize>,
}

fn in_item(item: &Item, key: &str) -> Option<Template> {
    match item {
        Item::Value(v) => in_value(v, key),
        Item::Table(t) => t
            .iter()
            .find_map(|(k, it)| in_item(it, &format!("{key}.{k}"))),
        Item::ArrayOfTables(a) => a.iter().enumerate().find_map(|(i, t)| {
            t.iter()
                .find_map(|(k, it)| in_item(it, &format!("{key}[{i}].{k}")))
        }),
        Item::None => None,
    }
}

fn in_value(v: &Value, key: &str) -> Option<Template> {
    match v {
        Value::String(s) if interp::has_vars(s.value()) => Some(Template {
            key: key.to_string(),
            value: s.value().clone(),
            span: s.span().unwrap_or(0..0),
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| in_value(v, &format!("{key}[{i}]"))),
        Value::InlineTable(t) => t
            .iter()
            .find_map(|(k, v)| in_value(v, &format!("{key}.{k}"))),
        _ => None,
    }
}
