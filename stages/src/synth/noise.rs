//! Value noise on an integer lattice, hashed rather than tabulated so it covers any domain
//! with no allocation: `noise3(x, y, t)` blends the hashed values of the eight surrounding
//! lattice points with a smoothstep. Sums of octaves (`fbm`) give the textures: few, low
//! octaves for the smooth look-alikes, many and fast-changing in `t` for smoke.

#[derive(Clone, Copy)]
pub struct Noise {
    seed: u64,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser: every input bit moves every output bit.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `x.floor()` as an integer, without the libm call `f64::floor` is on baseline x86-64
/// (three per noise sample). Exact for every `x` inside the i64 range.
fn floor(x: f64) -> i64 {
    let i = x as i64;
    if (i as f64) > x { i - 1 } else { i }
}

fn smooth(t: f64) -> f64 {
    t * t * (3.0 - 2.0 * t)
}

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise {
            seed: mix(seed ^ 0x9e37_79b9_7f4a_7c15),
        }
    }

    fn lattice(&self, x: i64, y: i64, z: i64) -> f64 {
        let h = mix(self.seed
            ^ (x as u64).wrapping_mul(0x8cb9_2ba7_2f3d_8dd7)
            ^ (y as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (z as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f));
        (h >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uncorrelated values in [0, 1) at integer points: per-pixel sensor noise.
    pub fn white(&self, x: i64, y: i64, z: i64) -> f64 {
        self.lattice(x, y, z)
    }

    /// In [0, 1).
    pub fn noise3(&self, x: f64, y: f64, z: f64) -> f64 {
        let (ix, iy, iz) = (floor(x), floor(y), floor(z));
        let (fx, fy, fz) = (
            smooth(x - ix as f64),
            smooth(y - iy as f64),
            smooth(z - iz as f64),
        );
        let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
        let plane = |z: i64| {
            let a = lerp(self.lattice(ix, iy, z), self.lattice(ix + 1, iy, z), fx);
            let b = lerp(
                self.lattice(ix, iy + 1, z),
                self.lattice(ix + 1, iy + 1, z),
                fx,
            );
            lerp(a, b, fy)
        };
        lerp(plane(iz), plane(iz + 1), fz)
    }

    /// `octaves` of noise, each at twice the frequency and `gain` times the amplitude of the
    /// last, normalised back to [0, 1).
    pub fn fbm(&self, x: f64, y: f64, z: f64, octaves: u32, gain: f64) -> f64 {
        let (mut sum, mut amp, mut norm, mut f) = (0.0, 1.0, 0.0, 1.0);
        for o in 0..octaves {
            // Offsetting each octave decorrelates their lattices.
            let off = o as f64 * 17.31;
            sum += amp * self.noise3(x * f + off, y * f - off, z * f);
            norm += amp;
            amp *= gain;
            f *= 2.0;
        }
        sum / norm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_bounded_and_continuous() {
        let n = Noise::new(3);
        let m = Noise::new(4);
        let mut differs = false;
        for i in 0..200 {
            let (x, y, z) = (i as f64 * 0.37, i as f64 * 0.11, i as f64 * 0.05);
            let v = n.noise3(x, y, z);
            assert!((0.0..1.0).contains(&v));
            assert_eq!(v, Noise::new(3).noise3(x, y, z));
            assert!((n.noise3(x + 1e-6, y, z) - v).abs() < 1e-4);
            differs |= (m.noise3(x, y, z) - v).abs() > 1e-3;
        }
        assert!(differs, "different seeds give different noise");
    }

    #[test]
    fn floor_is_f64_floor() {
        for i in -4000..4000 {
            for x in [i as f64 * 0.37, i as f64, i as f64 - 1e-12, i as f64 + 0.5] {
                assert_eq!(floor(x), x.floor() as i64, "{x}");
            }
        }
        assert_eq!(floor(-0.0), 0);
    }
}
