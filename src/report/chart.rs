//! Charts as SVG, drawn by `plotters` (its SVG backend only: text is written as `<text>`
//! elements and laid out by plotters' size estimate, so no font is loaded and nothing
//! links fontconfig or freetype).
//!
//! What is drawn is a model `compare` built (`compare::chart`): one [`Chart`] for every
//! template (lines with an optional shaded band, the mean ± 1 std of a cell over seeds;
//! scatter points; grouped bars over categories; a confusion matrix of actual ×
//! predicted counts), several series overlaid with a legend (revisions for `plots diff`,
//! cells for a sweep); and the pipeline graph laid out on layers ([`DagLayout`]). This
//! module only draws.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::decimate;
use crate::compare::chart::{Chart, DagLayout, Data, Series};
use crate::spec::Template;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// plotters could not draw (its SVG backend writes to a string: in practice, never).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct DrawError(String);

impl DrawError {
    /// 3: not the user's input but the drawing library.
    pub fn exit_code(&self) -> u8 {
        3
    }
}

fn err<E: std::fmt::Debug>(e: E) -> DrawError {
    DrawError(format!("{e:?}"))
}

fn color(i: usize) -> RGBColor {
    // Tableau 10: distinct, colour-blind friendly for the first few series.
    const C: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

/// `[lo, hi]` with a margin, never empty.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if lo == hi {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - d, hi + d);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// plotters writes each label as `<text …>`, the text, `</text>` on three lines; one line
/// per element keeps the page smaller and its text searchable as `>label</text>`.
fn tidy(svg: &str) -> String {
    let mut out = String::with_capacity(svg.len());
    let mut lines = svg.lines();
    while let Some(line) = lines.next() {
        out.push_str(line);
        if line.starts_with("<text") && !line.ends_with("</text>") {
            let mut first = true;
            for inner in lines.by_ref() {
                if inner == "</text>" {
                    break;
                }
                if !first {
                    out.push('\n');
                }
                out.push_str(inner);
                first = false;
            }
            out.push_str("</text>");
        }
        out.push('\n');
    }
    out
}

/// The chart as an SVG document of `size` pixels.
pub fn svg(c: &Chart, size: (u32, u32)) -> Result<String, DrawError> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        match &c.data {
            Data::Xy(series) => xy(&root, c, series, size)?,
            Data::Bars { categories, series } => bars(&root, c, categories, series)?,
            Data::Confusion { classes, counts } => confusion(&root, c, classes, counts)?,
        }
        root.present().map_err(err)?;
    }
    Ok(tidy(&buf))
}

fn xy(root: &Area, c: &Chart, series: &[Series], size: (u32, u32)) -> Result<(), DrawError> {
    let xs = series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| p.0)
            .chain(s.band.iter().map(|b| b.0))
    });
    let (x0, x1) = span(xs);
    let ys = series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| p.1)
            .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
    });
    let (y0, y1) = span(ys);
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    // The pixel each point is drawn at, as plotters maps it: a long series keeps what each
    // pixel column shows (`decimate`).
    let pixel =
        |(x, y): (f64, f64)| (x.is_finite() && y.is_finite()).then(|| chart.backend_coord(&(x, y)));
    let column = |x: f64| x.is_finite().then(|| chart.backend_coord(&(x, y0)).0);
    let w = size.0 as usize;
    let mut drawn_series = Vec::with_capacity(series.len());
    for s in series {
        let band = if s.band.len() > 1 {
            let edge = |f: fn(&(f64, f64, f64)) -> f64| -> Vec<(f64, f64)> {
                let pts: Vec<(f64, f64)> = s.band.iter().map(|b| (b.0, f(b))).collect();
                decimate::line(&pts, column, w)
            };
            let mut poly = edge(|b| b.2);
            poly.extend(edge(|b| b.1).into_iter().rev());
            Some(poly)
        } else {
            None
        };
        let points = if c.template == Template::Scatter {
            decimate::scatter(&s.points, pixel, w)
        } else {
            decimate::line(&s.points, column, w)
        };
        drawn_series.push((band, points));
    }
    for (i, (s, (band, points))) in series.iter().zip(drawn_series).enumerate() {
        let col = color(i);
        if let Some(poly) = band {
            chart
                .draw_series(std::iter::once(Polygon::new(poly, col.mix(0.18).filled())))
                .map_err(err)?;
        }
        let drawn = if c.template == Template::Scatter {
            chart
                .draw_series(points.into_iter().map(|p| Circle::new(p, 3, col.filled())))
                .map_err(err)?
        } else {
            chart
                .draw_series(LineSeries::new(points, col.stroke_width(2)))
                .map_err(err)?
        };
        if !s.label.is_empty() {
            drawn.label(s.label.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(2))
            });
        }
    }
    if series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

