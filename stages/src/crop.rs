//! The stabilised crop: one square window per tube, covering every box of the tube and
//! enlarged for context, cut out of each frame and resized to `patch_size`.
//!
//! One window for the whole tube (rather than one per frame) keeps the background still in
//! the patch stack, so whatever moves in it really moves: that is the signal the temporal
//! model reads. Geometry, in pixels:
//! - the union of the tube's boxes, centre `c`, side `max(w, h) * context`, at least
//!   `min_side` (tiny boxes would otherwise be blown up into mush);
//! - never larger than the image's shorter side, and shifted (not shrunk) to lie inside it.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use serde::{Deserialize, Serialize};

use std::path::Path;

use crate::error::StageError;
use crate::geometry::BBox;
use crate::raw::jpeg::{self, Rgb};
use crate::tubes::Entry;

/// A square window in pixels: top-left corner and side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub x: f64,
    pub y: f64,
    pub side: f64,
}

/// The window for a tube's boxes (normalised) in a `width` x `height` image.
pub fn stabilised_window(
    boxes: &[BBox],
    width: usize,
    height: usize,
    context: f64,
    min_side: f64,
) -> Window {
    let (wf, hf) = (width as f64, height as f64);
    let union = boxes
        .iter()
        .copied()
        .reduce(|a, b| a.union(&b))
        .unwrap_or(BBox::new(0.5, 0.5, 1.0, 1.0));
    let (cx, cy) = (union.cx * wf, union.cy * hf);
    let side = (union.w * wf).max(union.h * hf) * context;
    let side = side.max(min_side).min(wf.min(hf));
    let x = (cx - side / 2.0).clamp(0.0, wf - side);
    let y = (cy - side / 2.0).clamp(0.0, hf - side);
    Window { x, y, side }
}

/// Cuts `win` out of `img`, resizes it to `size` x `size` and writes it channel-planar
/// (`[3][size][size]`, the layout the model reads) into `out`.
pub fn crop_into(
    img: &Rgb,
    win: &Window,
    size: usize,
    resizer: &mut Resizer,
    scratch: &mut Vec<u8>,
    out: &mut [u8],
) -> Result<(), StageError> {
    let fail = |e: String| StageError::Other(format!("resizing a crop failed: {e}"));
    let src = ImageRef::new(
        img.width as u32,
        img.height as u32,
        &img.data,
        PixelType::U8x3,
    )
    .map_err(|e| fail(e.to_string()))?;
    scratch.resize(size * size * 3, 0);
    let mut dst = Image::from_slice_u8(size as u32, size as u32, scratch, PixelType::U8x3)
        .map_err(|e| fail(e.to_string()))?;
    let opts = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(win.x, win.y, win.side, win.side);
    resizer
        .resize(&src, &mut dst, &opts)
        .map_err(|e| fail(e.to_string()))?;
    let plane = size * size;
    for (i, px) in scratch.chunks_exact(3).enumerate() {
        out[i] = px[0];
        out[plane + i] = px[1];
        out[2 * plane + i] = px[2];
    }
    Ok(())
}

/// How `build_model_input` (and `predict`) cut a tube out of its frames.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CropParams {
    pub patch_size: usize,
    pub context: f64,
    /// Smallest window side, in pixels.
    pub min_window: f64,
}

