//! Seeded randomness for data generation and shuffling, independent of libtorch's
//! generator (which only the model's initialisation and dropout draw from).
//!
//! Every parallel unit of work (a sequence, an epoch's shuffle) gets its own stream, derived
//! by hashing the run's seed with a label naming the unit, so results do not depend on
//! which thread ran what or in which order.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

pub struct Rand(ChaCha8Rng);

impl Rand {
    /// An independent stream for `(seed, label)`.
    pub fn derive(seed: u64, label: &str) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(&seed.to_le_bytes());
        h.update(label.as_bytes());
        Rand(ChaCha8Rng::from_seed(*h.finalize().as_bytes()))
    }

    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Uniform integer in `lo..=hi`.
    pub fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.0.next_u64() % (hi - lo + 1) as u64) as usize
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(f64::MIN_POSITIVE);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A uniformly random permutation of `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (self.0.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rand::derive(7, "x");
                move |_| r.u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rand::derive(7, "x");
                move |_| r.u64()
            })
            .collect();
        let c = Rand::derive(7, "y").u64();
        assert_eq!(a, b);
        assert_ne!(a[0], c);
        let mut r = Rand::derive(1, "p");
        let mut p = r.permutation(10);
        p.sort();
        assert_eq!(p, (0..10).collect::<Vec<_>>());
    }
}
