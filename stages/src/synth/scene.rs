//! One synthetic camera sequence: a static landscape, and either a smoke plume or a
//! look-alike, rendered frame by frame with the object's true box.
//!
//! What separates the classes is what separates them in the real data: a plume is anchored
//! on the ground, grows and rises, and its texture is turbulent (several octaves of noise
//! advected upwards and re-drawn every frame, so neighbouring frames differ a lot). A
//! look-alike (cloud bank, fog band, haze) has similar size, colour and brightness but a
//! smooth texture that moves rigidly (drifts sideways or sits still) and barely changes.
//! Sizes and places overlap between the classes, so neither box geometry nor a single
//! bright blob gives the answer away.

use crate::geometry::BBox;
use crate::raw::jpeg::Rgb;
use crate::rng::Rand;

use super::noise::Noise;

struct Plume {
    base_x: f64,
    base_y: f64,
    h0: f64,
    rise: f64,
    w_base: f64,
    spread: f64,
    lean: f64,
    phase: f64,
    scale: f64,
    advect: f64,
    opacity: f64,
    colour: [f64; 3],
    noise: Noise,
}

struct LookAlike {
    cx: f64,
    cy: f64,
    a: f64,
    b: f64,
    vx: f64,
    scale: f64,
    opacity: f64,
    phase: f64,
    colour: [f64; 3],
    noise: Noise,
}

enum Object {
    Smoke(Plume),
    LookAlike(LookAlike),
}

pub struct Scene {
    background: Rgb,
    object: Object,
    sensor: Noise,
}

fn blend(px: &mut [u8], colour: [f64; 3], alpha: f64) {
    for (c, target) in px.iter_mut().zip(colour) {
        let v = *c as f64 * (1.0 - alpha) + target * alpha;
        *c = v.round().clamp(0.0, 255.0) as u8;
    }
}

fn landscape(rng: &mut Rand, w: usize, h: usize) -> (Rgb, f64) {
    let noise = Noise::new(rng.u64());
    let (wf, hf) = (w as f64, h as f64);
    let horizon = rng.range(0.3, 0.5) * hf;
    let sky_top = [
        rng.range(90.0, 130.0),
        rng.range(130.0, 165.0),
        rng.range(190.0, 225.0),
    ];
    let sky_low = [
        rng.range(170.0, 200.0),
        rng.range(185.0, 210.0),
        rng.range(200.0, 225.0),
    ];
    let far = [
        rng.range(105.0, 135.0),
        rng.range(120.0, 145.0),
        rng.range(135.0, 160.0),
    ];
    let ground = [
        rng.range(60.0, 110.0),
        rng.range(75.0, 120.0),
        rng.range(40.0, 80.0),
    ];
    let mut img = Rgb::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f64, y as f64);
            let far_ridge = horizon - 0.08 * hf * noise.fbm(xf / (0.3 * wf), 0.5, 0.0, 3, 0.5);
            let near_ridge =
                horizon + 0.06 * hf * noise.fbm(xf / (0.25 * wf), 7.5, 1.0, 3, 0.5) - 0.02 * hf;
            let colour = if yf < far_ridge {
                let t = (yf / far_ridge).clamp(0.0, 1.0);
                let cloudiness = noise.fbm(xf / (0.4 * wf), yf / (0.2 * hf), 3.0, 2, 0.5);
                let mut c = [0.0; 3];
                for i in 0..3 {
                    c[i] = sky_top[i] + (sky_low[i] - sky_top[i]) * t + 10.0 * (cloudiness - 0.5);
                }
                c
            } else if yf < near_ridge {
                let tex = noise.fbm(xf / 6.0, yf / 6.0, 5.0, 3, 0.5);
                far.map(|v| v * (0.85 + 0.3 * tex))
            } else {
                // Vegetation: high-frequency, high-contrast, and static.
                let tex = noise.fbm(xf / 2.5, yf / 2.5, 9.0, 4, 0.6);
                let shade = 0.9 + 0.2 * (yf - near_ridge) / (hf - near_ridge + 1.0);
                ground.map(|v| v * (0.6 + 0.8 * tex) * shade)
            };
            let px = &mut img.data[(y * w + x) * 3..(y * w + x) * 3 + 3];
            for (p, v) in px.iter_mut().zip(colour) {
                *p = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    (img, horizon)
}

fn grey(rng: &mut Rand, lo: f64, hi: f64) -> [f64; 3] {
    let v = rng.range(lo, hi);
    [
        v + rng.range(-6.0, 6.0),
        v + rng.range(-6.0, 6.0),
        v + rng.range(-4.0, 8.0),
    ]
}

impl Scene {
    pub fn new(rng: &mut Rand, smoke: bool, w: usize, h: usize) -> Self {
        let (background, horizon) = landscape(rng, w, h);
        let (wf, hf) = (w as f64, h as f64);
        let object = if smoke {
            Object::Smoke(Plume {
                base_x: rng.range(0.2, 0.8) * wf,
                base_y: rng.range(horizon + 0.1 * hf, 0.9 * hf),
                h0: rng.range(0.08, 0.16) * hf,
                rise: rng.range(0.010, 0.022) * hf,
                w_base: rng.range(0.03, 0.06) * wf,
                spread: rng.range(0.35, 0.7),
                lean: rng.range(-0.6, 0.6),
                phase: rng.range(0.0, 6.3),
                scale: 1.0 / (rng.range(0.04, 0.07) * hf),
                advect: rng.range(0.8, 1.6),
                opacity: rng.range(0.6, 0.9),
                colour: grey(rng, 185.0, 235.0),
                noise: Noise::new(rng.u64()),
            })
        } else {
            let low = rng.chance(0.5);
            let cy = if low {
                rng.range(horizon, 0.85 * hf)
            } else {
                rng.range(0.12 * hf, horizon)
            };
            let drifting = rng.chance(0.6);
            // Banks of cloud, fog and haze are wider than tall; as tall as a plume at most.
            let a = rng.range(0.06, 0.2) * wf;
            let b = rng.range(0.05 * hf, a.min(0.2 * hf));
            Object::LookAlike(LookAlike {
                cx: rng.range(0.2, 0.8) * wf,
                cy,
                a,
                b,
                vx: if drifting {
                    rng.range(0.3, 1.2) * if rng.chance(0.5) { 1.0 } else { -1.0 }
                } else {
                    0.0
                },
                scale: 1.0 / (rng.range(0.15, 0.3) * hf),
                opacity: rng.range(0.45, 0.8),
                phase: rng.range(0.0, 6.3),
                colour: grey(rng, 185.0, 240.0),
                noise: Noise::new(rng.u64()),
            })
        };
        Scene {
            background,
            object,
            sensor: Noise::new(rng.u64()),
        }
    }

