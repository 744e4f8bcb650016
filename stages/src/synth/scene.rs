//! One synthetic camera sequence: a static landscape, and a smoke plume or a look-alike,
//! rendered frame by frame with the object's true box, then what the camera adds.
//!
//! The classes differ only where they differ in reality, at two time scales, so that each
//! branch of the model has something only it can see. Every plume-shaped object is drawn
//! by one renderer from one set of distributions (position, size, shape, colour, opacity,
//! texture spectrum, wind lean, puffing); the kinds differ in two motion switches alone:
//!
//! | kind           | class | envelope over the sequence          | texture over a few frames            |
//! | -------------- | ----- | ----------------------------------- | ------------------------------------ |
//! | `smoke`        | 1     | anchored, grows and rises           | turbulent: advected up and boiling    |
//! | `steady_plume` | 0     | anchored, constant size (puffs only) | turbulent: advected up and boiling    |
//! | `smooth_plume` | 0     | anchored, grows and rises           | coherent: advected up rigidly         |
//! | `cloud_bank`   | 0     | drifts sideways or sits still       | smooth, slowly changing               |
//!
//! - `smoke`: a fire's plume. Its base stays on the ground, its top rises at a rate drawn
//!   per sequence (`growth_min..growth_max` of the frame height per frame, slow to fast), and
//!   its texture is turbulence: several octaves of noise carried upwards with the flow and
//!   re-drawn as they go (eddies form and decay), so neighbouring frames differ everywhere.
//! - `steady_plume`: a plume in a steady state (steam from a stack or a cooling tower, a
//!   hot spring, dust from a quarry): the same turbulent flow through a fixed envelope. Its
//!   size is a smoke plume's at a random moment. All plumes puff (the envelope's height
//!   oscillates by `puff` of its starting height, over 6-12 frames), and a puff's change over
//!   a few frames is as large as a growing plume's: a short window cannot tell the two
//!   apart; the whole sequence can (smoke keeps growing, steam does not).
//! - `smooth_plume`: something that grows and rises like a plume but does not boil: a
//!   building cumulus, fog lifting out of a valley. Same envelope process as smoke, same
//!   texture in any one frame, but the texture moves as one piece (a rigid translation with
//!   the flow): the cue is local, in how the texture changes from frame to frame.
//! - `cloud_bank`: the easy look-alikes (cloud banks, fog bands, haze layers): wider than
//!   tall, smooth low-frequency texture, drifting or still.
//!
//! What cameras add, the same for every kind: haze (the frame blended towards a haze
//! colour, up to `haze`, lowering contrast), a static foreground occluder (a tree or a pole
//! in front of part of the object, with probability `occlusion`), and sensor noise.

use std::f64::consts::TAU;

use crate::geometry::BBox;
use crate::raw::jpeg::Rgb;
use crate::rng::Rand;

use super::noise::Noise;

/// What a sequence shows; written beside its labels as `kind.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Smoke,
    SteadyPlume,
    SmoothPlume,
    CloudBank,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Smoke,
        Kind::SteadyPlume,
        Kind::SmoothPlume,
        Kind::CloudBank,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Smoke => "smoke",
            Kind::SteadyPlume => "steady_plume",
            Kind::SmoothPlume => "smooth_plume",
            Kind::CloudBank => "cloud_bank",
        }
    }
}

/// The physics knobs of `prepare` that shape a scene.
#[derive(Debug, Clone, Copy)]
pub struct Physics {
    /// A growing plume's top rises by `growth_min..growth_max` of the frame height per frame.
    pub growth_min: f64,
    pub growth_max: f64,
    /// Puffing amplitude, as a fraction of the plume's starting height (drawn up to it).
    pub puff: f64,
    /// Strongest haze: the frame blended this far towards the haze colour.
    pub haze: f64,
    /// Probability of a static occluder in front of the object.
    pub occlusion: f64,
}

struct Plume {
    base_x: f64,
    base_y: f64,
    /// Height at frame 0, and its change per frame (0 for a steady plume).
    h0: f64,
    growth: f64,
    puff_amp: f64,
    puff_period: f64,
    puff_phase: f64,
    w_base: f64,
    spread: f64,
    lean: f64,
    phase: f64,
    /// Texture frequency (1 / pixels), upward flow speed (pixels per frame), and boiling
    /// rate (noise lattice units per frame; 0 for a coherent texture).
    scale: f64,
    flow: f64,
    boil: f64,
    /// A coherent texture rides on the body instead of flowing through it: attached to the
    /// centre line and stretched with the height, whose value at mid-sequence it is drawn at.
    coherent: bool,
    h_ref: f64,
    /// Where the sequence starts along the noise's time axis.
    depth: f64,
    opacity: f64,
    colour: [f64; 3],
    noise: Noise,
}

