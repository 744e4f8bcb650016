//! Names made from params: a sweep cell's or an experiment's name (`lr=0.01,grid=4`) and a
//! table's column names. In `spec` because both the graph (sweep cells) and experiments
//! name things this way, and neither may import the other.

use std::collections::BTreeMap;

use toml::Value;

use super::toml_text;

/// A name as an error shows it, quoted: whole when short, else its first 60 characters and
/// its length.
pub fn elided(s: &str) -> String {
    const SHOWN: usize = 60;
    if s.chars().count() <= SHOWN {
        format!("`{s}`")
    } else {
        let head: String = s.chars().take(SHOWN).collect();
        format!("`{head}...` ({} bytes)", s.len())
    }
}

/// The override value as it should appear in names: strings bare, `/` made `_`.
pub fn value_label(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => toml_text::decimal(other),
    };
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Short column names: the last segment of each key, unless two keys share it.
pub fn short_names(keys: &[String]) -> BTreeMap<String, String> {
    let last = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for k in keys {
        *count.entry(last(k)).or_default() += 1;
    }
    keys.iter()
        .map(|k| {
            let l = last(k);
            (k.clone(), if count[&l] > 1 { k.clone() } else { l })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_disambiguate() {
        let keys = vec![
            "model.grid".to_string(),
            "a.x".to_string(),
            "b.x".to_string(),
        ];
        let s = short_names(&keys);
        assert_eq!(s["model.grid"], "grid");
        assert_eq!(s["a.x"], "a.x");
        assert_eq!(s["b.x"], "b.x");
    }

    #[test]
    fn labels_are_path_safe() {
        assert_eq!(value_label(&Value::String("a/b c".into())), "a_b_c");
        assert_eq!(value_label(&Value::Float(0.5)), "0.5");
        assert_eq!(value_label(&Value::Boolean(false)), "false");
    }
}
