//! From plot data to chart models: which column is x, which are y, and how several
//! revisions or cells overlay on one chart.
//!
//! Without `x`, the first column is x; without `y`, every other column with a number in
//! it. A line or scatter plot draws one series per (source, y column), labelled with the
//! source (revision or cell) and, when there are several y columns, the column. A bar
//! chart groups the same way over the x categories. A confusion matrix counts
//! (`x` = actual, `y` = predicted) pairs and draws one matrix per source.

use std::collections::BTreeSet;

use super::chart::{Chart, Data, Series};
use super::records::Records;
use crate::spec::{ChartDef, Template};

/// One source of a chart: a revision or a cell, and its data.
pub struct Source<'a> {
    pub label: String,
    pub records: &'a Records,
}

/// Why a plot file's data cannot be drawn as its definition says.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("plot {path} has no column `{name}` (columns: {})", columns.join(", "))]
    NoColumn {
        path: String,
        name: String,
        columns: Vec<String>,
    },
    #[error("plot {path} has no numeric column to draw besides x `{x}`")]
    NothingToDraw { path: String, x: String },
    #[error("plot {path}: a confusion matrix needs two columns, actual and predicted")]
    ConfusionColumns { path: String },
}

fn col(r: &Records, name: &str, path: &str) -> Result<usize, PlotError> {
    r.column(name).ok_or_else(|| PlotError::NoColumn {
        path: path.to_string(),
        name: name.to_string(),
        columns: r.columns.clone(),
    })
}

/// The x column and y columns of `r` under `def`.
fn axes(r: &Records, def: &ChartDef, path: &str) -> Result<(usize, Vec<usize>), PlotError> {
    let x = match &def.x {
        Some(x) => col(r, x, path)?,
        None => 0,
    };
    let y: Vec<usize> = if def.y.is_empty() {
        (0..r.columns.len())
            .filter(|&i| i != x && r.numbers(i).iter().any(Option::is_some))
            .collect()
    } else {
        def.y
            .iter()
            .map(|y| col(r, y, path))
            .collect::<Result<_, _>>()?
    };
    if y.is_empty() {
        return Err(PlotError::NothingToDraw {
            path: path.to_string(),
            x: r.columns.get(x).cloned().unwrap_or_default(),
        });
    }
    Ok((x, y))
}

/// The charts for one plot file over its sources (several only for confusion matrices).
pub fn charts(path: &str, def: &ChartDef, sources: &[Source]) -> Result<Vec<Chart>, PlotError> {
    let Some(first) = sources.first() else {
        return Ok(Vec::new());
    };
    let title = def.title.clone().unwrap_or_else(|| path.to_string());
    if def.template == Template::Confusion {
        return confusion(path, def, sources, first.records, title);
    }
    let (x, y) = axes(first.records, def, path)?;
    let x_name = first.records.columns[x].clone();
    let y_names: Vec<String> = y
        .iter()
        .map(|&i| first.records.columns[i].clone())
        .collect();
    let label = |src: &str, y: &str| match (sources.len() > 1, y_names.len() > 1) {
        (true, true) => format!("{src}: {y}"),
        (true, false) => src.to_string(),
        (false, _) => y.to_string(),
    };
    let y_label = if y_names.len() == 1 {
        y_names[0].clone()
    } else {
        String::new()
    };
    match def.template {
        Template::Line | Template::Scatter => {
            let mut series = Vec::new();
            for s in sources {
                let r = s.records;
                let xi = col(r, &x_name, path)?;
                let xs = r.numbers(xi);
                let numeric_x = xs.iter().all(Option::is_some);
                for yn in &y_names {
                    let ys = r.numbers(col(r, yn, path)?);
                    let points = xs
                        .iter()
                        .zip(&ys)
                        .enumerate()
                        .filter_map(|(i, (xv, yv))| {
                            let xv = if numeric_x { (*xv)? } else { i as f64 };
                            Some((xv, (*yv)?))
                        })
                        .collect();
                    series.push(Series {
                        label: label(&s.label, yn),
                        points,
                        band: Vec::new(),
                    });
                }
            }
            Ok(vec![Chart {
                title,
                x_label: x_name,
                y_label,
                template: def.template,
                data: Data::Xy(series),
            }])
        }
        Template::Bar => {
            let mut categories: Vec<String> = Vec::new();
            for s in sources {
                for c in s.records.texts(col(s.records, &x_name, path)?) {
                    if !categories.iter().any(|k| k == c) {
                        categories.push(c.to_string());
                    }
                }
            }
            let mut series = Vec::new();
            for s in sources {
                let r = s.records;
                let cats = r.texts(col(r, &x_name, path)?);
                for yn in &y_names {
                    let ys = r.numbers(col(r, yn, path)?);
                    let values = categories
                        .iter()
                        .map(|c| {
                            cats.iter()
                                .position(|k| k == c)
                                .and_then(|i| ys[i])
                                .unwrap_or(0.0)
                        })
                        .collect();
                    series.push((label(&s.label, yn), values));
                }
            }
            Ok(vec![Chart {
                title,
                x_label: x_name,
                y_label,
                template: Template::Bar,
                data: Data::Bars { categories, series },
            }])
        }
        Template::Confusion => unreachable!("drawn by confusion() above"),
    }
}

