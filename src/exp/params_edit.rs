//! Writing override values into a params file in place: TOML through `toml_edit`, so the
//! file keeps its comments, order, spacing and the comment after a changed value; YAML by
//! replacing each value's text where the parser found it, so everything around it stays
//! (and the file is read back to check that exactly those values changed); JSON
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
    #[error("{0}")]
    /// A YAML or Python file the value cannot be written into in place, and why.
    InPlace(String),
    /// Read back, the edited YAML does not hold what was written (the value is an alias,
    /// or another value shares its text through an anchor).
    #[error(
        "`{0}` cannot be written in place (an anchor or alias shares its value); edit it by hand"
    )]
    YamlShared(String),
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

/// `text` (a YAML document) with each `key` (dotted) set to its value: the text of each
/// value is replaced where it stands (a scalar, or a flow-style `[..]`/`{..}` for a list or
/// a mapping), so comments, order, quoting elsewhere and layout stay as they were.
pub fn set_yaml(text: &str, edits: &[(&str, &Value)]) -> Result<String, EditError> {
    use crate::spec::yaml;
    use saphyr::{LoadableYamlNode as _, YamlDataOwned};
    let file = crate::spec::SourceFile {
        name: "params.yaml".into(),
        text: text.to_string().into(),
    };
    let bad = |e: crate::spec::SpecError| EditError::InPlace(e.message().to_string());
    let before = yaml::params_table(&file).map_err(bad)?;
    let docs = yaml::Node::load_from_str(text).map_err(|e| EditError::InPlace(e.to_string()))?;
    let Some(doc) = docs.first() else {
        return Err(EditError::NoKey(
            edits.first().map_or("", |e| e.0).to_string(),
        ));
    };
    let mut patches: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for (key, v) in edits {
        if key.is_empty() {
            return Err(EditError::EmptyKey);
        }
        let (mut key_node, mut cur) = (None, doc);
        for seg in key.split('.') {
            let YamlDataOwned::Mapping(m) = &cur.data else {
                return Err(EditError::NoKey(key.to_string()));
            };
            let Some((k, v)) = m
                .iter()
                .find(|(k, _)| yaml::key_str(&file, k).is_ok_and(|k| k == seg))
            else {
                // Read through a merge key (`<<: *base`): its text is another key's.
                if crate::spec::params::lookup(&before, key).is_some() {
                    return Err(EditError::YamlShared(key.to_string()));
                }
                return Err(EditError::NoKey(key.to_string()));
            };
            (key_node, cur) = (Some(k), v);
        }
        let range = yaml::exact_span(text, cur);
        let new = yaml_text(v);
        let colon = key_node
            .map(|k| yaml::exact_span(text, k).end)
            .and_then(|end| text.get(end..)?.find(':').map(|i| end + i + 1));
        // An anchored value (`&a 0.1`) is other keys' too, through their aliases.
        let before_value = colon.and_then(|c| text.get(c..range.start.max(c)));
        if before_value.is_some_and(|t| t.trim_start().starts_with('&'))
            || text.get(range.clone()).is_some_and(|t| t.starts_with('&'))
        {
            return Err(EditError::YamlShared(key.to_string()));
        }
        // A block collection's span starts at its first item's value: after `- ` for a
        // list (that value may itself be a flow `[..]`), at a key for a mapping.
        let item_of_block_list = text
            .get(..range.start)
            .is_some_and(|t| t.trim_end_matches([' ', '\t']).ends_with('-'));
        let collection = matches!(
            cur.data,
            YamlDataOwned::Sequence(_) | YamlDataOwned::Mapping(_)
        );
        let block = collection
            && (item_of_block_list
                || !text
                    .get(range.clone())
                    .is_some_and(|t| t.starts_with(['[', '{'])));
        match colon {
            // `key:` and nothing: the value follows the colon.
            Some(c) if range.is_empty() => patches.push((c..c, format!(" {new}"))),
            // A block list or mapping, on the lines below the key: the new value follows
            // the colon (flow style), and those lines go. The parser's span of a block
            // runs from its first value to the next key, so the lines are found by their
            // ends: through the last line break before that key.
            Some(c) if block => {
                let Some(key_line_end) = text.get(c..).and_then(|t| t.find('\n')).map(|i| c + i)
                else {
                    return Err(EditError::InPlace(format!(
                        "`{key}`: its value is not below it"
                    )));
                };
                let end = range.end.max(key_line_end);
                let block_end = match text.get(..end).and_then(|t| t.rfind('\n')) {
                    Some(nl)
                        if nl >= key_line_end
                            && text.get(nl + 1..end).is_some_and(|t| t.trim().is_empty()) =>
                    {
                        nl
                    }
                    _ => end,
                };
                patches.push((c..c, format!(" {new}")));
                patches.push((key_line_end..block_end, String::new()));
            }
            // A flow collection: the parser's span stops short of its closing bracket.
            _ if collection && !block => {
                let Some(end) = flow_end(text, range.start) else {
                    return Err(EditError::InPlace(format!(
                        "`{key}`: its value's closing bracket is not where it should be"
                    )));
                };
                patches.push((range.start..end, new));
            }
            // A scalar: its text is replaced where it stands.
            _ => patches.push((range, new)),
        }
    }
    patched(text, patches, before, edits, |out| {
        let after_file = crate::spec::SourceFile {
            name: "params.yaml".into(),
            text: out.to_string().into(),
        };
        yaml::params_table(&after_file)
    })
    .map_err(|e| match e {
        Patched::Overlap => EditError::InPlace("two edits overlap".into()),
        Patched::Unreadable(why) => EditError::InPlace(format!(
            "writing in place would break the file ({why}); edit it by hand"
        )),
        Patched::Differs(key) => EditError::YamlShared(key),
    })
}

