//! DVC's `${...}` templates, as far as the importer must resolve them itself.
//!
//! pipe resolves `${name}` from `[vars]` and the params files when a stage is built, so a
//! template naming a var or a param is kept as it is: the stage then reads the param, and
//! editing `params.yaml` changes the command as it does under DVC. The importer resolves
//! only what pipe cannot see: `${item}`, `${item.key}` and `${key}` of `foreach` and
//! `matrix` instances, a stage's own `vars`, and expressions pipe has no syntax for
//! (`${a.b[0]}`, a dictionary unpacked into `--k v` flags). Those are written out as
//! values, and listed as notes where the value would otherwise have followed a params file.

use toml::{Table, Value};

/// Where a name is looked up.
pub struct Scope<'a> {
    /// `item`, `key`, and the stage's own vars: always resolved here.
    pub local: &'a Table,
    /// Inline vars, vars files and params.yaml: what pipe can resolve itself.
    pub global: &'a Table,
}

/// What a substitution did, besides substituting.
#[derive(Debug, Default)]
pub struct Resolved {
    pub text: String,
    /// Global expressions written out as values (pipe has no syntax for them).
    pub frozen: Vec<String>,
}

/// Why a template cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The text holding the unclosed `${`.
    #[error("unclosed `${{` in `{0}`")]
    Unclosed(String),
    /// A local name (`item`, `key`, the stage's vars) that the expression reaches past.
    #[error("`${{{0}}}` is not defined")]
    Local(String),
    #[error("`${{{0}}}` is not defined in vars, params.yaml or the vars files")]
    Global(String),
    #[error("`${{{0}}}` holds nested dictionaries, which cannot be unpacked")]
    Nested(String),
    /// DVC interpolates no list into a string (only `foreach` and a matrix axis take one).
    #[error(
        "`${{{0}}}` is a list, which DVC does not interpolate into a string (it refuses the project: \"Cannot interpolate data of type 'list'\")"
    )]
    List(String),
}

/// Substitutes `${...}` in `s`: local names become values, plain global names stay.
pub fn substitute(s: &str, scope: &Scope) -> Result<Resolved, TemplateError> {
    let mut out = Resolved::default();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        // `\${` (DVC's escape) stays literal: pipe writes a literal `${` as `$${`.
        if start > 0 && rest.as_bytes()[start - 1] == b'\\' {
            out.text.push_str(&rest[..start - 1]);
            out.text.push_str("$${");
            rest = &rest[start + 2..];
            continue;
        }
        out.text.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(close) = after.find('}') else {
            return Err(TemplateError::Unclosed(s.to_string()));
        };
        let expr = after[..close].trim();
        out.text.push_str(&one(expr, scope, &mut out.frozen)?);
        rest = &after[close + 1..];
    }
    out.text.push_str(rest);
    Ok(out)
}

fn one(expr: &str, scope: &Scope, frozen: &mut Vec<String>) -> Result<String, TemplateError> {
    let head = expr.split(['.', '[']).next().unwrap_or_default().trim();
    if scope.local.contains_key(head) {
        let v = lookup(scope.local, expr).ok_or_else(|| TemplateError::Local(expr.to_string()))?;
        if v.is_array() {
            return Err(TemplateError::List(expr.to_string()));
        }
        return render(expr, v);
    }
    let v = lookup(scope.global, expr).ok_or_else(|| TemplateError::Global(expr.to_string()))?;
    let plain = !expr.contains('[');
    if v.is_array() {
        return Err(TemplateError::List(expr.to_string()));
    }
    match v {
        Value::Table(_) => {}
        Value::Array(a) if plain && a.iter().all(|x| !x.is_table() && !x.is_array()) => {
            return Ok(format!("${{{expr}}}"));
        }
        Value::Array(_) => {}
        _ if plain => return Ok(format!("${{{expr}}}")),
        _ => {}
    }
    frozen.push(expr.to_string());
    render(expr, v)
}

