//! Ranking a metric column by its direction (`Better::Max` or `Better::Min`), the same way
//! in every table that has metric columns (the sweep table, `exp show`): the best row is
//! the first strictly better value (so a tie keeps the earlier row), NaN never wins, and
//! ordering puts rows with a value before rows without one. (The header's arrow is
//! rendered by `report::table::title`.)

use std::cmp::Ordering;

use crate::graph::sweep::Better;

/// The index of the best value; `None` when no value is there (or all are NaN).
pub fn best(values: impl IntoIterator<Item = Option<f64>>, better: Better) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in values.into_iter().enumerate() {
        let Some(v) = v else {
            continue;
        };
        if v.is_nan() {
            continue;
        }
        let wins = match (best, better) {
            (None, _) => true,
            (Some((_, b)), Better::Max) => v > b,
            (Some((_, b)), Better::Min) => v < b,
        };
        if wins {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// Best first; a missing value after every present one.
pub fn order(a: Option<f64>, b: Option<f64>, better: Better) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => {
            let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
            if better == Better::Max {
                o.reverse()
            } else {
                o
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_follows_the_direction_and_skips_missing_and_nan() {
        let v = [
            None,
            Some(0.5),
            Some(f64::NAN),
            Some(0.9),
            Some(0.9),
            Some(0.1),
        ];
        assert_eq!(best(v, Better::Max), Some(3), "a tie keeps the earlier row");
        assert_eq!(best(v, Better::Min), Some(5));
        assert_eq!(best([None, Some(f64::NAN)], Better::Max), None);
    }

    #[test]
    fn order_puts_the_best_first_and_missing_last() {
        let mut v = vec![Some(0.5), None, Some(0.9), Some(0.1)];
        v.sort_by(|a, b| order(*a, *b, Better::Max));
        assert_eq!(v, [Some(0.9), Some(0.5), Some(0.1), None]);
        v.sort_by(|a, b| order(*a, *b, Better::Min));
        assert_eq!(v, [Some(0.1), Some(0.5), Some(0.9), None]);
    }
}