/// The end (past its closing bracket) of the flow collection opening at `start` (`[` or
/// `{`), skipping brackets inside quoted strings and comments.
fn flow_end(text: &str, start: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    // A quote opens a quoted scalar only where a scalar starts (`don't` is plain).
    let opens =
        |i: usize| i == 0 || matches!(b[i - 1], b'[' | b'{' | b',' | b':' | b' ' | b'\t' | b'\n');
    while i < b.len() {
        match b[i] {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'"' if opens(i) => {
                // To the closing quote, past `\"`.
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if opens(i) => {
                // `''` inside is an escaped quote: the loop meets it as two strings.
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
            }
            b'#' if i > 0 && matches!(b[i - 1], b' ' | b'\t' | b'\n') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Why patched text was not kept ([`patched`]).
enum Patched {
    /// Two ranges overlap, or one is not a range of the text.
    Overlap,
    /// The patched text does not read (the reader's message).
    Unreadable(String),
    /// Read back, this edited key (or another value) is not what was asked.
    Differs(String),
}

/// `text` with each `(range, replacement)` applied, then read back with `read`: the result
/// when the table it holds is `before` with exactly `edits` applied.
fn patched(
    text: &str,
    mut patches: Vec<(std::ops::Range<usize>, String)>,
    before: toml::Table,
    edits: &[(&str, &Value)],
    read: impl Fn(&str) -> Result<toml::Table, crate::spec::SpecError>,
) -> Result<String, Patched> {
    // From the end, so each range is still where it was; at one place, the longer first
    // (a block removed after the colon where its new value goes in).
    patches.sort_by_key(|(r, _)| std::cmp::Reverse((r.start, r.end)));
    let mut out = text.to_string();
    let mut last = usize::MAX;
    for (r, new) in patches {
        if r.end > last
            || r.start > r.end
            || !out.is_char_boundary(r.start)
            || !out.is_char_boundary(r.end)
        {
            return Err(Patched::Overlap);
        }
        last = r.start;
        out.replace_range(r, &new);
    }
    let mut want = before;
    for (key, v) in edits {
        crate::spec::params::set(&mut want, key, (*v).clone());
    }
    let after = read(&out).map_err(|e| Patched::Unreadable(e.message().to_string()))?;
    if after != want {
        let which = edits
            .iter()
            .find(|(k, v)| crate::spec::params::lookup(&after, k) != Some(v))
            .or(edits.first())
            .map_or("", |(k, _)| *k);
        return Err(Patched::Differs(which.to_string()));
    }
    Ok(out)
}

/// A value as YAML text: a scalar as DVC's YAML reader reads it back with its type, a list
/// or a mapping in flow style.
fn yaml_text(v: &Value) -> String {
    match v {
        Value::String(_) if crate::spec::null::is_null(v) => "null".to_string(),
        Value::String(s) => yaml_string(s),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
        // `1.0`, not `1`: read back as a float.
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.1}"),
        Value::Float(f) => format!("{f:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => yaml_string(&d.to_string()),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(yaml_text).collect::<Vec<_>>().join(", ")
        ),
        Value::Table(t) => format!(
            "{{{}}}",
            t.iter()
                .map(|(k, x)| format!("{}: {}", yaml_string(k), yaml_text(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A string as YAML: plain when it cannot be read as anything else, double-quoted (JSON's
/// escapes, which YAML shares) otherwise.
fn yaml_string(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "nan" | "inf"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// `text` (a Python params file) with each `key` (dotted: `Train.lr`) set to its value:
/// the literal assigned is replaced where it stands, and the file read back to check that
/// exactly those values changed. A key that is a class (a table) is not written.
pub fn set_py(text: &str, edits: &[(&str, &Value)]) -> Result<String, EditError> {
    use crate::spec::python;
    let file = |t: &str| crate::spec::SourceFile {
        name: "params.py".into(),
        text: t.to_string().into(),
    };
    let (before, spans) =
        python::read(&file(text)).map_err(|e| EditError::InPlace(e.message().to_string()))?;
    let mut patches = Vec::new();
    for (key, v) in edits {
        let Some(r) = spans.get(*key) else {
            return Err(match crate::spec::params::lookup(&before, key) {
                Some(_) => EditError::InPlace(format!(
                    "`{key}` is a class in the file, not one value; set its values one by one"
                )),
                None => EditError::NoKey(key.to_string()),
            });
        };
        patches.push((r.clone(), python::literal(v)));
    }
    patched(text, patches, before, edits, |out| python::params_table(&file(out))).map_err(
        |e| match e {
            Patched::Overlap => EditError::InPlace("two edits overlap".into()),
            Patched::Unreadable(why) => EditError::InPlace(why),
            Patched::Differs(which) => EditError::InPlace(format!(
                "`{which}` cannot be written in place (its value would not read back as written); edit it by hand"
            )),
        },
    )
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
        *cur = crate::spec::null::to_json(v);
    }
    let mut s = serde_json::to_string_pretty(&doc).map_err(EditError::Json)?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keeps_comments_quoting_and_layout() {
        let text = "# training\ntrain:\n  lr: 0.001   # learning rate\n  optim: 'adam'\n  layers:\n  - 64\n  - 32\n  note:\nseed: 1\nname: \"x\"\n";
        let out = set_yaml(
            text,
            &[
                ("train.lr", &Value::Float(0.01)),
                ("train.optim", &Value::String("sgd".into())),
                ("train.layers", &Value::Array(vec![Value::Integer(8)])),
                ("train.note", &Value::String("two words: yes".into())),
                ("seed", &Value::Float(2.0)),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "# training\ntrain:\n  lr: 0.01   # learning rate\n  optim: sgd\n  layers: [8]\n  note: \"two words: yes\"\nseed: 2.0\nname: \"x\"\n"
        );
        // Read back with the types written.
        let t = crate::spec::yaml::params_table(&crate::spec::SourceFile {
            name: "p.yaml".into(),
            text: out.into(),
        })
        .unwrap();
        assert_eq!(
            crate::spec::params::lookup(&t, "seed"),
            Some(&Value::Float(2.0))
        );
        assert_eq!(
            set_yaml(text, &[("train.nope", &Value::Integer(1))])
                .unwrap_err()
                .to_string(),
            "no key `train.nope` in the file"
        );
    }

    #[test]
    fn yaml_blocks_become_flow_after_their_key_and_the_key_line_comment_stays() {
        let edits: [(&str, &Value); 2] = [
            ("model", &Value::Table(toml::toml! { depth = 4 })),
            (
                "sizes",
                &Value::Array(vec![Value::Integer(1), Value::Integer(2)]),
            ),
        ];
        let text = "model:  # the net\n  depth: 2\n  width: 3\nsizes:\n- 8\n- 16";
        assert_eq!(
            set_yaml(text, &edits).unwrap(),
            "model: {depth: 4}  # the net\nsizes: [1, 2]"
        );
        let text = "sizes:\n  - 8\n  - 16\nmodel:\n  depth: 2\n";
        assert_eq!(
            set_yaml(text, &edits).unwrap(),
            "sizes: [1, 2]\nmodel: {depth: 4}\n"
        );
    }

    #[test]
    fn python_literals_are_replaced_where_they_stand() {
        let text = "LR = 0.001  # lr\nclass Train:\n    optim = 'adam'\n    def __init__(self):\n        self.seed = 7\n";
        let out = set_py(
            text,
            &[
                ("LR", &Value::Float(0.01)),
                ("Train.optim", &Value::String("sgd".into())),
                ("Train.seed", &Value::Integer(8)),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "LR = 0.01  # lr\nclass Train:\n    optim = \"sgd\"\n    def __init__(self):\n        self.seed = 8\n"
        );
        assert!(matches!(
            set_py(text, &[("Train", &Value::Integer(1))]),
            Err(EditError::InPlace(m)) if m.contains("is a class")
        ));
        assert!(matches!(
            set_py(text, &[("nope", &Value::Integer(1))]),
            Err(EditError::NoKey(_))
        ));
    }

    #[test]
    fn a_block_list_of_flow_lists_is_replaced_whole() {
        let text = "pairs:\n- [a, 1]\n- [b, 2]\nnext: 1\n";
        let out = set_yaml(text, &[("pairs", &Value::Array(vec![Value::Integer(3)]))]).unwrap();
        assert_eq!(out, "pairs: [3]\nnext: 1\n");
    }

    #[test]
    fn yaml_flow_collections_are_replaced_whole() {
        let text = "seeds: [1, 2]  # three?\nm: {a: 'x]', b: [2, 3]}\nlast: [\"a\", \"b\"]";
        let out = set_yaml(
            text,
            &[
                ("seeds", &Value::Array(vec![Value::Integer(7)])),
                ("m", &Value::Table(toml::toml! { a = "y" })),
                ("last", &Value::Integer(3)),
            ],
        )
        .unwrap();
        assert_eq!(out, "seeds: [7]  # three?\nm: {a: \"y\"}\nlast: 3");
    }

    #[test]
    fn yaml_strings_that_would_read_as_another_type_are_quoted() {
        for (s, want) in [
            ("yes", "a: \"yes\"\n"),
            ("1e3", "a: \"1e3\"\n"),
            ("", "a: \"\"\n"),
            ("null", "a: \"null\"\n"),
            ("runs/v2", "a: runs/v2\n"),
        ] {
            let out = set_yaml("a: 1\n", &[("a", &Value::String(s.into()))]).unwrap();
            assert_eq!(out, want, "{s}");
        }
    }

    #[test]
    fn a_yaml_value_shared_through_an_anchor_is_refused_not_spread() {
        let text = "base: &lr 0.1\ntrain:\n  lr: *lr\nmerged:\n  <<: {depth: 2}\n";
        // The alias itself is this key's own text: replaced, the anchor kept.
        assert_eq!(
            set_yaml(text, &[("train.lr", &Value::Float(0.2))]).unwrap(),
            "base: &lr 0.1\ntrain:\n  lr: 0.2\nmerged:\n  <<: {depth: 2}\n"
        );
        // The anchored value would change the alias too; a merged key has no text.
        for key in ["base", "merged.depth"] {
            let err = set_yaml(text, &[(key, &Value::Integer(3))]).unwrap_err();
            assert!(
                matches!(err, EditError::YamlShared(ref k) if k == key),
                "{key}: {err}"
            );
        }
    }

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
