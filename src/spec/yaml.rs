//! YAML params files (`params.yaml`, `.yml`), read into the same `toml::Table` a TOML params
//! file gives, so keys, overrides and the lock treat every format alike.
//!
//! Parsed with `saphyr` (YAML 1.2, as DVC's ruamel.yaml reads it: `yes` is a string, `1e3`
//! a float), whose nodes carry their position, so every error points at `file:line:col`.
//! YAML has values TOML has not; what happens to them:
//!
//! | YAML | params value |
//! |---|---|
//! | `null` / `~` / empty | a param whose value is null (`spec::null::NULL`), in lists too |
//! | a mapping key that is not a string | error (`1: x` is written `"1": x`) |
//! | an alias `*a` | the anchored value |
//! | a tagged value `!foo x` | the value, tag ignored |
//! | a top level that is not a mapping | error |
//! | an empty file | no params |

use std::ops::Range;

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};
use toml::{Table, Value};

use super::diag::{SourceFile, SpecError};

/// A YAML node with its position, as parsed; shared with the DVC importer, which needs
/// to point at constructs it cannot carry.
pub type Node = MarkedYamlOwned;

/// Parses `file`'s text into its first document (`None` when the file holds none).
pub fn parse(file: &SourceFile) -> Result<Option<Node>, SpecError> {
    let docs = MarkedYamlOwned::load_from_str(&file.text).map_err(|e| {
        let m = e.marker();
        let at = byte_offset(&file.text, m.line(), m.col());
        file.error(at..at + 1, format!("invalid YAML: {}", e.info()))
    })?;
    Ok(docs.into_iter().next().map(merge_keys))
}

/// Applies YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`) as DVC's YAML reader does:
/// keys written in the mapping win over merged ones, and of several merged mappings the
/// earlier wins. Aliases are already copies of their anchors (saphyr's loader clones them),
/// so merging rewrites each mapping in place, depth first.
fn merge_keys(node: Node) -> Node {
    let Node { span, data } = node;
    let data = match data {
        YamlDataOwned::Sequence(items) => {
            YamlDataOwned::Sequence(items.into_iter().map(merge_keys).collect())
        }
        YamlDataOwned::Mapping(map) => {
            let is_merge = |k: &Node| matches!(&k.data, YamlDataOwned::Value(ScalarOwned::String(s)) if s == "<<");
            let explicit: Vec<Node> = map.keys().filter(|k| !is_merge(k)).cloned().collect();
            let mut out = saphyr::AnnotatedMappingOwned::new();
            for (k, v) in map {
                let v = merge_keys(v);
                if !is_merge(&k) {
                    out.insert(merge_keys(k), v);
                    continue;
                }
                let sources = match v.data {
                    YamlDataOwned::Sequence(items) => items,
                    other => vec![Node {
                        span: v.span,
                        data: other,
                    }],
                };
                for src in sources {
                    match src.data {
                        YamlDataOwned::Mapping(m) => {
                            for (mk, mv) in m {
                                if !explicit.contains(&mk) && !out.contains_key(&mk) {
                                    out.insert(mk, mv);
                                }
                            }
                        }
                        // Not a mapping: kept as written, for the reader to name.
                        other => {
                            out.insert(
                                k.clone(),
                                Node {
                                    span: src.span,
                                    data: other,
                                },
                            );
                        }
                    }
                }
            }
            YamlDataOwned::Mapping(out)
        }
        other => other,
    };
    Node { span, data }
}

/// Byte range of a node in its file.
pub fn span(file: &SourceFile, node: &Node) -> Range<usize> {
    let s = &node.span.start;
    let e = &node.span.end;
    let start = byte_offset(&file.text, s.line(), s.col());
    let end = byte_offset(&file.text, e.line(), e.col()).max(start + 1);
    start..end
}

/// Byte range of a node in `text`, as the parser marked it (empty for an empty scalar).
pub fn exact_span(text: &str, node: &Node) -> Range<usize> {
    let s = &node.span.start;
    let e = &node.span.end;
    byte_offset(text, s.line(), s.col())..byte_offset(text, e.line(), e.col())
}

/// A YAML params file's table.
pub fn params_table(file: &SourceFile) -> Result<Table, SpecError> {
    let Some(doc) = parse(file)? else {
        return Ok(Table::new());
    };
    match to_value_or(file, &doc, &super::null::null())? {
        Value::Table(t) => Ok(t),
        v if super::null::is_null(&v) => Ok(Table::new()),
        _ => Err(file.error(
            span(file, &doc),
            "a params file must hold a mapping of keys to values at its top level",
        )),
    }
}

/// The node as a TOML value; `None` for null.
pub fn to_value(file: &SourceFile, node: &Node) -> Result<Option<Value>, SpecError> {
    convert(file, node, None)
}

/// The node as a TOML value, with every null (in mappings and lists too) as `null`.
pub fn to_value_or(file: &SourceFile, node: &Node, null: &Value) -> Result<Value, SpecError> {
    Ok(convert(file, node, Some(null))?.unwrap_or_else(|| null.clone()))
}

