//! Binary-classification metrics over scores (probabilities of smoke) and 0/1 labels.
//!
//! Conventions, so numbers compare with scikit-learn's:
//! - predicted positive when `score >= threshold`;
//! - precision is 0 when nothing is predicted positive, recall 0 with no positives;
//! - PR-AUC is average precision, `sum_n (R_n - R_{n-1}) P_n` over the distinct score
//!   thresholds from high to low (a step function, no trapezoids, which overstate it);
//! - recall at FPR <= x is the best recall of any threshold whose false-positive rate is
//!   at most x (with 100 negatives, 1% allows one false alarm).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Confusion {
    pub tn: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    pub tp: usize,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Confusion {
    pub fn new(scores: &[f64], labels: &[u8], threshold: f64) -> Self {
        let mut c = Confusion::default();
        for (&s, &l) in scores.iter().zip(labels) {
            match (s >= threshold, l == 1) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, true) => c.fn_ += 1,
                (false, false) => c.tn += 1,
            }
        }
        c
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fn_)
    }
}

/// One operating point: everything scoring `>= threshold` called smoke.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub fpr: f64,
}

/// The operating points at every distinct score, from the highest threshold down.
pub fn curve(scores: &[f64], labels: &[u8]) -> Vec<CurvePoint> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let pos = labels.iter().filter(|&&l| l == 1).count();
    let neg = labels.len() - pos;
    let (mut tp, mut fp) = (0, 0);
    let mut out = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        if labels[i] == 1 {
            tp += 1
        } else {
            fp += 1
        }
        // Emit once per distinct score: ties are one threshold.
        let last_of_tie = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            out.push(CurvePoint {
                threshold: scores[i],
                precision: ratio(tp, tp + fp),
                recall: ratio(tp, pos),
                fpr: ratio(fp, neg),
            });
        }
    }
    out
}

/// PR-AUC as average precision (see the module header).
pub fn average_precision(scores: &[f64], labels: &[u8]) -> f64 {
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for p in curve(scores, labels) {
        ap += (p.recall - prev_recall) * p.precision;
        prev_recall = p.recall;
    }
    ap
}

/// Area under the ROC curve (trapezoids over the operating points, ties counted half).
pub fn roc_auc(scores: &[f64], labels: &[u8]) -> f64 {
    let (mut auc, mut prev_fpr, mut prev_tpr) = (0.0, 0.0, 0.0);
    for p in curve(scores, labels) {
        auc += (p.fpr - prev_fpr) * (p.recall + prev_tpr) / 2.0;
        prev_fpr = p.fpr;
        prev_tpr = p.recall;
    }
    auc
}

/// The best recall at a false-positive rate of at most `max_fpr`.
pub fn recall_at_fpr(scores: &[f64], labels: &[u8], max_fpr: f64) -> f64 {
    curve(scores, labels)
        .iter()
        .filter(|p| p.fpr <= max_fpr + 1e-12)
        .map(|p| p.recall)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 4 positives, 4 negatives, one tie across classes at 0.5.
    const S: [f64; 8] = [0.9, 0.8, 0.7, 0.5, 0.5, 0.3, 0.2, 0.1];
    const L: [u8; 8] = [1, 1, 0, 1, 0, 0, 1, 0];

    #[test]
    fn confusion_and_derived_rates() {
        let c = Confusion::new(&S, &L, 0.5);
        assert_eq!(
            c,
            Confusion {
                tn: 2,
                fp: 2,
                fn_: 1,
                tp: 3
            }
        );
        assert_eq!(c.precision(), 3.0 / 5.0);
        assert_eq!(c.recall(), 3.0 / 4.0);
        assert_eq!(c.f1(), 6.0 / 9.0);
        assert_eq!(c.accuracy(), 5.0 / 8.0);
        let none = Confusion::new(&S, &L, 2.0);
        assert_eq!(
            (none.precision(), none.recall(), none.f1()),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn average_precision_by_hand() {
        // Thresholds 0.9 (P 1, R .25), 0.8 (1, .5), 0.7 (2/3, .5), 0.5 (3/5, .75),
        // 0.3 (.5, .75), 0.2 (4/7, 1), 0.1 (.5, 1):
        // AP = .25*1 + .25*1 + .25*.6 + .25*4/7.
        let want = 0.25 + 0.25 + 0.25 * 0.6 + 0.25 * 4.0 / 7.0;
        assert!((average_precision(&S, &L) - want).abs() < 1e-12);
        // A perfect ranking has AP 1; a reversed one 1/4 + ... (each positive found last).
        assert_eq!(average_precision(&[0.9, 0.8, 0.2, 0.1], &[1, 1, 0, 0]), 1.0);
        let rev = average_precision(&[0.1, 0.2, 0.8, 0.9], &[1, 1, 0, 0]);
        assert!(
            (rev - (0.5 * (1.0 / 3.0) + 0.5 * 0.5)).abs() < 1e-12,
            "{rev}"
        );
    }

    #[test]
    fn roc_auc_counts_ties_half() {
        // Pairs (pos, neg) ranked correctly: 11.5 of 16 with the tie counted half.
        // pos .9: beats 4 negs; .8: 4; .5: beats .3 .1 ties .5 -> 2.5; .2: beats .1 -> 1.
        assert!((roc_auc(&S, &L) - 11.5 / 16.0).abs() < 1e-12);
    }

    #[test]
    fn recall_at_low_fpr() {
        // No false positive allowed (FPR 0): thresholds down to 0.8 -> recall 0.5.
        assert_eq!(recall_at_fpr(&S, &L, 0.01), 0.5);
        // FPR <= 0.25 allows the 0.7 negative: best recall at threshold 0.7 is still 0.5;
        // FPR 0.5 reaches 0.75.
        assert_eq!(recall_at_fpr(&S, &L, 0.25), 0.5);
        assert_eq!(recall_at_fpr(&S, &L, 0.5), 0.75);
    }

    #[test]
    fn curve_has_one_point_per_distinct_score() {
        let c = curve(&S, &L);
        assert_eq!(c.len(), 7);
        assert_eq!(c[3].threshold, 0.5);
        assert_eq!((c[3].precision, c[3].recall, c[3].fpr), (0.6, 0.75, 0.5));
    }
}