/// A value as DVC writes it into a command.
pub fn render(expr: &str, v: &Value) -> Result<String, TemplateError> {
    Ok(match v {
        // A null (a YAML `~` in a foreach list or matrix axis) as DVC writes it.
        v if crate::spec::null::is_null(v) => "None".to_string(),
        Value::String(s) => s.clone(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => py_float(*f),
        Value::Datetime(d) => d.to_string(),
        Value::Array(a) => a
            .iter()
            .map(|x| render(expr, x))
            .collect::<Result<Vec<_>, _>>()?
            .join(" "),
        // DVC's dictionary unpacking: `--key value`, booleans as bare flags.
        Value::Table(t) => {
            let mut parts = Vec::new();
            for (k, x) in t {
                match x {
                    Value::Boolean(true) => parts.push(format!("--{k}")),
                    Value::Boolean(false) => parts.push(format!("--no-{k}")),
                    Value::Table(_) => return Err(TemplateError::Nested(expr.to_string())),
                    x => parts.push(format!("--{k} {}", render(expr, x)?)),
                }
            }
            parts.join(" ")
        }
    })
}

/// A float as Python's `str` writes it (`1.0`, `0.001`, `1e-05`).
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    if (-4..16).contains(&exp) {
        let s = format!("{f:?}");
        if s.contains('.') || s.contains('e') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        // Python: shortest round-trip digits, exponent with a sign and at least 2 digits.
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", e.abs())
    }
}

/// `a.b[0].c` in nested tables and arrays.
pub fn lookup<'v>(t: &'v Table, expr: &str) -> Option<&'v Value> {
    let mut cur: Option<&Value> = None;
    for part in expr.split('.') {
        let (name, idx) = match part.split_once('[') {
            Some((n, rest)) => (n.trim(), Some(rest)),
            None => (part.trim(), None),
        };
        cur = Some(match cur {
            None => t.get(name)?,
            Some(Value::Table(inner)) => inner.get(name)?,
            Some(Value::Array(a)) => a.get(name.parse::<usize>().ok()?)?,
            Some(_) => return None,
        });
        if let Some(mut rest) = idx {
            loop {
                let (n, tail) = rest.split_once(']')?;
                let i: usize = n.trim().parse().ok()?;
                cur = Some(cur?.as_array()?.get(i)?);
                match tail.strip_prefix('[') {
                    Some(t) => rest = t,
                    None => break,
                }
            }
        }
    }
    cur
}

/// The value of a string that is exactly one `${...}` (DVC then takes the value itself: a
/// list for `foreach`, say).
pub fn whole(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("${")?.strip_suffix('}')?;
    (!inner.contains("${") && !inner.contains('}')).then_some(inner.trim())
}

/// A value as a foreach/matrix key fragment, as DVC names instances.
pub fn key_str(v: &Value) -> String {
    match v {
        Value::String(s) if !crate::spec::null::is_null(v) => s.clone(),
        other => render("", other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Table {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn local_names_resolve_global_ones_stay() {
        let local = t("item = { lr = 0.1, name = \"a\" }\nkey = \"us\"");
        let global = t("train = { lr = 0.001, layers = [1, 2], opts = { a = 1, v = true } }");
        let scope = Scope {
            local: &local,
            global: &global,
        };
        let r = substitute("x ${item.lr} ${key} ${train.lr}", &scope).unwrap();
        assert_eq!(r.text, "x 0.1 us ${train.lr}");
        // A list is refused, as DVC refuses it.
        assert_eq!(
            substitute("x ${train.layers}", &scope).unwrap_err(),
            TemplateError::List("train.layers".into())
        );
        assert!(r.frozen.is_empty());
        let r = substitute("y ${train.layers[1]} ${train.opts} \\${z}", &scope).unwrap();
        assert_eq!(r.text, "y 2 --a 1 --v $${z}");
        assert_eq!(r.frozen, vec!["train.layers[1]", "train.opts"]);
        assert_eq!(
            substitute("${nope}", &scope).unwrap_err().to_string(),
            "`${nope}` is not defined in vars, params.yaml or the vars files"
        );
        assert_eq!(
            substitute("${item.x}", &scope).unwrap_err().to_string(),
            "`${item.x}` is not defined"
        );
        assert_eq!(
            substitute("a ${b", &scope).unwrap_err().to_string(),
            "unclosed `${` in `a ${b`"
        );
        assert_eq!(whole(" ${ seeds } "), Some("seeds"));
        assert_eq!(whole("a${b}"), None);
    }

    #[test]
    fn floats_print_as_python() {
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(0.001), "0.001");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(1.5e20), "1.5e+20");
        assert_eq!(py_float(0.0001), "0.0001");
    }
}