struct CloudBank {
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
    Plume(Plume),
    Cloud(CloudBank),
}

/// A static shape in front of the object: a trunk from the frame's bottom edge.
struct Occluder {
    x0: f64,
    x1: f64,
    top: f64,
    colour: [f64; 3],
}

pub struct Scene {
    background: Rgb,
    object: Object,
    occluder: Option<Occluder>,
    haze: f64,
    haze_colour: [f64; 3],
    sensor: Noise,
}

/// `v` rounded to the nearest grey level (halves up), clamped to 0..=255. Adding a half and
/// truncating is `round` for the non-negative values left after the clamp, without the
/// libm call `f64::round` is on baseline x86-64 (it ran once per channel of every pixel of
/// every frame).
fn to_u8(v: f64) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

fn blend(px: &mut [u8], colour: [f64; 3], alpha: f64) {
    for (c, target) in px.iter_mut().zip(colour) {
        let v = *c as f64 * (1.0 - alpha) + target * alpha;
        *c = to_u8(v);
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
    // The two ridge lines are functions of the column: computed once per column, not per pixel.
    let ridges: Vec<(f64, f64)> = (0..w)
        .map(|x| {
            let xf = x as f64;
            (
                horizon - 0.08 * hf * noise.fbm(xf / (0.3 * wf), 0.5, 0.0, 3, 0.5),
                horizon + 0.06 * hf * noise.fbm(xf / (0.25 * wf), 7.5, 1.0, 3, 0.5) - 0.02 * hf,
            )
        })
        .collect();
    let mut img = Rgb::new(w, h);
    for y in 0..h {
        for (x, &(far_ridge, near_ridge)) in ridges.iter().enumerate() {
            let (xf, yf) = (x as f64, y as f64);
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
                *p = to_u8(v);
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

impl Plume {
    /// Draws a plume of `kind` (not `CloudBank`) for a sequence of `frames` frames. Every
    /// draw happens whatever the kind, so the kinds share every distribution.
    fn draw(
        rng: &mut Rand,
        kind: Kind,
        phys: &Physics,
        frames: usize,
        ground: (f64, f64),
        w: f64,
        h: f64,
    ) -> Plume {
        let base_x = rng.range(0.2, 0.8) * w;
        let base_y = rng.range(ground.0, ground.1);
        let h_start = rng.range(0.08, 0.16) * h;
        let rise = rng.range(phys.growth_min, phys.growth_max) * h;
        // A steady plume is as large as a growing one at a random moment of its sequence.
        let age = rng.range(0.0, frames.saturating_sub(1) as f64);
        let (h0, growth) = match kind {
            Kind::SteadyPlume => (h_start + rise * age, 0.0),
            _ => (h_start, rise),
        };
        let puff_amp = phys.puff * rng.range(0.3, 1.0) * h_start;
        let puff_period = rng.range(6.0, 12.0);
        let puff_phase = rng.range(0.0, TAU);
        let w_base = rng.range(0.05, 0.09) * w;
        let spread = rng.range(0.35, 0.7);
        let lean = rng.range(-0.4, 0.4);
        let phase = rng.range(0.0, TAU);
        let scale = 1.0 / (rng.range(0.06, 0.1) * h);
        let flow = rng.range(0.8, 1.6) * rise;
        // Where in the noise's time axis the sequence starts: a frame of any kind is a
        // slice at an arbitrary depth, so single frames have one texture distribution.
        let depth = rng.range(0.0, 64.0);
        let opacity = rng.range(0.6, 0.9);
        let colour = grey(rng, 185.0, 235.0);
        let noise = Noise::new(rng.u64());
        let mut plume = Plume {
            base_x,
            base_y,
            h0,
            growth,
            puff_amp,
            puff_period,
            puff_phase,
            w_base,
            spread,
            lean,
            phase,
            scale,
            flow,
            boil: if kind == Kind::SmoothPlume { 0.0 } else { 1.0 },
            coherent: kind == Kind::SmoothPlume,
            h_ref: h_start,
            opacity,
            colour,
            depth,
            noise,
        };
        plume.h_ref = plume.height(frames as f64 / 2.0, h);
        plume
    }

    fn height(&self, t: f64, h: f64) -> f64 {
        let puff = self.puff_amp * (TAU * t / self.puff_period + self.puff_phase).sin();
        (self.h0 + self.growth * t + puff).clamp(0.03 * h, (self.base_y - 0.03 * h).max(0.03 * h))
    }

    /// A rough horizontal extent (pixels) around the middle of the sequence, for placing an
    /// occluder.
    fn extent(&self, frames: usize, h: f64) -> (f64, f64, f64) {
        let height = self.height(frames as f64 / 2.0, h);
        let half = (self.w_base + self.spread * height) / 2.0;
        let mid = self.base_x + self.lean * height / 2.0;
        (mid - half, mid + half, height)
    }

    /// Blends frame `t` of the plume into `img`; returns its box corners in pixels.
    fn render(&self, img: &mut Rgb, t: usize) -> (f64, f64, f64, f64) {
        let (w, h) = (img.width, img.height);
        let tf = t as f64;
        let height = self.height(tf, h as f64);
        let top = self.base_y - height;
        let centre = |y: f64| {
            let u = (self.base_y - y) / height;
            self.base_x
                + self.lean * (self.base_y - y)
                + 0.03 * h as f64 * (u * 5.0 + tf * 0.6 + self.phase).sin()
        };
        let width = |y: f64| self.w_base + self.spread * (self.base_y - y);
        let (mut bx0, mut bx1) = (f64::MAX, f64::MIN);
        let ys = (top.max(0.0) as usize)..(self.base_y.ceil() as usize).min(h);
        for y in ys {
            let yf = y as f64 + 0.5;
            let (c, half) = (centre(yf), width(yf) / 2.0);
            bx0 = bx0.min(c - half);
            bx1 = bx1.max(c + half);
            let u = (self.base_y - yf) / height;
            let fade = 1.0 - u.powi(3);
            let xs = ((c - half).floor().max(0.0) as usize)
                ..((c + half).ceil().max(0.0) as usize).min(w);
            for x in xs {
                let xf = x as f64 + 0.5;
                let r = (xf - c).abs() / half;
                if r >= 1.0 {
                    continue;
                }
                // Turbulence is carried up with the flow and boils along the noise's third
                // axis; a coherent texture moves with the body.
                let (tx, ty) = if self.coherent {
                    (
                        xf - c + self.base_x,
                        self.base_y - (self.base_y - yf) * self.h_ref / height,
                    )
                } else {
                    (xf, yf + tf * self.flow)
                };
                let turb = self.noise.fbm(
                    tx * self.scale,
                    ty * self.scale,
                    self.depth + tf * self.boil,
                    4,
                    0.65,
                );
                let tex = ((turb - 0.4) * 6.0).clamp(0.0, 1.0);
                let alpha = self.opacity * (1.0 - r * r) * fade * tex;
                blend(
                    &mut img.data[(y * w + x) * 3..(y * w + x) * 3 + 3],
                    self.colour,
                    alpha,
                );
            }
        }
        (bx0, top, bx1, self.base_y)
    }
}

impl CloudBank {
    fn draw(rng: &mut Rand, horizon: f64, w: f64, h: f64) -> CloudBank {
        let low = rng.chance(0.5);
        let cy = if low {
            rng.range(horizon, 0.85 * h)
        } else {
            rng.range(0.12 * h, horizon)
        };
        let drifting = rng.chance(0.6);
        // Wider than tall; as tall as a plume at most.
        let a = rng.range(0.06, 0.2) * w;
        let b = rng.range(0.05 * h, a.min(0.2 * h));
        CloudBank {
            cx: rng.range(0.2, 0.8) * w,
            cy,
            a,
            b,
            vx: if drifting {
                rng.range(0.3, 1.2) * if rng.chance(0.5) { 1.0 } else { -1.0 }
            } else {
                0.0
            },
            scale: 1.0 / (rng.range(0.15, 0.3) * h),
            opacity: rng.range(0.45, 0.8),
            phase: rng.range(0.0, TAU),
            colour: grey(rng, 185.0, 240.0),
            noise: Noise::new(rng.u64()),
        }
    }

    fn render(&self, img: &mut Rgb, t: usize) -> (f64, f64, f64, f64) {
        let (w, h) = (img.width, img.height);
        let tf = t as f64;
        let cx = self.cx + self.vx * tf;
        let op = self.opacity * (1.0 + 0.08 * (tf * 0.3 + self.phase).sin());
        let ys = ((self.cy - self.b).max(0.0) as usize)
            ..((self.cy + self.b).ceil().max(0.0) as usize).min(h);
        for y in ys {
            let yf = y as f64 + 0.5;
            let xs =
                ((cx - self.a).max(0.0) as usize)..((cx + self.a).ceil().max(0.0) as usize).min(w);
            for x in xs {
                let xf = x as f64 + 0.5;
                // Texture in the bank's own frame: it moves rigidly.
                let (u, v) = (xf - cx, yf - self.cy);
                let n = self
                    .noise
                    .fbm(u * self.scale, v * self.scale, tf * 0.02, 2, 0.5);
                let edge = 0.8 + 0.4 * n;
                let r2 = ((u / self.a).powi(2) + (v / self.b).powi(2)) / edge;
                if r2 >= 1.0 {
                    continue;
                }
                let shape = (1.0 - r2).powf(0.7);
                let alpha = op * shape * (0.65 + 0.35 * n);
                blend(
                    &mut img.data[(y * w + x) * 3..(y * w + x) * 3 + 3],
                    self.colour,
                    alpha,
                );
            }
        }
        let (a, b) = (self.a * 0.9, self.b * 0.9);
        (cx - a, self.cy - b, cx + a, self.cy + b)
    }
}

impl Scene {
    pub fn new(
        rng: &mut Rand,
        kind: Kind,
        phys: &Physics,
        frames: usize,
        w: usize,
        h: usize,
    ) -> Self {
        let (background, horizon) = landscape(rng, w, h);
        let (wf, hf) = (w as f64, h as f64);
        let object = match kind {
            Kind::CloudBank => Object::Cloud(CloudBank::draw(rng, horizon, wf, hf)),
            _ => Object::Plume(Plume::draw(
                rng,
                kind,
                phys,
                frames,
                (horizon + 0.1 * hf, 0.9 * hf),
                wf,
                hf,
            )),
        };
        // The camera's share, drawn the same way whatever the kind.
        let haze = phys.haze * rng.f64();
        let haze_colour = grey(rng, 175.0, 215.0);
        let occluded = rng.chance(phys.occlusion);
        let (cover, reach, shade) = (
            rng.range(0.15, 0.35),
            rng.range(0.2, 0.7),
            rng.range(25.0, 60.0),
        );
        let slot = rng.f64();
        let occluder = occluded.then(|| {
            // The object's horizontal extent and the height of its middle.
            let (x0, x1, top, bottom) = match &object {
                Object::Plume(p) => {
                    let (x0, x1, height) = p.extent(frames, hf);
                    (x0, x1, p.base_y - height, p.base_y)
                }
                Object::Cloud(c) => (c.cx - c.a, c.cx + c.a, c.cy - c.b, c.cy + c.b),
            };
            let tw = (x1 - x0) * cover;
            let left = x0 + (x1 - x0 - tw) * slot;
            Occluder {
                x0: left,
                x1: left + tw,
                top: bottom - (bottom - top) * reach,
                colour: [shade * 0.8, shade, shade * 0.6],
            }
        });
        Scene {
            background,
            object,
            occluder,
            haze,
            haze_colour,
            sensor: Noise::new(rng.u64()),
        }
    }

    /// Frame `t` and the object's true box (normalised), if any of it is in the picture.
    pub fn frame(&self, t: usize) -> (Rgb, Option<BBox>) {
        let mut img = self.background.clone();
        let (w, h) = (img.width, img.height);
        let (x0, y0, x1, y1) = match &self.object {
            Object::Plume(p) => p.render(&mut img, t),
            Object::Cloud(c) => c.render(&mut img, t),
        };
        if let Some(o) = &self.occluder {
            let xs = (o.x0.max(0.0) as usize)..(o.x1.ceil().max(0.0) as usize).min(w);
            for y in (o.top.max(0.0) as usize)..h {
                for x in xs.clone() {
                    // Bark: static, darker at the edges of the trunk.
                    let u = ((x as f64 + 0.5 - o.x0) / (o.x1 - o.x0).max(1.0) - 0.5).abs();
                    let shade = 1.0 - 0.5 * u;
                    let px = &mut img.data[(y * w + x) * 3..(y * w + x) * 3 + 3];
                    blend(px, o.colour.map(|c| c * shade), 1.0);
                }
            }
        }
        let keep = 1.0 - self.haze;
        let veil = self.haze_colour.map(|c| c * self.haze);
        // Haze, then sensor noise (a few grey levels, new every frame).
        for (i, px) in img.data.chunks_mut(3).enumerate() {
            let n = (self.sensor.white((i % w) as i64, (i / w) as i64, t as i64) - 0.5) * 6.0;
            for (c, v) in px.iter_mut().zip(veil) {
                *c = to_u8(*c as f64 * keep + v + n);
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

#[cfg(test)]
mod tests {
    //! The kinds differ where the table above says they do, and nowhere else: measured on
    //! the true boxes and pixels of many small scenes at the default physics.
    use super::*;

    #[test]
    fn to_u8_rounds_and_clamps_like_round() {
        for i in -2000..30000 {
            for v in [i as f64 * 0.01, i as f64 * 0.01 + 0.005, i as f64 * 0.5] {
                assert_eq!(to_u8(v), v.round().clamp(0.0, 255.0) as u8, "{v}");
            }
        }
        assert_eq!(to_u8(f64::NAN), 0);
    }
    use crate::metrics::roc_auc;

    const PHYS: Physics = Physics {
        growth_min: 0.006,
        growth_max: 0.025,
        puff: 0.15,
        haze: 0.25,
        occlusion: 0.2,
    };
    const FRAMES: usize = 16;

    /// Per scene of `kind`: (box height growth over the sequence, mean absolute change of
    /// the pixels inside the box between neighbouring frames, mean brightness in the box of
    /// the first frame).
    fn measure(kind: Kind, n: usize) -> Vec<(f64, f64, f64)> {
        (0..n)
            .map(|i| {
                let mut rng = Rand::derive(11, &format!("{}/{i}", kind.name()));
                let scene = Scene::new(&mut rng, kind, &PHYS, FRAMES, 64, 48);
                let frames: Vec<(Rgb, Option<BBox>)> =
                    (0..FRAMES).map(|t| scene.frame(t)).collect();
                let box_h = |t: usize| frames[t].1.map_or(0.0, |b| b.h);
                let growth = box_h(FRAMES - 1) - box_h(0);
                // Pixels inside the first frame's box.
                let b = frames[0].1.expect("a visible object");
                let (w, h) = (64.0, 48.0);
                let xs = ((b.cx - b.w / 2.0) * w) as usize..((b.cx + b.w / 2.0) * w) as usize;
                let ys = ((b.cy - b.h / 2.0) * h) as usize..((b.cy + b.h / 2.0) * h) as usize;
                let px = |t: usize, x: usize, y: usize, c: usize| {
                    frames[t].0.data[(y * 64 + x) * 3 + c] as f64
                };
                let (mut diff, mut bright, mut count) = (0.0, 0.0, 0.0);
                for y in ys.clone() {
                    for x in xs.clone() {
                        for c in 0..3 {
                            bright += px(0, x, y, c);
                            for t in 1..4 {
                                diff += (px(t, x, y, c) - px(t - 1, x, y, c)).abs();
                            }
                        }
                        count += 3.0;
                    }
                }
                (growth, diff / (3.0 * count), bright / count)
            })
            .collect()
    }

    /// ROC AUC of `key` telling `a` (positive) from `b`.
    fn auc(a: &[(f64, f64, f64)], b: &[(f64, f64, f64)], key: fn(&(f64, f64, f64)) -> f64) -> f64 {
        let scores: Vec<f64> = a.iter().chain(b).map(key).collect();
        let labels: Vec<u8> = a.iter().map(|_| 1).chain(b.iter().map(|_| 0)).collect();
        roc_auc(&scores, &labels)
    }

    #[test]
    fn each_look_alike_differs_from_smoke_only_in_its_motion() {
        let n = 40;
        let smoke = measure(Kind::Smoke, n);
        let steady = measure(Kind::SteadyPlume, n);
        let smooth = measure(Kind::SmoothPlume, n);
        let growth = |m: &(f64, f64, f64)| m.0;
        let texture = |m: &(f64, f64, f64)| m.1;
        let brightness = |m: &(f64, f64, f64)| m.2;
        // The whole sequence tells smoke from a steady plume (it grows), not from a smooth one.
        let g_steady = auc(&smoke, &steady, growth);
        let g_smooth = auc(&smoke, &smooth, growth);
        assert!(
            g_steady > 0.85,
            "growth: smoke vs steady_plume AUC {g_steady}"
        );
        assert!(
            (0.3..0.7).contains(&g_smooth),
            "growth: smoke vs smooth_plume AUC {g_smooth}"
        );
        // A few frames' texture change tells smoke from a smooth plume, not from a steady one.
        let t_smooth = auc(&smoke, &smooth, texture);
        let t_steady = auc(&smoke, &steady, texture);
        assert!(
            t_smooth > 0.75,
            "texture change: smoke vs smooth_plume AUC {t_smooth}"
        );
        assert!(
            (0.25..0.75).contains(&t_steady),
            "texture change: smoke vs steady_plume AUC {t_steady}"
        );
        // One frame's brightness tells none of them apart.
        for (name, other) in [("steady_plume", &steady), ("smooth_plume", &smooth)] {
            let a = auc(&smoke, other, brightness);
            assert!(
                (0.3..0.7).contains(&a),
                "brightness: smoke vs {name} AUC {a}"
            );
        }
    }
}
