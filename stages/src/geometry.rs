//! Boxes in normalised image coordinates (YOLO's `cx cy w h`, each in [0, 1]) and the
//! overlap measures that tube linking and fragment merging use.

use serde::{Deserialize, Serialize};

/// A box as YOLO writes it: centre and size, normalised to the image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub cx: f64,
    pub cy: f64,
    pub w: f64,
    pub h: f64,
}

impl BBox {
    pub fn new(cx: f64, cy: f64, w: f64, h: f64) -> Self {
        BBox { cx, cy, w, h }
    }

    /// `(x0, y0, x1, y1)`.
    pub fn corners(&self) -> (f64, f64, f64, f64) {
        (
            self.cx - self.w / 2.0,
            self.cy - self.h / 2.0,
            self.cx + self.w / 2.0,
            self.cy + self.h / 2.0,
        )
    }

    pub fn from_corners(x0: f64, y0: f64, x1: f64, y1: f64) -> Self {
        BBox {
            cx: (x0 + x1) / 2.0,
            cy: (y0 + y1) / 2.0,
            w: x1 - x0,
            h: y1 - y0,
        }
    }

    pub fn area(&self) -> f64 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    pub fn intersection(&self, other: &BBox) -> f64 {
        let (ax0, ay0, ax1, ay1) = self.corners();
        let (bx0, by0, bx1, by1) = other.corners();
        let w = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
        let h = (ay1.min(by1) - ay0.max(by0)).max(0.0);
        w * h
    }

    /// Intersection over union; 0 for two empty boxes.
    pub fn iou(&self, other: &BBox) -> f64 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// Intersection over the smaller box's area: 1 when one box holds the other, which is
    /// what "the same place" means for fragments of a plume that grew in between.
    pub fn iomin(&self, other: &BBox) -> f64 {
        let min = self.area().min(other.area());
        if min <= 0.0 {
            0.0
        } else {
            self.intersection(other) / min
        }
    }

    /// The box a fraction `t` of the way from `self` to `other`.
    pub fn lerp(&self, other: &BBox, t: f64) -> BBox {
        let mix = |a: f64, b: f64| a + (b - a) * t;
        BBox {
            cx: mix(self.cx, other.cx),
            cy: mix(self.cy, other.cy),
            w: mix(self.w, other.w),
            h: mix(self.h, other.h),
        }
    }

    /// The smallest box holding both.
    pub fn union(&self, other: &BBox) -> BBox {
        let (ax0, ay0, ax1, ay1) = self.corners();
        let (bx0, by0, bx1, by1) = other.corners();
        BBox::from_corners(ax0.min(bx0), ay0.min(by0), ax1.max(bx1), ay1.max(by1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_measures_match_hand_computed_values() {
        // Two 0.2 x 0.2 boxes offset by 0.1 in x: intersection 0.1 * 0.2 = 0.02.
        let a = BBox::new(0.5, 0.5, 0.2, 0.2);
        let b = BBox::new(0.6, 0.5, 0.2, 0.2);
        assert!((a.intersection(&b) - 0.02).abs() < 1e-12);
        assert!((a.iou(&b) - 0.02 / 0.06).abs() < 1e-12);
        assert!((a.iomin(&b) - 0.5).abs() < 1e-12);
        let inner = BBox::new(0.5, 0.5, 0.1, 0.1);
        assert!((a.iomin(&inner) - 1.0).abs() < 1e-12);
        assert!((a.iou(&inner) - 0.25).abs() < 1e-12);
        let far = BBox::new(0.1, 0.1, 0.05, 0.05);
        assert_eq!(a.iou(&far), 0.0);
    }

    #[test]
    fn lerp_and_union() {
        let a = BBox::new(0.2, 0.2, 0.1, 0.1);
        let b = BBox::new(0.4, 0.6, 0.3, 0.1);
        let m = a.lerp(&b, 0.5);
        assert!((m.cx - 0.3).abs() < 1e-12 && (m.cy - 0.4).abs() < 1e-12);
        assert!((m.w - 0.2).abs() < 1e-12 && (m.h - 0.1).abs() < 1e-12);
        let u = a.union(&b);
        let (x0, y0, x1, y1) = u.corners();
        assert!((x0 - 0.15).abs() < 1e-12 && (y0 - 0.15).abs() < 1e-12);
        assert!((x1 - 0.55).abs() < 1e-12 && (y1 - 0.65).abs() < 1e-12);
    }
}
