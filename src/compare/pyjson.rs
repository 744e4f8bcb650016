//! JSON as Python's `json` module writes it. A training that diverged writes
//! `{"loss": NaN}` (`json.dump` allows `NaN`, `Infinity` and `-Infinity` by default), and
//! a number past the range of a double (`1e400`) is infinity to Python; serde_json refuses
//! all four, which made the whole file unreadable. They are read here as strings holding a
//! NUL (which JSON text cannot hold unescaped, so no real string is taken for one), and
//! [`non_finite`] turns such a string back into its number.

/// Parses `text` as JSON, with Python's non-finite numbers. A text that is not JSON either
/// way keeps serde_json's error for the text as written.
pub fn from_str(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    let first = match serde_json::from_str(text) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    match rewrite(text) {
        Some(t) => serde_json::from_str(&t).map_err(|_| first),
        None => Err(first),
    }
}

const NAN: &str = "\u{0}NaN";
const INF: &str = "\u{0}Infinity";
const NEG_INF: &str = "\u{0}-Infinity";

/// The number a string from [`from_str`] stands for, if it stands for one.
pub fn non_finite(s: &str) -> Option<f64> {
    match s {
        NAN => Some(f64::NAN),
        INF => Some(f64::INFINITY),
        NEG_INF => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// `f` as [`from_str`] would hold it: a non-finite float as its string, else the number.
pub fn value_of(f: f64) -> serde_json::Value {
    let s = if f.is_nan() {
        NAN
    } else if f == f64::INFINITY {
        INF
    } else if f == f64::NEG_INFINITY {
        NEG_INF
    } else {
        return serde_json::Value::from(f);
    };
    serde_json::Value::String(s.to_string())
}

/// `text` with each non-finite number outside strings written as its string; `None` when
/// there is none.
fn rewrite(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let (mut i, mut copied, mut changed) = (0, 0, false);
    let put = |out: &mut String, from: usize, to: usize, s: &str| {
        out.push_str(&text[from..to]);
        out.push_str(&serde_json::Value::String(s.to_string()).to_string());
    };
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'N' if text[i..].starts_with("NaN") => {
                put(&mut out, copied, i, NAN);
                i += 3;
                (copied, changed) = (i, true);
            }
            b'I' if text[i..].starts_with("Infinity") => {
                put(&mut out, copied, i, INF);
                i += 8;
                (copied, changed) = (i, true);
            }
            b'-' if text[i..].starts_with("-Infinity") => {
                put(&mut out, copied, i, NEG_INF);
                i += 9;
                (copied, changed) = (i, true);
            }
            b'-' | b'0'..=b'9' => {
                let end = b[i..]
                    .iter()
                    .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .map_or(b.len(), |n| i + n);
                match text[i..end].parse::<f64>() {
                    Ok(f) if f.is_infinite() => {
                        put(&mut out, copied, i, if f > 0.0 { INF } else { NEG_INF });
                        (copied, changed) = (end, true);
                    }
                    _ => {}
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&text[copied.min(text.len())..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pythons_non_finite_numbers_are_read_and_strings_are_left_alone() {
        let v = from_str(
            r#"{"a": NaN, "b": [Infinity, -Infinity, 1e400, -2e999], "c": "NaN \" Infinity", "d": 1.5, "é": -3}"#,
        )
        .unwrap();
        let f = |p: &str| v.pointer(p).and_then(|x| x.as_str()).and_then(non_finite);
        assert!(f("/a").is_some_and(f64::is_nan));
        assert_eq!(f("/b/0"), Some(f64::INFINITY));
        assert_eq!(f("/b/1"), Some(f64::NEG_INFINITY));
        assert_eq!(f("/b/2"), Some(f64::INFINITY));
        assert_eq!(f("/b/3"), Some(f64::NEG_INFINITY));
        assert_eq!(v["c"], "NaN \" Infinity");
        assert_eq!(v["d"], 1.5);
        assert_eq!(v["é"], -3);
        let e = from_str(r#"{"a": NaN, "b": }"#).unwrap_err();
        assert_eq!(e.column(), 7, "the error of the text as written: {e}");
        assert!(from_str(r#"{"a": "unterminated"#).is_err());
        assert_eq!(from_str("[1, 2]").unwrap(), serde_json::json!([1, 2]));
    }
}
