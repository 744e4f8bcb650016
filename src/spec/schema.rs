//! The pipeline file as written: plain serde types, spans kept where an error may need to
//! point. Nothing here interprets values; `spec::load` validates these into `StageDef`s and
//! `SweepDef`s.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineToml {
    pub pipeline: Option<PipelineMetaToml>,
    /// Values for `${...}` interpolation, besides params.
    #[serde(default)]
    pub vars: toml::Table,
    #[serde(default)]
    pub stage: IndexMap<Spanned<String>, Spanned<StageToml>>,
    #[serde(default)]
    pub sweep: IndexMap<Spanned<String>, Spanned<SweepToml>>,
    /// Tracked data (`pipe add`): path -> `{ desc = "..." }`.
    #[serde(default)]
    pub data: IndexMap<Spanned<String>, Spanned<DataToml>>,
}

/// One tracked file or directory: no stage makes it; `pipe add` records its content.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataToml {
    pub desc: Option<String>,
    /// Imported from another repository (`pipe import`).
    pub source: Option<DataSourceToml>,
}

/// `source = { url, path, rev, remote }`: where imported data comes from.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DataSourceToml {
    /// The git repository.
    pub url: String,
    /// The tracked path there.
    pub path: String,
    /// A tag, branch or commit; none: the default branch.
    pub rev: Option<String>,
    /// A remote of this workspace to fetch from instead of the source's default.
    pub remote: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineMetaToml {
    pub name: Option<String>,
    /// For people reading the file; pipe shows it nowhere.
    #[serde(rename = "desc")]
    pub _desc: Option<String>,
    /// Params files, relative to the pipeline; default `["params.toml"]`.
    pub params: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageToml {
    pub desc: Option<String>,
    pub cmd: Option<Spanned<CmdToml>>,
    pub uses: Option<Spanned<String>>,
    pub wdir: Option<Spanned<String>>,
    #[serde(default)]
    pub deps: Vec<Spanned<String>>,
    #[serde(default)]
    pub params: Vec<Spanned<ParamRefToml>>,
    #[serde(default)]
    pub outs: Vec<Spanned<OutToml>>,
    #[serde(default)]
    pub metrics: Vec<Spanned<OutToml>>,
    #[serde(default)]
    pub plots: Vec<Spanned<OutToml>>,
    pub resources: Option<Spanned<ResourcesToml>>,
    #[serde(default)]
    pub frozen: bool,
    #[serde(default)]
    pub always_changed: bool,
    /// Every out of the stage persists (is not removed before a run).
    #[serde(default)]
    pub persist: bool,
    #[serde(default)]
    pub retries: u32,
    /// Runs on the submitting host even under a cluster executor (Snakemake's localrules).
    #[serde(default)]
    pub local: bool,
    /// Environment variables whose values a run depends on: they enter the run-cache key
    /// and the stage is stale when one changes.
    #[serde(default)]
    pub env: Vec<Spanned<String>>,
}

/// `cmd = "..."` or `cmd = ["...", "..."]` (run in order, stopping at the first failure).
#[derive(Debug, Clone)]
pub struct CmdToml(pub Vec<String>);

impl<'de> Deserialize<'de> for CmdToml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CmdToml;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command string or an array of command strings")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<CmdToml, E> {
                Ok(CmdToml(vec![s.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CmdToml, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(CmdToml(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// An out, metric or plot: `"path"` or `{ path = "...", cache = false, persist = true }`.
/// A plot may also say how to draw it: `x`, `y` (a column or a list), `template`, `title`.
#[derive(Debug, Clone)]
pub struct OutToml {
    pub path: String,
    pub cache: bool,
    pub persist: bool,
    pub chart: ChartToml,
}

/// How a plot is drawn (plots only; checked in `spec`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChartToml {
    pub x: Option<String>,
    pub y: Option<OneOrMany>,
    pub template: Option<String>,
    pub title: Option<String>,
}

impl ChartToml {
    pub fn is_empty(&self) -> bool {
        self.x.is_none() && self.y.is_none() && self.template.is_none() && self.title.is_none()
    }
}

/// `"col"` or `["a", "b"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutTableToml {
    path: String,
    #[serde(default = "yes")]
    cache: bool,
    #[serde(default)]
    persist: bool,
    /// A description for people reading the file (DVC's `desc`); pipe shows it nowhere.
    #[serde(rename = "desc")]
    _desc: Option<String>,
    x: Option<String>,
    y: Option<OneOrMany>,
    template: Option<String>,
    title: Option<String>,
}

fn yes() -> bool {
    true
}

impl<'de> Deserialize<'de> for OutToml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OutToml;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a path or a table like { path = \"...\", cache = false }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<OutToml, E> {
                Ok(OutToml {
                    path: s.to_string(),
                    cache: true,
                    persist: false,
                    chart: ChartToml::default(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OutToml, A::Error> {
                let t = OutTableToml::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OutToml {
                    path: t.path,
                    cache: t.cache,
                    persist: t.persist,
                    chart: ChartToml {
                        x: t.x,
                        y: t.y,
                        template: t.template,
                        title: t.title,
                    },
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A params reference: `"train.lr"` (a key or table in the pipeline's params files) or
/// `{ file = "other.toml", keys = ["a", "b.c"] }`.
#[derive(Debug, Clone)]
pub enum ParamRefToml {
    Key(String),
    File(ParamFileToml),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamFileToml {
    pub file: String,
    pub keys: Vec<String>,
}

impl<'de> Deserialize<'de> for ParamRefToml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ParamRefToml;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a param key or a table like { file = \"params.toml\", keys = [\"train\"] }",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ParamRefToml, E> {
                Ok(ParamRefToml::Key(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ParamRefToml, A::Error> {
                ParamFileToml::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ParamRefToml::File)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesToml {
    pub cpus: Option<u32>,
    pub gpus: Option<u32>,
    pub mem: Option<Spanned<MemToml>>,
    /// Wall time under a cluster executor: `"4h"`, `"90m"`, `"1-12:00:00"`.
    pub time: Option<Spanned<String>>,
    /// The cluster partition (queue) to submit to.
    pub partition: Option<Spanned<String>>,
}

/// Memory as bytes (an integer) or a string with a unit: `"512M"`, `"4G"`, `"1.5GiB"`.
#[derive(Debug, Clone, Copy)]
pub struct MemToml(pub u64);

impl<'de> Deserialize<'de> for MemToml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MemToml;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size like \"4G\" or a number of bytes")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<MemToml, E> {
                u64::try_from(n)
                    .map(MemToml)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<MemToml, E> {
                parse_size(s).map(MemToml).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A size pipe cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("`{0}` is not a size like \"4G\" or \"512M\"")]
    Malformed(String),
    #[error("`{0}` has an unknown unit (use K, M, G or T)")]
    Unit(String),
}

/// Parses `"4G"`, `"512 MiB"`, `"1.5GB"`, `"1024"`: binary multiples (K = 1024).
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| SizeError::Malformed(s.to_string()))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(SizeError::Unit(s.to_string())),
    };
    Ok((n * mult as f64) as u64)
}

/// A row of overrides: `{ name = "...", "param.key" = value, ... }`, with spans.
pub type RowToml = IndexMap<Spanned<String>, Spanned<toml::Value>>;
/// Param key -> the values it takes.
pub type MatrixToml = IndexMap<Spanned<String>, Spanned<Vec<toml::Value>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepToml {
    pub desc: Option<String>,
    /// The stages re-instantiated per cell; everything upstream is shared.
    pub stages: Vec<Spanned<String>>,
    /// Param key -> values: the cartesian product.
    pub matrix: Option<Spanned<MatrixToml>>,
    /// Explicit cells: `{ name = "...", "param.key" = value, ... }`.
    pub cells: Option<Spanned<Vec<Spanned<RowToml>>>>,
    /// Extra cells added to the matrix product.
    #[serde(default)]
    pub include: Vec<Spanned<RowToml>>,
    /// Rows removed from the matrix product: every cell matching all of a row's keys.
    #[serde(default)]
    pub exclude: Vec<Spanned<RowToml>>,
    /// Overrides applied to every cell, not part of their names (a shorter training for a
    /// quick sweep, say).
    #[serde(default)]
    pub set: RowToml,
    /// Replicates: every cell runs once per seed.
    pub seeds: Option<Spanned<Vec<i64>>>,
    /// The param key that receives the seed (default `train.seed`).
    pub seed_key: Option<Spanned<String>>,
    /// Metrics to tabulate: `"f1"` (higher is better), `"loss:min"`, `"latency_ms:min"`.
    #[serde(default)]
    pub report: Vec<Spanned<String>>,
    /// Where the markdown table is written after a run (relative to the pipeline).
    pub report_file: Option<Spanned<String>>,
    /// The cell every other is tested against in the table (an ablation's full model),
    /// instead of each column's best.
    pub baseline: Option<Spanned<String>>,
    /// The directory the cells' outs live under (default `sweeps/<name>`).
    pub dir: Option<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_their_errors() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
        assert_eq!(
            parse_size("x").unwrap_err().to_string(),
            "`x` is not a size like \"4G\" or \"512M\""
        );
        assert_eq!(
            parse_size("4Q").unwrap_err().to_string(),
            "`4Q` has an unknown unit (use K, M, G or T)"
        );
    }
}
