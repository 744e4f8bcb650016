//! An [`Import`] as pipe.toml's text: deterministic, in dvc.yaml's stage order, with the
//! notes as a comment block at the top so they stay next to what they explain.

use std::fmt::Write as _;

use super::Import;
use super::convert::{OutDecl, ParamDecl};
use crate::spec::toml_text::{key, string, value};

pub fn pipeline(imp: &Import) -> String {
    let mut s = String::new();
    s.push_str("# Imported from DVC by `pipe import-dvc`.\n");
    if !imp.notes.is_empty() {
        s.push_str("# Not carried over (see `pipe import-dvc --dry`):\n");
        for n in &imp.notes {
            let _ = writeln!(s, "#   {}: {}", n.at, n.what.replace('\n', " "));
        }
    }
    s.push_str("\n[pipeline]\n");
    let files: Vec<String> = imp.params_files.iter().map(|f| string(f)).collect();
    let _ = writeln!(s, "params = [{}]", files.join(", "));
    if !imp.vars.is_empty() {
        s.push_str("\n[vars]\n");
        for (k, v) in &imp.vars {
            let _ = writeln!(s, "{} = {}", key(k), value(v));
        }
    }
    for st in &imp.stages {
        let _ = writeln!(s, "\n[stage.{}]", key(&st.name));
        if let Some(d) = &st.desc {
            let _ = writeln!(s, "desc = {}", string(d));
        }
        if st.cmd_list {
            let c: Vec<String> = st.cmd.iter().map(|c| string(c)).collect();
            let _ = writeln!(s, "cmd = [{}]", c.join(", "));
        } else {
            let _ = writeln!(s, "cmd = {}", string(st.cmd.first().map_or("", |c| c)));
        }
        if !st.wdir.is_empty() {
            let _ = writeln!(s, "wdir = {}", string(&st.wdir));
        }
        if !st.deps.is_empty() {
            let d: Vec<String> = st.deps.iter().map(|d| string(d)).collect();
            let _ = writeln!(s, "deps = [{}]", d.join(", "));
        }
        if !st.params.is_empty() {
            let p: Vec<String> = st
                .params
                .iter()
                .map(|p| match p {
                    ParamDecl::Key(k) => string(k),
                    ParamDecl::File { file, keys } => {
                        let k: Vec<String> = keys.iter().map(|k| string(k)).collect();
                        format!("{{ file = {}, keys = [{}] }}", string(file), k.join(", "))
                    }
                })
                .collect();
            let _ = writeln!(s, "params = [{}]", p.join(", "));
        }
        for (name, list) in [
            ("outs", &st.outs),
            ("metrics", &st.metrics),
            ("plots", &st.plots),
        ] {
            if !list.is_empty() {
                let o: Vec<String> = list.iter().map(out).collect();
                let _ = writeln!(s, "{name} = [{}]", o.join(", "));
            }
        }
        if st.frozen {
            s.push_str("frozen = true\n");
        }
        if st.always_changed {
            s.push_str("always_changed = true\n");
        }
    }
    if !imp.data.is_empty() {
        s.push_str("\n[data]\n");
        for d in &imp.data {
            let _ = writeln!(s, "{} = {{}}", string(&d.path));
        }
    }
    s
}

fn out(o: &OutDecl) -> String {
    if o.cache && !o.persist && o.desc.is_none() {
        return string(&o.path);
    }
    let mut s = format!("{{ path = {}", string(&o.path));
    if !o.cache {
        s.push_str(", cache = false");
    }
    if o.persist {
        s.push_str(", persist = true");
    }
    if let Some(d) = &o.desc {
        let _ = write!(s, ", desc = {}", string(d));
    }
    s.push_str(" }");
    s
}

/// The DVC origin of line `line` (1-based) of `text`, the pipeline [`pipeline`] rendered
/// from `imp`: the `dvc.yaml:LINE` of the stage, or the `.dvc` file's line of the data entry,
/// whose lines hold it, and what it is (`stage `name`: `).
pub fn origin(text: &str, imp: &Import, line: usize) -> Option<(String, String)> {
    // Each line's first number, once: looked up per stage and entry, not scanned for.
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, l) in text.lines().enumerate().take(line) {
        first.entry(l).or_insert(i + 1);
    }
    let mut best: Option<(usize, String, String)> = None;
    let mut consider = |needle: &str, at: &str, what: String| {
        let found = first.get(needle).copied();
        if let Some(l) = found
            && best.as_ref().is_none_or(|(b, _, _)| l > *b)
        {
            best = Some((l, at.to_string(), what));
        }
    };
    for st in &imp.stages {
        consider(
            &format!("[stage.{}]", key(&st.name)),
            &st.at,
            format!("stage `{}`: ", st.dvc_name),
        );
    }
    for d in &imp.data {
        consider(
            &format!("{} = {{}}", string(&d.path)),
            &d.at,
            format!("tracked `{}`: ", d.path),
        );
    }
    best.map(|(_, at, what)| (at, what))
}
