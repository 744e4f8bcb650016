//! Writing override values into a params file in place: TOML through `toml_edit`, so the
//! file keeps its comments, order, spacing and the comment after a changed value; JSON
//! re-serialized (JSON has no comments to keep).

use toml::Value;

/// Why an override cannot be written into a params file (said after the file's name).
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Toml(toml_edit::TomlError),
    #[error("{0}")]
    Json(serde_json::Error),
    #[error("an empty key")]
    EmptyKey,
    #[error("no table `{seg}` on the way to `{key}`")]
    NoTable { seg: String, key: String },
    #[error("no key `{0}` in the file")]
    NoKey(String),
}

/// `text` (a TOML document) with each `key` (dotted) set to its value.
pub fn set_toml(text: &str, edits: &[(&str, &Value)]) -> Result<String, EditError> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(EditError::Toml)?;
    for (key, v) in edits {
        let segs: Vec<&str> = key.split('.').collect();
        let Some((last, path)) = segs.split_last() else {
            return Err(EditError::EmptyKey);
        };
        let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
        for seg in path {
            table = table
                .get_mut(seg)
                .and_then(toml_edit::Item::as_table_like_mut)
                .ok_or_else(|| EditError::NoTable {
                    seg: seg.to_string(),
                    key: key.to_string(),
                })?;
        }
        let item = table
            .get_mut(last)
            .ok_or_else(|| EditError::NoKey(key.to_string()))?;
        let new = to_edit(v);
        match item {
            toml_edit::Item::Value(old) => {
                let decor = old.decor().clone();
                *old = new;
                *old.decor_mut() = decor;
            }
            other => *other = toml_edit::Item::Value(new),
        }
    }
    Ok(doc.to_string())
}

fn to_edit(v: &Value) -> toml_edit::Value {
    match v {
        Value::String(s) => s.as_str().into(),
        Value::Integer(i) => (*i).into(),
        Value::Float(f) => (*f).into(),
        Value::Boolean(b) => (*b).into(),
        Value::Datetime(d) => d
            .to_string()
            .parse::<toml_edit::Datetime>()
            .map(toml_edit::Value::from)
            .unwrap_or_else(|_| d.to_string().into()),
        Value::Array(a) => {
            let mut arr = toml_edit::Array::new();
            for x in a {
                arr.push(to_edit(x));
            }
            toml_edit::Value::Array(arr)
        }
        Value::Table(t) => {
            let mut it = toml_edit::InlineTable::new();
            for (k, x) in t {
                it.insert(k.as_str(), to_edit(x));
            }
            toml_edit::Value::InlineTable(it)
        }
    }
}

/// `text` (a JSON document) with each `key` (dotted) set to its value.
pub fn set_json(text: &str, edits: &[(&str, &Value)]) -> Result<String, EditError> {
    let mut doc: serde_json::Value = serde_json::from_str(text).map_err(EditError::Json)?;
    for (key, v) in edits {
        let mut cur = &mut doc;
        for seg in key.split('.') {
            cur = cur
                .get_mut(seg)
                .ok_or_else(|| EditError::NoKey(key.to_string()))?;
        }
        *cur = serde_json::to_value(v).map_err(EditError::Json)?;
    }
    let mut s = serde_json::to_string_pretty(&doc).map_err(EditError::Json)?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keeps_comments_and_layout() {
        let text = "# top\n[train]\nlr = 0.001  # learning rate\nepochs = 3\n\n[model]\nfusion = \"attn\" # how\nsub.depth = 2\n";
        let out = set_toml(
            text,
            &[
                ("train.lr", &Value::Float(0.01)),
                ("model.fusion", &Value::String("wm".into())),
                ("model.sub.depth", &Value::Integer(4)),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "# top\n[train]\nlr = 0.01  # learning rate\nepochs = 3\n\n[model]\nfusion = \"wm\" # how\nsub.depth = 4\n"
        );
        assert_eq!(
            set_toml(text, &[("train.nope", &Value::Integer(1))])
                .unwrap_err()
                .to_string(),
            "no key `train.nope` in the file"
        );
    }
}