    /// Frame `t` and the object's true box (normalised), if any of it is in the picture.
    pub fn frame(&self, t: usize) -> (Rgb, Option<BBox>) {
        let mut img = self.background.clone();
        let (w, h) = (img.width, img.height);
        let tf = t as f64;
        let (x0, y0, x1, y1) = match &self.object {
            Object::Smoke(p) => {
                let height = (p.h0 + p.rise * tf).min(p.base_y - 0.03 * h as f64);
                let top = p.base_y - height;
                let centre = |y: f64| {
                    let u = (p.base_y - y) / height;
                    p.base_x
                        + p.lean * (p.base_y - y)
                        + 0.03 * h as f64 * (u * 5.0 + tf * 0.6 + p.phase).sin()
                };
                let width = |y: f64| p.w_base + p.spread * (p.base_y - y);
                let (mut bx0, mut bx1) = (f64::MAX, f64::MIN);
                let ys = (top.max(0.0) as usize)..(p.base_y.ceil() as usize).min(h);
                for y in ys.clone() {
                    let yf = y as f64 + 0.5;
                    let (c, half) = (centre(yf), width(yf) / 2.0);
                    bx0 = bx0.min(c - half);
                    bx1 = bx1.max(c + half);
                    let u = (p.base_y - yf) / height;
                    let fade = 1.0 - u.powi(3);
                    let xs = ((c - half).floor().max(0.0) as usize)
                        ..((c + half).ceil().max(0.0) as usize).min(w);
                    for x in xs {
                        let xf = x as f64 + 0.5;
                        let r = (xf - c).abs() / half;
                        if r >= 1.0 {
                            continue;
                        }
                        let turb = p.noise.fbm(
                            xf * p.scale,
                            (yf + tf * p.advect * p.rise) * p.scale,
                            tf * 0.45,
                            4,
                            0.65,
                        );
                        let tex = ((turb - 0.25) * 2.2).clamp(0.0, 1.0);
                        let alpha = p.opacity * (1.0 - r * r) * fade * tex;
                        blend(
                            &mut img.data[(y * w + x) * 3..(y * w + x) * 3 + 3],
                            p.colour,
                            alpha,
                        );
                    }
                }
                (bx0, top, bx1, p.base_y)
            }
            Object::LookAlike(l) => {
                let cx = l.cx + l.vx * tf;
                let op = l.opacity * (1.0 + 0.08 * (tf * 0.3 + l.phase).sin());
                let ys = ((l.cy - l.b).max(0.0) as usize)
                    ..((l.cy + l.b).ceil().max(0.0) as usize).min(h);
                for y in ys {
                    let yf = y as f64 + 0.5;
                    let xs = ((cx - l.a).max(0.0) as usize)
                        ..((cx + l.a).ceil().max(0.0) as usize).min(w);
                    for x in xs {
                        let xf = x as f64 + 0.5;
                        // Texture in the object's own frame: it moves rigidly.
                        let (u, v) = (xf - cx, yf - l.cy);
                        let n = l.noise.fbm(u * l.scale, v * l.scale, tf * 0.02, 2, 0.5);
                        let edge = 0.8 + 0.4 * n;
                        let r2 = ((u / l.a).powi(2) + (v / l.b).powi(2)) / edge;
                        if r2 >= 1.0 {
                            continue;
                        }
                        let shape = (1.0 - r2).powf(0.7);
                        let alpha = op * shape * (0.65 + 0.35 * n);
                        blend(
                            &mut img.data[(y * w + x) * 3..(y * w + x) * 3 + 3],
                            l.colour,
                            alpha,
                        );
                    }
                }
                let (a, b) = (l.a * 0.9, l.b * 0.9);
                (cx - a, l.cy - b, cx + a, l.cy + b)
            }
        };
        // Sensor noise, a few grey levels, new every frame.
        for (i, px) in img.data.chunks_mut(3).enumerate() {
            let n = (self.sensor.white((i % w) as i64, (i / w) as i64, t as i64) - 0.5) * 6.0;
            for c in px {
                *c = (*c as f64 + n).round().clamp(0.0, 255.0) as u8;
            }
        }
        let (wf, hf) = (w as f64, h as f64);
        let (x0, x1) = (x0.clamp(0.0, wf), x1.clamp(0.0, wf));
        let (y0, y1) = (y0.clamp(0.0, hf), y1.clamp(0.0, hf));
        let visible = x1 - x0 >= 3.0 && y1 - y0 >= 3.0;
        let bbox = visible.then(|| BBox::from_corners(x0 / wf, y0 / hf, x1 / wf, y1 / hf));
        (img, bbox)
    }
}
