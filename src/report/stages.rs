//! `pipe stages`: the built-in stages, each with its summary, params and slots.

use crate::builtin::BuiltinSig;

/// The list `ops::stages::list` returns (`None`: built without the built-ins).
pub fn text(list: Option<&[BuiltinSig]>) -> String {
    let Some(all) = list else {
        return "This pipe was built without the `torch` feature: it has no built-in stages."
            .into();
    };
    let mut out = String::new();
    for s in all {
        out.push_str(&format!("{}\n    {}\n", s.name, s.summary));
        if !s.params.is_empty() {
            out.push_str(&format!("    params:  {}\n", s.params.join(", ")));
        }
        for (what, list) in [
            ("deps", s.deps),
            ("outs", s.outs),
            ("metrics", s.metrics),
            ("plots", s.plots),
        ] {
            for (i, d) in list.iter().enumerate() {
                out.push_str(&format!("    {what}[{i}]: {d}\n"));
            }
        }
    }
    out.trim_end().to_string()
}
