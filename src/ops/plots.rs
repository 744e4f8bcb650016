//! `pipe plots show [TARGETS]` and `pipe plots diff [REV...]`: the `plots` outs drawn as
//! SVG charts (see `report::chart`), written to a directory with an `index.html` that holds
//! them all inline.
//!
//! `show` without targets draws the base pipeline's plots; a sweep (or a stage) named as a
//! target overlays its cells on one chart per plot. `diff` overlays the same plot at each
//! revision (default `HEAD` against the workspace; one revision: it against the
//! workspace). A plot that cannot be read is named in the error at the end; the others are
//! still drawn.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compare::chart::Chart;
use crate::compare::collect::{self, FileRef};
use crate::compare::error::FileError;
use crate::compare::git::{Repo, Rev};
use crate::compare::plot::{self, Source};
use crate::compare::records::{self, Records};
use crate::error::Result;
use crate::ops::error::OpsError;
use crate::report::chart;
use crate::report::html;
use crate::report::printer::{Printer, Tone};
use crate::spec::{ChartDef, OutRole};

use super::Session;

/// The chart keys of a stage instance's plot out.
pub fn chart_def(s: &Session, f: &FileRef) -> ChartDef {
    let Some(i) = s.graph.find(&f.stage) else {
        return ChartDef::default();
    };
    let st = &s.graph[i];
    let k = st
        .outs_of(OutRole::Plot)
        .position(|o| o.path.as_str() == f.path);
    k.and_then(|k| s.spec.stages[st.def].outs_of(OutRole::Plot).nth(k))
        .and_then(|o| o.chart.clone())
        .unwrap_or_default()
}

/// The plot outs of `targets` grouped by (stage name, plot index): a group's members are
/// the instances (base, cells) of one declared plot.
fn groups(s: &Session, files: Vec<FileRef>) -> Vec<Vec<FileRef>> {
    let mut by: BTreeMap<(usize, usize), Vec<FileRef>> = BTreeMap::new();
    for f in files {
        let Some(i) = s.graph.find(&f.stage) else {
            continue;
        };
        let st = &s.graph[i];
        let k = st
            .outs_of(OutRole::Plot)
            .position(|o| o.path.as_str() == f.path)
            .unwrap_or(0);
        by.entry((st.def, k)).or_default().push(f);
    }
    by.into_values().collect()
}

fn parse_bytes(
    path: &str,
    b: std::result::Result<Option<Vec<u8>>, FileError>,
) -> std::result::Result<Option<Records>, FileError> {
    match b? {
        None => Ok(None),
        Some(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| FileError::NotUtf8)?;
            Ok(Some(records::parse(path, &text)?))
        }
    }
}

/// Where the charts go, and the page that shows them.
pub struct Written {
    pub dir: PathBuf,
    pub charts: usize,
    pub problems: Vec<String>,
}

fn file_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes the charts and their page to `dir` (see `Workspace::output_dir`: beneath the
/// root when inside the workspace).
fn write(
    s: &Session,
    dir: &Path,
    title: &str,
    charts: &[(String, Chart)],
    problems: Vec<String>,
) -> Result<Written> {
    let names: Vec<String> = charts
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!("{:02}-{}.svg", i + 1, file_name(name)))
        .chain(["index.html".to_string()])
        .collect();
    for name in &names {
        super::output::check(s, &dir.join(name))?;
    }
    let out = s.ws.output_dir(dir)?;
    let mut svgs = Vec::new();
    for ((_, c), name) in charts.iter().zip(&names) {
        let svg = chart::svg(c, (720, 420))?;
        out.write(name, svg.as_bytes())?;
        svgs.push((c.title.clone(), svg));
    }
    let page = html::plots_page(title, &svgs, &problems);
    out.write("index.html", page.as_bytes())?;
    Ok(Written {
        dir: dir.to_path_buf(),
        charts: svgs.len(),
        problems,
    })
}