fn convert(
    file: &SourceFile,
    node: &Node,
    null: Option<&Value>,
) -> Result<Option<Value>, SpecError> {
    Ok(Some(match &node.data {
        YamlDataOwned::Value(s) => match s {
            ScalarOwned::Null => return Ok(null.cloned()),
            ScalarOwned::Boolean(b) => Value::Boolean(*b),
            ScalarOwned::Integer(i) => Value::Integer(*i),
            ScalarOwned::FloatingPoint(f) => Value::Float(f.into_inner()),
            ScalarOwned::String(s) => Value::String(s.clone()),
        },
        YamlDataOwned::Representation(s, _, _) => Value::String(s.clone()),
        YamlDataOwned::Sequence(items) => {
            let mut v = Vec::with_capacity(items.len());
            for it in items {
                match convert(file, it, null)? {
                    Some(x) => v.push(x),
                    None => {
                        return Err(file.error(
                            span(file, it),
                            "a null in a list has no params value (TOML has no null)",
                        ));
                    }
                }
            }
            Value::Array(v)
        }
        YamlDataOwned::Mapping(m) => {
            let mut t = Table::new();
            for (k, v) in m {
                let key = key_str(file, k)?;
                if let Some(v) = convert(file, v, null)? {
                    t.insert(key, v);
                }
            }
            Value::Table(t)
        }
        YamlDataOwned::Tagged(_, inner) => return convert(file, inner, null),
        YamlDataOwned::Alias(_) => {
            return Err(file
                .error(span(file, node), "YAML aliases (`*name`) are not supported")
                .help("write the value out where the alias is"));
        }
        YamlDataOwned::BadValue => {
            return Err(file.error(span(file, node), "this YAML value cannot be read"));
        }
    }))
}

/// A mapping key as a string: strings as they are, numbers and booleans as written.
pub fn key_str(file: &SourceFile, k: &Node) -> Result<String, SpecError> {
    match &k.data {
        YamlDataOwned::Value(ScalarOwned::String(s)) => Ok(s.clone()),
        YamlDataOwned::Representation(s, _, _) => Ok(s.clone()),
        YamlDataOwned::Value(ScalarOwned::Integer(i)) => Ok(i.to_string()),
        YamlDataOwned::Value(ScalarOwned::Boolean(b)) => Ok(b.to_string()),
        YamlDataOwned::Tagged(_, inner) => key_str(file, inner),
        _ => Err(file.error(span(file, k), "a mapping key must be a string")),
    }
}

/// The byte offset of a 1-based line and 0-based column counted in characters.
fn byte_offset(text: &str, line: usize, col: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = text.get(start..).unwrap_or("");
    let within: usize = rest.chars().take(col).map(char::len_utf8).sum();
    (start + within).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile {
            name: "params.yaml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn merge_keys_merge_explicit_first_then_anchors_in_order() {
        let f = file("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: 3\n");
        let t = params_table(&f).unwrap();
        let c = t["c"].as_table().unwrap();
        assert_eq!(c["x"].as_integer(), Some(3), "explicit wins: {c:?}");
        assert_eq!(
            c["y"].as_integer(),
            Some(1),
            "the earlier anchor wins: {c:?}"
        );
        assert_eq!(c["z"].as_integer(), Some(2), "{c:?}");
        assert!(!c.contains_key("<<"), "{c:?}");
    }

    #[test]
    fn values_nest_like_toml() {
        let t = params_table(&file(
            "train:\n  lr: 0.001\n  epochs: 3\n  tags: [a, b]\n  on: yes\n  none: ~\nflag: true\n",
        ))
        .unwrap();
        assert_eq!(
            super::super::params::lookup(&t, "train.lr"),
            Some(&Value::Float(0.001))
        );
        assert_eq!(
            super::super::params::lookup(&t, "train.epochs"),
            Some(&Value::Integer(3))
        );
        // YAML 1.2, as DVC reads it: `yes` is a string.
        assert_eq!(
            super::super::params::lookup(&t, "train.on"),
            Some(&Value::String("yes".into()))
        );
        // A key present with a null value is a param whose value is null (as DVC has it).
        assert_eq!(
            super::super::params::lookup(&t, "train.none"),
            Some(&super::super::null::null())
        );
        assert_eq!(t.get("flag"), Some(&Value::Boolean(true)));
        assert!(params_table(&file("")).unwrap().is_empty());
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let e = params_table(&file("a: 1\nb: [1,\nc: }\n")).unwrap_err();
        assert_eq!(e.location(), Some("params.yaml:3:1"), "{}", e.message());
        assert!(e.message().starts_with("invalid YAML"), "{}", e.message());
        let t = params_table(&file("a:\n  - 1\n  - ~\n")).unwrap();
        assert_eq!(
            t["a"],
            Value::Array(vec![Value::Integer(1), super::super::null::null()])
        );
        assert!(params_table(&file("~\n")).unwrap().is_empty());
        let e = params_table(&file("- 1\n- 2\n")).unwrap_err();
        assert!(e.message().contains("mapping"), "{}", e.message());
        let t = params_table(&file("a: &x 1\nb: *x\n")).unwrap();
        assert_eq!(t.get("b"), Some(&Value::Integer(1)));
        assert_eq!(byte_offset("é: 1\nab", 2, 1), 7);
    }
}
