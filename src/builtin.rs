//! The engine's view of built-in stages (`uses = "train"`): their signatures for validation,
//! and running one in this process when `pipe builtin FILE` is invoked. The stages
//! themselves live in the `pipe-stages` crate, behind the `torch` feature.

#[derive(Debug, Clone)]
pub struct BuiltinSig {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [&'static str],
    pub deps: &'static [&'static str],
    pub outs: &'static [&'static str],
    pub metrics: &'static [&'static str],
    pub plots: &'static [&'static str],
}

#[cfg(feature = "torch")]
mod imp {
    use super::BuiltinSig;

    pub fn all() -> Vec<BuiltinSig> {
        pipe_stages::signatures()
            .iter()
            .map(|s| BuiltinSig {
                name: s.name,
                summary: s.summary,
                params: s.params,
                deps: s.deps,
                outs: s.outs,
                metrics: s.metrics,
                plots: s.plots,
            })
            .collect()
    }

    pub fn version() -> Option<String> {
        Some(pipe_stages::version())
    }

    pub const UNAVAILABLE: Option<&str> = None;
}

#[cfg(not(feature = "torch"))]
mod imp {
    use super::BuiltinSig;

    pub fn all() -> Vec<BuiltinSig> {
        Vec::new()
    }

    pub fn version() -> Option<String> {
        None
    }

    pub const UNAVAILABLE: Option<&str> =
        Some("this pipe was built without the `torch` feature, so it has no built-in stages");
}

pub use imp::{all, version};

/// The signature of built-in `name`, or a sentence saying why there is none.
pub fn signature(name: &str) -> Result<BuiltinSig, String> {
    if let Some(why) = imp::UNAVAILABLE {
        return Err(format!("`uses = \"{name}\"`: {why}"));
    }
    let all = all();
    match all.iter().find(|s| s.name == name) {
        Some(s) => Ok(s.clone()),
        None => {
            let names: Vec<&str> = all.iter().map(|s| s.name).collect();
            Err(format!(
                "unknown built-in stage `{name}` (built-ins: {})",
                names.join(", ")
            ))
        }
    }
}