fn finish(p: &Printer, w: Written) -> Result<()> {
    p.verb(
        "Wrote",
        Tone::Good,
        &format!(
            "{} chart(s) to {}",
            w.charts,
            w.dir.join("index.html").display()
        ),
    );
    if w.problems.is_empty() {
        Ok(())
    } else {
        Err(OpsError::Unreadable { lines: w.problems }.into())
    }
}

/// `pipe plots show`.
pub fn show(p: &Printer, s: &Session, targets: &[String], out: &Path) -> Result<()> {
    let mut files = collect::files(&s.graph, targets, OutRole::Plot)?;
    if targets.is_empty() {
        files.retain(|f| !f.stage.contains('@'));
    }
    let mut charts = Vec::new();
    let mut problems = Vec::new();
    for group in groups(s, files) {
        let bytes = collect::bytes_at(s, None, &Rev::Workspace, &group)?;
        let mut data = Vec::new();
        for (f, b) in group.iter().zip(bytes) {
            match parse_bytes(&f.path, b) {
                Ok(Some(r)) => data.push((f, r)),
                Ok(None) => {}
                Err(e) => problems.push(format!("plot {}: {e}", f.path)),
            }
        }
        let Some((first, _)) = data.first() else {
            continue;
        };
        let def = chart_def(s, first);
        let many = data.len() > 1;
        let sources: Vec<Source> = data
            .iter()
            .map(|(f, r)| Source {
                label: if many { f.stage.clone() } else { String::new() },
                records: r,
            })
            .collect();
        let name = if many {
            first.stage.split('@').next().unwrap_or("").to_string()
        } else {
            first.path.clone()
        };
        match plot::charts(&first.path, &def, &sources) {
            Ok(cs) => charts.extend(cs.into_iter().map(|c| (name.clone(), c))),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if charts.is_empty() && problems.is_empty() {
        return Err(OpsError::NoPlots.into());
    }
    finish(p, write(s, out, "plots", &charts, problems)?)
}

/// `pipe plots diff [REV...]`.
pub fn diff(
    p: &Printer,
    s: &Session,
    revs: &[String],
    targets: &[String],
    out: &Path,
) -> Result<()> {
    let names: Vec<String> = match revs {
        [] => vec!["HEAD".into(), "workspace".into()],
        [one] => vec![one.clone(), "workspace".into()],
        many => many.to_vec(),
    };
    let repo = Repo::open(&s.ws.root)?;
    let revs: Vec<Rev> = names.iter().map(|n| repo.rev(n)).collect::<Result<_>>()?;
    let mut files = collect::files(&s.graph, targets, OutRole::Plot)?;
    if targets.is_empty() {
        files.retain(|f| !f.stage.contains('@'));
    }
    let mut at: Vec<Vec<std::result::Result<Option<Records>, FileError>>> = Vec::new();
    for r in &revs {
        let bytes = collect::bytes_at(s, Some(&repo), r, &files)?;
        at.push(
            bytes
                .into_iter()
                .zip(&files)
                .map(|(b, f)| parse_bytes(&f.path, b))
                .collect(),
        );
    }
    let mut charts = Vec::new();
    let mut problems = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let mut sources = Vec::new();
        for (r, side) in revs.iter().zip(&at) {
            match &side[i] {
                Ok(Some(rec)) => sources.push(Source {
                    label: r.label().to_string(),
                    records: rec,
                }),
                Ok(None) => {}
                Err(e) => problems.push(format!("plot {} ({}): {e}", f.path, r.label())),
            }
        }
        if sources.is_empty() {
            continue;
        }
        // Label by revision even when only one has the file.
        let def = chart_def(s, f);
        match plot::charts(&f.path, &def, &sources) {
            Ok(cs) => charts.extend(cs.into_iter().map(|c| (f.path.clone(), c))),
            Err(e) => problems.push(e.to_string()),
        }
    }
    finish(
        p,
        write(
            s,
            out,
            &format!("plots: {}", names.join(" vs ")),
            &charts,
            problems,
        )?,
    )
}
