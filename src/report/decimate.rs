//! Fewer points, the same picture. A chart is drawn at a few hundred pixels across, and a
//! training log may hold millions of steps: drawn whole, one plot file made a 15 MB SVG.
//!
//! A line keeps, of each run of consecutive points that fall in one pixel column, the
//! first, the lowest, the highest and the last (in their order): every segment of the
//! line within the column lies between the lowest and the highest, and the segments into
//! and out of the column start and end where they did, so at the chart's resolution the
//! line is the one the whole series draws (the M4 reduction, Jugel et al., VLDB 2014).
//! Scatter points keep one point per pixel. A series with no more points than a few per
//! column is drawn as it is.

use std::collections::HashSet;

/// Below this many points a column, a series is drawn whole.
const PER_COLUMN: usize = 4;

/// `points` of a line drawn `columns` pixels wide, `column` giving the pixel column of an
/// x (none for an x that is not a number).
pub fn line(
    points: &[(f64, f64)],
    column: impl Fn(f64) -> Option<i32>,
    columns: usize,
) -> Vec<(f64, f64)> {
    if points.len() <= columns.saturating_mul(PER_COLUMN) {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(columns * PER_COLUMN);
    let mut start = 0;
    while start < points.len() {
        let col = column(points[start].0);
        let mut end = start + 1;
        while col.is_some() && end < points.len() && column(points[end].0) == col {
            end += 1;
        }
        keep_run(&points[start..end], &mut out);
        start = end;
    }
    out
}

/// The first, lowest, highest and last points of a run, each once, in their order.
fn keep_run(run: &[(f64, f64)], out: &mut Vec<(f64, f64)>) {
    // Extremes among the numbers: a NaN compares with nothing (a `nan` row of a log).
    let first = run.iter().position(|p| !p.1.is_nan()).unwrap_or(0);
    let (mut lo, mut hi) = (first, first);
    for (i, p) in run.iter().enumerate() {
        if p.1 < run[lo].1 {
            lo = i;
        }
        if p.1 > run[hi].1 {
            hi = i;
        }
    }
    let mut keep = [0, lo, hi, run.len() - 1];
    keep.sort_unstable();
    let mut last = None;
    for i in keep {
        if last != Some(i) {
            out.push(run[i]);
            last = Some(i);
        }
    }
}

/// Scatter `points` drawn `columns` pixels wide, `pixel` giving the pixel of a point: the
/// first point in each pixel.
pub fn scatter(
    points: &[(f64, f64)],
    pixel: impl Fn((f64, f64)) -> Option<(i32, i32)>,
    columns: usize,
) -> Vec<(f64, f64)> {
    if points.len() <= columns.saturating_mul(PER_COLUMN) {
        return points.to_vec();
    }
    let mut seen = HashSet::new();
    points
        .iter()
        .copied()
        .filter(|&p| pixel(p).is_none_or(|px| seen.insert(px)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_keeps_each_columns_extremes_and_ends_in_order() {
        // 100,000 points of a noisy decay over 100 columns.
        let pts: Vec<(f64, f64)> = (0..100_000)
            .map(|i| {
                let x = i as f64;
                (
                    x,
                    1.0 / (1.0 + x / 1000.0) + ((i * 7919) % 101) as f64 / 1000.0,
                )
            })
            .collect();
        let col = |x: f64| x.is_finite().then(|| (x / 1000.0).floor() as i32);
        let kept = line(&pts, col, 100);
        assert!(kept.len() <= 400, "{}", kept.len());
        assert_eq!(kept.first(), pts.first());
        assert_eq!(kept.last(), pts.last());
        assert!(kept.windows(2).all(|w| w[0].0 < w[1].0), "in order");
        for c in 0..100 {
            let col = |p: &&(f64, f64)| (p.0 / 1000.0).floor() as usize == c;
            let max = |v: Vec<&(f64, f64)>| v.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            let min = |v: Vec<&(f64, f64)>| v.iter().map(|p| p.1).fold(f64::MAX, f64::min);
            let (all, few) = (
                pts.iter().filter(col).collect::<Vec<_>>(),
                kept.iter().filter(col).collect::<Vec<_>>(),
            );
            assert_eq!(max(all.clone()), max(few.clone()), "column {c}");
            assert_eq!(min(all), min(few), "column {c}");
        }
    }

    #[test]
    fn a_short_line_and_lines_that_double_back_are_kept_as_drawn() {
        let pts: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, i as f64)).collect();
        let unit = |x: f64| x.is_finite().then(|| x.floor() as i32);
        assert_eq!(line(&pts, unit, 100), pts);
        // Back and forth across one column: a run per visit, each kept whole up to 4.
        let zig: Vec<(f64, f64)> = (0..1000).map(|i| ((i % 2) as f64 * 10.0, 0.0)).collect();
        let kept = line(&zig, |x| x.is_finite().then(|| (x / 10.0) as i32), 2);
        assert_eq!(kept.len(), 1000, "no run of one column to shorten");
        let with_nan = [(0.0, 1.0), (f64::NAN, 2.0), (0.5, 3.0)].repeat(10);
        assert_eq!(line(&with_nan, |x| x.is_finite().then_some(0), 1).len(), 30);
        // A NaN y first in its column hides none of the column's extremes.
        let mut spiky: Vec<(f64, f64)> = (0..100).map(|i| (f64::from(i), 0.5)).collect();
        spiky[0].1 = f64::NAN;
        spiky[50].1 = 9.0;
        spiky[60].1 = -9.0;
        let kept = line(&spiky, |_| Some(0), 1);
        assert!(
            kept.contains(&(50.0, 9.0)) && kept.contains(&(60.0, -9.0)),
            "{kept:?}"
        );
    }

    #[test]
    fn scatter_keeps_one_point_a_pixel() {
        let pts: Vec<(f64, f64)> = (0..100_000)
            .map(|i| ((i % 10) as f64, (i % 7) as f64))
            .collect();
        let kept = scatter(&pts, |(x, y)| Some((x as i32, y as i32)), 10);
        assert_eq!(kept.len(), 70);
    }
}