/// The tube's patch stack, `[T][3][size][size]` u8 with `T` = the tube's length, read from
/// `images_dir`; and the window it was cut with.
pub fn tube_patches(
    images_dir: &Path,
    frames: &[String],
    tube: &[Entry],
    (width, height): (usize, usize),
    p: &CropParams,
) -> Result<(Vec<u8>, Window), StageError> {
    let boxes: Vec<BBox> = tube.iter().map(|e| e.bbox).collect();
    let win = stabilised_window(&boxes, width, height, p.context, p.min_window);
    let per = 3 * p.patch_size * p.patch_size;
    let mut out = vec![0u8; tube.len() * per];
    let (mut resizer, mut scratch) = (Resizer::new(), Vec::new());
    for (e, dst) in tube.iter().zip(out.chunks_exact_mut(per)) {
        let name = frames.get(e.frame).ok_or_else(|| {
            StageError::data(
                images_dir,
                format!("tube refers to frame {} of {}", e.frame, frames.len()),
            )
        })?;
        let path = images_dir.join(name);
        let img = jpeg::decode(&path)?;
        if (img.width, img.height) != (width, height) {
            return Err(StageError::data(
                &path,
                format!(
                    "frame is {}x{}, the sequence's first frame {width}x{height}",
                    img.width, img.height
                ),
            ));
        }
        crop_into(&img, &win, p.patch_size, &mut resizer, &mut scratch, dst)?;
    }
    Ok((out, win))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_centred_square_and_enlarged() {
        // A 20 x 10 px box centred at (80, 60) in a 160 x 120 image, context 1.5.
        let b = BBox::new(0.5, 0.5, 20.0 / 160.0, 10.0 / 120.0);
        let w = stabilised_window(&[b], 160, 120, 1.5, 0.0);
        assert!((w.side - 30.0).abs() < 1e-9);
        assert!((w.x - 65.0).abs() < 1e-9 && (w.y - 45.0).abs() < 1e-9);
    }

    #[test]
    fn window_covers_all_boxes_of_the_tube() {
        // Box moving from x = 40 to x = 80 px: the union spans 30..90 (boxes 20 px wide).
        let a = BBox::new(40.0 / 160.0, 0.5, 20.0 / 160.0, 20.0 / 120.0);
        let b = BBox::new(80.0 / 160.0, 0.5, 20.0 / 160.0, 20.0 / 120.0);
        let w = stabilised_window(&[a, b], 160, 120, 1.0, 0.0);
        assert!((w.side - 60.0).abs() < 1e-9);
        assert!((w.x - 30.0).abs() < 1e-9 && (w.y - 30.0).abs() < 1e-9);
    }

    #[test]
    fn window_is_shifted_inside_and_capped_by_the_image() {
        // Near the top-left corner: shifted to (0, 0), same size.
        let b = BBox::new(5.0 / 160.0, 5.0 / 120.0, 10.0 / 160.0, 10.0 / 120.0);
        let w = stabilised_window(&[b], 160, 120, 2.0, 0.0);
        assert_eq!((w.x, w.y, w.side), (0.0, 0.0, 20.0));
        // Larger than the image: capped to the shorter side and kept inside.
        let big = BBox::new(0.9, 0.5, 0.8, 0.9);
        let w = stabilised_window(&[big], 160, 120, 1.5, 0.0);
        assert_eq!(w.side, 120.0);
        assert_eq!(w.x, 40.0);
        assert_eq!(w.y, 0.0);
        // A minimum side applies to tiny boxes.
        let tiny = BBox::new(0.5, 0.5, 2.0 / 160.0, 2.0 / 120.0);
        assert_eq!(stabilised_window(&[tiny], 160, 120, 1.5, 32.0).side, 32.0);
    }

    #[test]
    fn crop_takes_pixels_from_the_window_and_writes_planes() {
        // Left half red, right half blue; a window inside the right half is all blue.
        let mut img = Rgb::new(40, 20);
        for (i, px) in img.data.chunks_mut(3).enumerate() {
            let blue = i % 40 >= 20;
            px.copy_from_slice(if blue { &[0, 0, 255] } else { &[255, 0, 0] });
        }
        let win = Window {
            x: 24.0,
            y: 2.0,
            side: 12.0,
        };
        let mut out = vec![0u8; 3 * 8 * 8];
        crop_into(
            &img,
            &win,
            8,
            &mut Resizer::new(),
            &mut Vec::new(),
            &mut out,
        )
        .unwrap();
        assert!(out[..64].iter().all(|&r| r == 0), "red plane empty");
        assert!(out[128..].iter().all(|&b| b == 255), "blue plane full");
        let win = Window {
            x: 0.0,
            y: 0.0,
            side: 12.0,
        };
        crop_into(
            &img,
            &win,
            8,
            &mut Resizer::new(),
            &mut Vec::new(),
            &mut out,
        )
        .unwrap();
        assert!(out[..64].iter().all(|&r| r == 255));
    }
}
