//! JPEG frames in and out: zune-jpeg decodes (SIMD, RGB out whatever the file's colour
//! space), jpeg-encoder writes. Frames are kept as packed RGB8 rows.

use std::path::Path;

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::error::StageError;

/// A packed RGB8 image.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Rgb {
    pub fn new(width: usize, height: usize) -> Self {
        Rgb {
            width,
            height,
            data: vec![0; width * height * 3],
        }
    }
}

fn options() -> DecoderOptions {
    DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB)
}

pub fn decode_bytes(bytes: &[u8], path: &Path) -> Result<Rgb, StageError> {
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(bytes), options());
    let data = dec
        .decode()
        .map_err(|e| StageError::data(path, format!("cannot decode JPEG: {e:?}")))?;
    let info = dec
        .info()
        .ok_or_else(|| StageError::data(path, "cannot decode JPEG: no header"))?;
    let (width, height) = (info.width as usize, info.height as usize);
    if data.len() != width * height * 3 {
        return Err(StageError::data(
            path,
            "cannot decode JPEG: unexpected colour layout",
        ));
    }
    Ok(Rgb {
        width,
        height,
        data,
    })
}

pub fn decode(path: &Path) -> Result<Rgb, StageError> {
    decode_bytes(&fs_err::read(path)?, path)
}

/// Width and height from the headers only.
pub fn dimensions(path: &Path) -> Result<(usize, usize), StageError> {
    let bytes = fs_err::read(path)?;
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(&bytes), options());
    dec.decode_headers()
        .map_err(|e| StageError::data(path, format!("cannot read JPEG header: {e:?}")))?;
    let info = dec
        .info()
        .ok_or_else(|| StageError::data(path, "cannot read JPEG header"))?;
    Ok((info.width as usize, info.height as usize))
}

pub fn encode(img: &Rgb, quality: u8) -> Result<Vec<u8>, StageError> {
    let (w, h) = (
        u16::try_from(img.width).map_err(|_| StageError::Invalid("frame too wide".into()))?,
        u16::try_from(img.height).map_err(|_| StageError::Invalid("frame too tall".into()))?,
    );
    let mut out = Vec::with_capacity(img.data.len() / 8);
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| StageError::Other(format!("JPEG encoding failed: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_is_close() {
        let mut img = Rgb::new(24, 16);
        for (i, px) in img.data.chunks_mut(3).enumerate() {
            let (x, y) = (i % 24, i / 24);
            px.copy_from_slice(&[(x * 10) as u8, (y * 15) as u8, 128]);
        }
        let bytes = encode(&img, 95).unwrap();
        let back = decode_bytes(&bytes, Path::new("mem.jpg")).unwrap();
        assert_eq!((back.width, back.height), (24, 16));
        let err: f64 = img
            .data
            .iter()
            .zip(&back.data)
            .map(|(a, b)| (*a as f64 - *b as f64).abs())
            .sum::<f64>()
            / img.data.len() as f64;
        assert!(err < 6.0, "mean abs error {err}");
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let err = decode_bytes(b"not a jpeg", Path::new("x/images/f.jpg")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x/images/f.jpg: cannot decode JPEG")
        );
    }
}
