//! `${...}` interpolation in `cmd`, `deps`, `outs` and `wdir`.
//!
//! `${train.lr}` is a param (which the stage then depends on), `${data_dir}` a `[vars]`
//! entry, `${deps[0]}` / `${outs[1]}` / `${metrics[0]}` / `${plots[0]}` a path of the stage
//! (in `cmd` only, relative to the stage's wdir). `$${` writes a literal `${`.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpError {
    /// Byte range within the interpolated string.
    pub range: Range<usize>,
    pub msg: String,
}

/// The most bytes a command may take once its `${...}` are filled in: pipe runs it as
/// `sh -c CMD`, and Linux takes no longer argument (`MAX_ARG_STRLEN`, 32 pages, its NUL
/// included). Paths are held to it too while they are filled in (so a large value used
/// many times is refused before it fills the memory), then to `WsPath`'s limits once
/// normalised.
pub const LONGEST_CMD: usize = 131_071;

/// Replaces every `${name}` in `s` by `resolve(name)`; a name `resolve` refuses is an
/// [`InterpError`] at its `${...}`, saying what `resolve`'s error says, and so is the
/// `${...}` that takes the result past `most` bytes (`what` names the result: "the
/// command"), before it is made: a large value used many times would fill the memory.
pub fn interpolate<E: std::fmt::Display>(
    s: &str,
    most: usize,
    what: &str,
    mut resolve: impl FnMut(&str) -> Result<String, E>,
) -> Result<String, InterpError> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let bytes = s.as_bytes();
    while i < s.len() {
        if bytes[i] == b'$' && s[i..].starts_with("$${") {
            out.push_str("${");
            i += 3;
            continue;
        }
        if bytes[i] == b'$' && s[i..].starts_with("${") {
            let Some(close) = s[i + 2..].find('}') else {
                return Err(InterpError {
                    range: i..s.len(),
                    msg: "unclosed `${`".into(),
                });
            };
            let name = s[i + 2..i + 2 + close].trim();
            let range = i..i + 3 + close;
            if name.is_empty() {
                return Err(InterpError {
                    range,
                    msg: "empty `${}`".into(),
                });
            }
            let v = resolve(name).map_err(|e| InterpError {
                range: range.clone(),
                msg: e.to_string(),
            })?;
            if out.len() + v.len() > most {
                return Err(InterpError {
                    range,
                    msg: format!(
                        "{what} is more than {most} bytes once its `${{...}}` are filled in (this one is {} bytes)",
                        v.len()
                    ),
                });
            }
            out.push_str(&v);
            i = range.end;
            continue;
        }
        let ch = s[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    if out.len() > most {
        return Err(InterpError {
            range: 0..s.len(),
            msg: format!("{what} is {} bytes, more than {most}", out.len()),
        });
    }
    Ok(out)
}

/// `deps[3]` -> ("deps", 3).
pub fn indexed(name: &str) -> Option<(&str, usize)> {
    let (head, rest) = name.split_once('[')?;
    let idx = rest.strip_suffix(']')?.trim().parse().ok()?;
    Some((head.trim(), idx))
}

/// Whether `s` contains any `${`.
pub fn has_vars(s: &str) -> bool {
    s.replace("$${", "").contains("${")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replaces_and_escapes() {
        let r = interpolate("a ${x} $${y} ${ z }é", 100, "it", |n| {
            Ok::<_, String>(format!("<{n}>"))
        })
        .unwrap();
        assert_eq!(r, "a <x> ${y} <z>é");
        let e =
            interpolate("run ${nope", 100, "it", |_| Ok::<_, String>(String::new())).unwrap_err();
        assert_eq!(e.range, 4..10);
        let e = interpolate("x ${bad}", 100, "it", |n| Err(format!("unknown {n}"))).unwrap_err();
        assert_eq!((e.range, e.msg.as_str()), (2..8, "unknown bad"));
        let e = interpolate("${x}${x}${x}", 10, "the command", |_| {
            Ok::<_, String>("abcd".into())
        })
        .unwrap_err();
        assert_eq!(e.range, 8..12, "the ${{...}} that passes the limit");
        assert!(
            e.msg.starts_with("the command is more than 10 bytes"),
            "{}",
            e.msg
        );
        assert_eq!(indexed("deps[2]"), Some(("deps", 2)));
        assert_eq!(indexed("deps"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = interpolate(&s, 100, "it", |n| Ok::<_, String>(n.to_string()));
        }
    }
}
