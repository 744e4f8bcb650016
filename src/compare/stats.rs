//! Small-sample statistics for cells replicated over seeds: Student's t interval of a mean
//! and Welch's unequal-variance t-test between two cells.
//!
//! With 2-5 seeds a normal interval (±1.96 σ/√n) is far too narrow; the t quantile with
//! n - 1 degrees of freedom is 12.7 at n = 2 and 2.78 at n = 5. Welch's test does not assume
//! the two cells have the same spread (a bigger model may vary more across seeds); its
//! degrees of freedom come from the Welch–Satterthwaite equation. The t distribution's
//! CDF is evaluated through the regularised incomplete beta function (continued fraction,
//! modified Lentz), exact to ~1e-10 for the degrees of freedom that occur here.

/// Two-sided significance level behind "within noise" and the 95% intervals.
pub const ALPHA: f64 = 0.05;

/// The 95% confidence interval of the mean of `n` values with sample std `sd`.
pub fn mean_ci(mean: f64, sd: f64, n: usize) -> Option<(f64, f64)> {
    if n < 2 || !sd.is_finite() {
        return None;
    }
    let half = t_quantile(1.0 - ALPHA / 2.0, (n - 1) as f64) * sd / (n as f64).sqrt();
    Some((mean - half, mean + half))
}

/// Welch's t-test of two samples given by mean, sample std and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Welch {
    pub t: f64,
    pub df: f64,
    /// Two-sided p-value of "the means are equal".
    pub p: f64,
}

pub fn welch(a: (f64, f64, usize), b: (f64, f64, usize)) -> Option<Welch> {
    let ((ma, sa, na), (mb, sb, nb)) = (a, b);
    if na < 2 || nb < 2 {
        return None;
    }
    let (va, vb) = (sa * sa / na as f64, sb * sb / nb as f64);
    let se2 = va + vb;
    if se2 == 0.0 {
        // No spread at all: the same mean is no difference, another mean is a sure one
        // ("the same" up to rounding: the means are sums over seeds divided by n).
        let same = (ma - mb).abs() <= 1e-12 * ma.abs().max(mb.abs()).max(1.0);
        return Some(Welch {
            t: if same { 0.0 } else { f64::INFINITY },
            df: (na + nb - 2) as f64,
            p: if same { 1.0 } else { 0.0 },
        });
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2
        / (va * va / (na as f64 - 1.0) + vb * vb / (nb as f64 - 1.0)).max(f64::MIN_POSITIVE);
    Some(Welch {
        t,
        df,
        p: t_two_sided_p(t, df),
    })
}

/// P(|T| >= |t|) for Student's t with `df` degrees of freedom.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    inc_beta(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// The `q` quantile (q > 0.5) of Student's t with `df` degrees of freedom, by bisection.
pub fn t_quantile(q: f64, df: f64) -> f64 {
    let target = 2.0 * (1.0 - q);
    let (mut lo, mut hi) = (0.0_f64, 1.0e4_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_two_sided_p(mid, df) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function I_x(a, b).
fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=500 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn t_quantiles_match_the_printed_tables() {
        // Two-sided 95% critical values from any t table.
        for (df, want) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (4.0, 2.776),
            (10.0, 2.228),
            (30.0, 2.042),
        ] {
            let got = t_quantile(0.975, df);
            assert!(close(got, want, 5e-4), "df {df}: {got} vs {want}");
        }
        assert!(close(t_quantile(0.975, 1e6), 1.960, 1e-3));
    }

    #[test]
    fn p_values_match_known_points() {
        assert!(close(t_two_sided_p(2.228, 10.0), 0.05, 1e-4));
        assert!(close(t_two_sided_p(0.0, 5.0), 1.0, 1e-12));
        assert!(
            close(t_two_sided_p(1.0, 1.0), 0.5, 1e-9),
            "Cauchy: P(|T|>1) = 1/2"
        );
    }

    #[test]
    fn welch_separates_clear_differences_from_noise() {
        // 0.90 ± 0.01 vs 0.80 ± 0.01 over 3 seeds: clearly different.
        let w = welch((0.90, 0.01, 3), (0.80, 0.01, 3)).unwrap();
        assert!(close(w.t, 12.247, 1e-3), "{w:?}");
        assert!(close(w.df, 4.0, 1e-9), "{w:?}");
        assert!(w.p < 0.001, "{w:?}");
        // 0.90 ± 0.05 vs 0.88 ± 0.05: within noise.
        let w = welch((0.90, 0.05, 3), (0.88, 0.05, 3)).unwrap();
        assert!(w.p > 0.5, "{w:?}");
        // Unequal spreads shrink the degrees of freedom below n1 + n2 - 2.
        let w = welch((1.0, 0.1, 5), (0.5, 1.0, 5)).unwrap();
        assert!(w.df < 4.2 && w.df > 4.0, "{w:?}");
        assert_eq!(
            welch((1.0, 0.1, 1), (0.5, 0.1, 3)),
            None,
            "one seed: no test"
        );
        assert_eq!(welch((1.0, 0.0, 2), (1.0, 0.0, 2)).unwrap().p, 1.0);
        // No spread: means equal up to rounding are no difference, others a sure one.
        let third = (0.1 + 0.2 + 0.4) / 3.0;
        assert_eq!(welch((third, 0.0, 3), (0.7 / 3.0, 0.0, 3)).unwrap().p, 1.0);
        assert_eq!(welch((0.25, 0.0, 3), (0.125, 0.0, 3)).unwrap().p, 0.0);
    }

    #[test]
    fn intervals_widen_with_few_seeds() {
        let (lo, hi) = mean_ci(0.9, 0.01, 2).unwrap();
        assert!(close(hi - 0.9, 12.706 * 0.01 / 2f64.sqrt(), 1e-5));
        assert!(close(0.9 - lo, hi - 0.9, 1e-12));
        assert_eq!(mean_ci(0.9, 0.01, 1), None);
    }
}