/// One confusion matrix per source: (`x` = actual, `y` = predicted) pairs counted; the
/// columns may hold class names, so no numeric column is needed.
fn confusion(
    path: &str,
    def: &ChartDef,
    sources: &[Source],
    first: &Records,
    title: String,
) -> Result<Vec<Chart>, PlotError> {
    let x_name = match &def.x {
        Some(x) => first.columns[col(first, x, path)?].clone(),
        None => first.columns.first().cloned().unwrap_or_default(),
    };
    let predicted = match def.y.first() {
        Some(p) => p.clone(),
        None => first
            .columns
            .iter()
            .find(|c| **c != x_name)
            .cloned()
            .ok_or_else(|| PlotError::ConfusionColumns {
                path: path.to_string(),
            })?,
    };
    let mut out = Vec::new();
    for s in sources {
        let r = s.records;
        let (a, p) = (
            r.texts(col(r, &x_name, path)?),
            r.texts(col(r, &predicted, path)?),
        );
        let classes: Vec<String> = a
            .iter()
            .chain(&p)
            .map(|c| c.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut counts = vec![vec![0u64; classes.len()]; classes.len()];
        for (ai, pi) in a.iter().zip(&p) {
            let ia = classes.iter().position(|c| c == ai).unwrap_or(0);
            let ip = classes.iter().position(|c| c == pi).unwrap_or(0);
            counts[ia][ip] += 1;
        }
        out.push(Chart {
            title: if sources.len() > 1 {
                format!("{title} ({})", s.label)
            } else {
                title.clone()
            },
            x_label: format!("predicted ({predicted})"),
            y_label: format!("actual ({x_name})"),
            template: Template::Confusion,
            data: Data::Confusion { classes, counts },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::records::parse;

    #[test]
    fn defaults_take_the_first_column_as_x_and_numeric_others_as_y() {
        let a = parse(
            "c.csv",
            "epoch,loss,f1,device\n1,0.5,0.6,cpu\n2,0.4,0.7,cpu\n",
        )
        .unwrap();
        let b = parse(
            "c.csv",
            "epoch,loss,f1,device\n1,0.6,0.5,cpu\n2,0.3,0.8,cpu\n",
        )
        .unwrap();
        let src = [
            Source {
                label: "HEAD".into(),
                records: &a,
            },
            Source {
                label: "workspace".into(),
                records: &b,
            },
        ];
        let c = charts("c.csv", &ChartDef::default(), &src).unwrap();
        let Data::Xy(series) = &c[0].data else {
            panic!("xy")
        };
        let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["HEAD: loss", "HEAD: f1", "workspace: loss", "workspace: f1"]
        );
        assert_eq!(series[2].points, [(1.0, 0.6), (2.0, 0.3)]);
        assert_eq!(c[0].x_label, "epoch");

        let def = ChartDef {
            y: vec!["f1".into()],
            ..ChartDef::default()
        };
        let c = charts("c.csv", &def, &src[..1]).unwrap();
        let Data::Xy(series) = &c[0].data else {
            panic!("xy")
        };
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].label, "f1");
        let bad = ChartDef {
            x: Some("step".into()),
            ..ChartDef::default()
        };
        let e = charts("c.csv", &bad, &src).unwrap_err().to_string();
        assert_eq!(
            e,
            "plot c.csv has no column `step` (columns: epoch, loss, f1, device)"
        );
    }

    #[test]
    fn confusion_counts_actual_against_predicted() {
        let r = parse(
            "p.csv",
            "actual,predicted\nfire,fire\nfire,fp\nfp,fp\nfp,fp\n",
        )
        .unwrap();
        let def = ChartDef {
            template: Template::Confusion,
            ..ChartDef::default()
        };
        let c = charts(
            "p.csv",
            &def,
            &[Source {
                label: "w".into(),
                records: &r,
            }],
        )
        .unwrap();
        let Data::Confusion { classes, counts } = &c[0].data else {
            panic!("confusion")
        };
        assert_eq!(classes, &["fire", "fp"]);
        assert_eq!(counts, &vec![vec![1, 1], vec![0, 2]]);
    }
}
