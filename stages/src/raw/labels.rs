//! YOLO label files: one candidate box per line, `class_id cx cy w h [confidence]`,
//! coordinates normalised to the image. An empty or missing file means "no detection in
//! this frame". Parsing is strict: a bad line is an error naming the file and line, since a
//! silently dropped box changes the tubes and so everything downstream.

use std::path::Path;

use crate::error::StageError;
use crate::geometry::BBox;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub class_id: u32,
    pub bbox: BBox,
    pub confidence: f64,
}

/// Parses a label file's text; `path` is for messages only.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Detection>, StageError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() != 5 && cols.len() != 6 {
            return Err(StageError::data_at(
                path,
                line_no,
                format!(
                    "expected 5 or 6 columns (class_id cx cy w h [confidence]), found {}",
                    cols.len()
                ),
            ));
        }
        let class_id: u32 = cols[0].parse().map_err(|_| {
            StageError::data_at(
                path,
                line_no,
                format!(
                    "class_id must be a non-negative integer, found {:?}",
                    cols[0]
                ),
            )
        })?;
        let mut nums = [0.0f64; 5];
        for (slot, (name, text)) in nums.iter_mut().zip(
            ["cx", "cy", "w", "h", "confidence"]
                .iter()
                .zip(cols[1..].iter()),
        ) {
            let v: f64 = text.parse().map_err(|_| {
                StageError::data_at(path, line_no, format!("{name} is not a number: {text:?}"))
            })?;
            if !(0.0..=1.0).contains(&v) {
                return Err(StageError::data_at(
                    path,
                    line_no,
                    format!("{name} = {v} is outside [0, 1] (coordinates are normalised)"),
                ));
            }
            *slot = v;
        }
        let confidence = if cols.len() == 6 { nums[4] } else { 1.0 };
        if nums[2] <= 0.0 || nums[3] <= 0.0 {
            return Err(StageError::data_at(
                path,
                line_no,
                "box width and height must be greater than 0",
            ));
        }
        out.push(Detection {
            class_id,
            bbox: BBox::new(nums[0], nums[1], nums[2], nums[3]),
            confidence,
        });
    }
    Ok(out)
}

/// Reads a frame's label file; `None` (no file) is a frame without detections.
pub fn read(path: Option<&Path>) -> Result<Vec<Detection>, StageError> {
    match path {
        None => Ok(Vec::new()),
        Some(p) => parse(&fs_err::read_to_string(p)?, p),
    }
}

/// The label file text for `dets`, 6 columns where a confidence is not 1.
pub fn format(dets: &[Detection]) -> String {
    let mut s = String::new();
    for d in dets {
        let b = d.bbox;
        s.push_str(&format!(
            "{} {:.6} {:.6} {:.6} {:.6}",
            d.class_id, b.cx, b.cy, b.w, b.h
        ));
        if d.confidence < 1.0 {
            s.push_str(&format!(" {:.4}", d.confidence));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("labels/frame_000003.txt")
    }

    #[test]
    fn five_and_six_columns_parse_and_blank_lines_are_skipped() {
        let d = parse("0 0.5 0.5 0.2 0.1\n\n1 0.1 0.2 0.05 0.05 0.75\n", p()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].confidence, 1.0);
        assert_eq!(d[1].class_id, 1);
        assert_eq!(d[1].confidence, 0.75);
        assert_eq!(d[1].bbox, BBox::new(0.1, 0.2, 0.05, 0.05));
        assert!(parse("", p()).unwrap().is_empty());
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = parse("0 0.5 0.5 0.2 0.1\n0 0.5 0.5 0.2\n", p()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "labels/frame_000003.txt:2: expected 5 or 6 columns (class_id cx cy w h [confidence]), found 4"
        );
        let err = parse("0 1.5 0.5 0.2 0.1\n", p()).unwrap_err().to_string();
        assert!(
            err.starts_with("labels/frame_000003.txt:1: cx = 1.5 is outside [0, 1]"),
            "{err}"
        );
        let err = parse("x 0.5 0.5 0.2 0.1\n", p()).unwrap_err().to_string();
        assert!(err.contains(":1: class_id"), "{err}");
        let err = parse("0 0.5 0.5 nan 0.1\n", p()).unwrap_err().to_string();
        assert!(err.contains("w = NaN") || err.contains("outside"), "{err}");
        assert!(parse("0 0.5 0.5 0 0.1\n", p()).is_err());
    }

    #[test]
    fn format_round_trips() {
        let dets = vec![
            Detection {
                class_id: 0,
                bbox: BBox::new(0.25, 0.5, 0.125, 0.0625),
                confidence: 1.0,
            },
            Detection {
                class_id: 2,
                bbox: BBox::new(0.75, 0.5, 0.5, 0.25),
                confidence: 0.5,
            },
        ];
        let text = format(&dets);
        assert_eq!(text.lines().next().map(|l| l.split(' ').count()), Some(5));
        assert_eq!(parse(&text, p()).unwrap(), dets);
    }
}