fn bars(
    root: &Area,
    c: &Chart,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<(), DrawError> {
    let n = categories.len().max(1);
    let (lo, hi) = span(series.iter().flat_map(|s| s.1.iter().copied()).chain([0.0]));
    let cats = categories.to_vec();
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), lo.min(0.0)..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                cats.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .disable_x_mesh()
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    let k = series.len().max(1) as f64;
    let width = 0.8 / k;
    for (j, (label, values)) in series.iter().enumerate() {
        let col = color(j);
        let drawn = chart
            .draw_series(values.iter().enumerate().map(|(i, &v)| {
                let left = i as f64 - 0.4 + j as f64 * width;
                Rectangle::new([(left, 0.0), (left + width * 0.95, v)], col.filled())
            }))
            .map_err(err)?;
        if !label.is_empty() {
            drawn
                .label(label.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
        }
    }
    if series.iter().any(|s| !s.0.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

fn confusion(
    root: &Area,
    c: &Chart,
    classes: &[String],
    counts: &[Vec<u64>],
) -> Result<(), DrawError> {
    let n = classes.len().max(1);
    let max = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let names = classes.to_vec();
    let names2 = classes.to_vec();
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), (n as f64 - 0.5)..-0.5)
        .map_err(err)?;
    let label = |names: &[String], v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .x_labels(n)
        .y_labels(n)
        .x_label_formatter(&|v| label(&names, v))
        .y_label_formatter(&|v| label(&names2, v))
        .disable_mesh()
        .draw()
        .map_err(err)?;
    for (a, row) in counts.iter().enumerate() {
        for (p, &k) in row.iter().enumerate() {
            let shade = k as f64 / max;
            let fill = RGBColor(
                (255.0 - 224.0 * shade) as u8,
                (255.0 - 136.0 * shade) as u8,
                (255.0 - 75.0 * shade) as u8,
            );
            let (x, y) = (p as f64, a as f64);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    fill.filled(),
                )))
                .map_err(err)?;
            let ink = if shade > 0.55 { WHITE } else { BLACK };
            chart
                .draw_series(std::iter::once(Text::new(
                    k.to_string(),
                    (x, y),
                    ("sans-serif", 16)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// The pipeline graph: boxes left to right by depth, an arrow per dependency.
pub fn dag(layout: &DagLayout) -> Result<String, DrawError> {
    let (nodes, edges) = (&layout.nodes, &layout.edges);
    const W: i32 = 150;
    const H: i32 = 34;
    const GAP_X: i32 = 40;
    const GAP_Y: i32 = 18;
    let layers = nodes.iter().map(|n| n.layer + 1).max().unwrap_or(1) as i32;
    let rows = nodes.iter().map(|n| n.row + 1).max().unwrap_or(1) as i32;
    let size = (
        (layers * (W + GAP_X) + GAP_X) as u32,
        (rows * (H + GAP_Y) + GAP_Y) as u32,
    );
    let at = |n: &crate::compare::chart::DagNode| {
        (
            GAP_X + n.layer as i32 * (W + GAP_X),
            GAP_Y + n.row as i32 * (H + GAP_Y),
        )
    };
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let ink = RGBColor(90, 90, 90);
        for &(from, to) in edges.iter() {
            let (Some(a), Some(b)) = (nodes.get(from), nodes.get(to)) else {
                continue;
            };
            let ((ax, ay), (bx, by)) = (at(a), at(b));
            let (sx, sy) = (ax + W, ay + H / 2);
            let (ex, ey) = (bx, by + H / 2);
            root.draw(&PathElement::new(
                vec![(sx, sy), (ex - 6, ey)],
                ink.stroke_width(1),
            ))
            .map_err(err)?;
            root.draw(&Polygon::new(
                vec![(ex, ey), (ex - 8, ey - 4), (ex - 8, ey + 4)],
                ink.filled(),
            ))
            .map_err(err)?;
        }
        for n in nodes.iter() {
            let (x, y) = at(n);
            root.draw(&Rectangle::new(
                [(x, y), (x + W, y + H)],
                RGBColor(232, 240, 250).filled(),
            ))
            .map_err(err)?;
            root.draw(&Rectangle::new(
                [(x, y), (x + W, y + H)],
                RGBColor(31, 119, 180).stroke_width(1),
            ))
            .map_err(err)?;
            let label: String = if n.label.chars().count() > 22 {
                format!("{}…", n.label.chars().take(21).collect::<String>())
            } else {
                n.label.clone()
            };
            root.draw(&Text::new(
                label,
                (x + W / 2, y + H / 2),
                ("sans-serif", 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(tidy(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::chart::DagNode;

    fn count(svg: &str, what: &str) -> usize {
        svg.matches(what).count()
    }

    #[test]
    fn overlaid_lines_get_a_legend_and_a_band() {
        let s = |label: &str, k: f64| Series {
            label: label.into(),
            points: (0..5).map(|i| (i as f64, k * i as f64)).collect(),
            band: (0..5)
                .map(|i| (i as f64, k * i as f64 - 0.5, k * i as f64 + 0.5))
                .collect(),
        };
        let c = Chart {
            title: "loss".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            template: Template::Line,
            data: Data::Xy(vec![s("HEAD", 1.0), s("workspace", 2.0)]),
        };
        let out = svg(&c, (480, 320)).unwrap();
        let svg = out;
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains(">HEAD</text>") && svg.contains(">workspace</text>"));
        assert!(svg.contains(">loss</text>"));
        assert_eq!(count(&svg, "<polygon"), 2, "one band per series");
        assert!(count(&svg, "<polyline") >= 2, "one line per series");
    }

    #[test]
    fn bars_and_confusion_matrices_draw_their_cells() {
        let c = Chart {
            title: "f1".into(),
            x_label: "cell".into(),
            y_label: "f1".into(),
            template: Template::Bar,
            data: Data::Bars {
                categories: vec!["a".into(), "b".into(), "c".into()],
                series: vec![("f1".into(), vec![0.9, 0.8, 0.7])],
            },
        };
        let out = svg(&c, (480, 320)).unwrap();
        assert!(out.contains(">b</text>"), "category labels");
        let m = Chart {
            title: "confusion".into(),
            x_label: "predicted".into(),
            y_label: "actual".into(),
            template: Template::Confusion,
            data: Data::Confusion {
                classes: vec!["fp".into(), "wildfire".into()],
                counts: vec![vec![17, 3], vec![2, 18]],
            },
        };
        let out = svg(&m, (400, 400)).unwrap();
        for k in ["17", "3", "2", "18"] {
            assert!(out.contains(&format!(">{k}</text>")), "count {k}");
        }
        assert!(out.contains(">wildfire</text>"));
    }

    #[test]
    fn the_pipeline_graph_has_a_box_and_label_per_stage() {
        let n = |label: &str, layer, row| DagNode {
            label: label.into(),
            layer,
            row,
        };
        let svg = dag(&DagLayout {
            nodes: vec![n("prepare", 0, 0), n("train", 1, 0), n("evaluate", 2, 0)],
            edges: vec![(0, 1), (1, 2)],
        })
        .unwrap();
        for s in ["prepare", "train", "evaluate"] {
            assert!(svg.contains(&format!(">{s}</text>")), "{s}");
        }
        assert_eq!(
            svg.matches("<polygon").count(),
            2,
            "one arrow head per edge"
        );
    }
}
