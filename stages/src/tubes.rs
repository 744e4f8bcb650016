//! Linking per-frame detections into tubes, and choosing the one tube a sequence keeps.
//!
//! 1. Link: walk the frames in order; each live tube is matched to at most one of the
//!    frame's boxes by greedy IoU (highest-IoU pair first, pairs below `iou_threshold`
//!    never). A box left over starts a tube; a tube left over records a miss and dies after
//!    more than `max_misses` misses in a row (its trailing misses are dropped).
//! 2. Merge: a fragment that ends and another that starts at most `merge_max_gap` frames
//!    later, in the same place (IoMin of the last and first boxes >= `merge_iomin`), are one
//!    tube with a gap; closest pairs first, until nothing merges. Detectors lose a plume for
//!    a few frames when it thins out; this puts it back together.
//! 3. Filter: at least `min_tube_length` frames and `min_detected_entries` real boxes.
//! 4. Keep the longest (then the one with more detections, then the earliest).
//! 5. Interpolate each missed frame linearly between the detections around it.

use serde::{Deserialize, Serialize};

use crate::geometry::BBox;
use crate::raw::labels::Detection;

#[derive(Debug, Clone, Serialize)]
pub struct TubeParams {
    pub iou_threshold: f64,
    pub max_misses: usize,
    pub min_tube_length: usize,
    pub min_detected_entries: usize,
    pub merge_iomin: f64,
    pub merge_max_gap: usize,
}

/// One frame of a tube: a detected box, or (after interpolation) a filled-in one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub frame: usize,
    pub bbox: BBox,
    pub detected: bool,
    /// The detector's confidence; 0 for an interpolated entry.
    pub confidence: f64,
}

/// A tube under construction: one slot per frame from `start`.
#[derive(Debug, Clone)]
struct Track {
    start: usize,
    slots: Vec<Option<Detection>>,
    misses: usize,
}

impl Track {
    fn end(&self) -> usize {
        self.start + self.slots.len() - 1
    }
    fn last_box(&self) -> BBox {
        self.slots
            .iter()
            .rev()
            .flatten()
            .map(|d| d.bbox)
            .next()
            .unwrap_or(BBox::new(0.0, 0.0, 0.0, 0.0))
    }
    fn first_box(&self) -> BBox {
        self.slots
            .iter()
            .flatten()
            .map(|d| d.bbox)
            .next()
            .unwrap_or(BBox::new(0.0, 0.0, 0.0, 0.0))
    }
    fn detections(&self) -> usize {
        self.slots.iter().flatten().count()
    }
    fn close(mut self) -> Track {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        self
    }
}

/// Step 1: every fragment, in order of start frame.
fn link(frames: &[Vec<Detection>], p: &TubeParams) -> Vec<Track> {
    let mut live: Vec<Track> = Vec::new();
    let mut done: Vec<Track> = Vec::new();
    for (t, dets) in frames.iter().enumerate() {
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for (i, track) in live.iter().enumerate() {
            let last = track.last_box();
            for (j, d) in dets.iter().enumerate() {
                let iou = last.iou(&d.bbox);
                if iou >= p.iou_threshold && iou > 0.0 {
                    pairs.push((iou, i, j));
                }
            }
        }
        // Highest IoU first; ties by index, so the result never depends on sort stability.
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut track_taken = vec![false; live.len()];
        let mut det_taken = vec![false; dets.len()];
        for (_, i, j) in pairs {
            if !track_taken[i] && !det_taken[j] {
                track_taken[i] = true;
                det_taken[j] = true;
                live[i].slots.push(Some(dets[j]));
                live[i].misses = 0;
            }
        }
        let mut still = Vec::with_capacity(live.len());
        for (track, taken) in live.into_iter().zip(track_taken) {
            let mut track = track;
            if !taken {
                track.slots.push(None);
                track.misses += 1;
            }
            if track.misses > p.max_misses {
                done.push(track.close());
            } else {
                still.push(track);
            }
        }
        live = still;
        for (j, d) in dets.iter().enumerate() {
            if !det_taken[j] {
                live.push(Track {
                    start: t,
                    slots: vec![Some(*d)],
                    misses: 0,
                });
            }
        }
    }
    done.extend(live.into_iter().map(Track::close));
    done.sort_by_key(|t| (t.start, t.end()));
    done
}

/// Step 2: joins co-located fragments separated by short gaps.
fn merge(mut tracks: Vec<Track>, p: &TubeParams) -> Vec<Track> {
    loop {
        let mut best: Option<(usize, f64, usize, usize)> = None;
        for (a, ta) in tracks.iter().enumerate() {
            for (b, tb) in tracks.iter().enumerate() {
                if tb.start <= ta.end() {
                    continue;
                }
                let gap = tb.start - ta.end() - 1;
                let iomin = ta.last_box().iomin(&tb.first_box());
                if gap > p.merge_max_gap || iomin < p.merge_iomin || iomin <= 0.0 {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((g, io, _, _)) => gap < g || (gap == g && iomin > io),
                };
                if better {
                    best = Some((gap, iomin, a, b));
                }
            }
        }
        let Some((gap, _, a, b)) = best else {
            return tracks;
        };
        let tail = tracks[b].clone();
        let head = &mut tracks[a];
        head.slots.extend(std::iter::repeat_n(None, gap));
        head.slots.extend(tail.slots);
        tracks.remove(b);
    }
}

/// Step 5: the tube's entries with every miss filled in.
fn interpolate(track: &Track) -> Vec<Entry> {
    let known: Vec<(usize, Detection)> = track
        .slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|d| (i, d)))
        .collect();
    let mut out = Vec::with_capacity(track.slots.len());
    for (i, slot) in track.slots.iter().enumerate() {
        let frame = track.start + i;
        match slot {
            Some(d) => out.push(Entry {
                frame,
                bbox: d.bbox,
                detected: true,
                confidence: d.confidence,
            }),
            None => {
                // A closed track starts and ends with a detection, so both neighbours exist.
                let prev = known.iter().rev().find(|(k, _)| *k < i);
                let next = known.iter().find(|(k, _)| *k > i);
                let bbox = match (prev, next) {
                    (Some((a, da)), Some((b, db))) => {
                        da.bbox.lerp(&db.bbox, (i - a) as f64 / (b - a) as f64)
                    }
                    (Some((_, d)), None) | (None, Some((_, d))) => d.bbox,
                    (None, None) => continue,
                };
                out.push(Entry {
                    frame,
                    bbox,
                    detected: false,
                    confidence: 0.0,
                });
            }
        }
    }
    out
}

/// All tubes that pass the filters (steps 1-3), interpolated, longest first.
pub fn tubes(frames: &[Vec<Detection>], p: &TubeParams) -> Vec<Vec<Entry>> {
    let mut kept: Vec<Track> = merge(link(frames, p), p)
        .into_iter()
        .filter(|t| t.slots.len() >= p.min_tube_length && t.detections() >= p.min_detected_entries)
        .collect();
    kept.sort_by(|a, b| {
        b.slots
            .len()
            .cmp(&a.slots.len())
            .then(b.detections().cmp(&a.detections()))
            .then(a.start.cmp(&b.start))
    });
    kept.iter().map(interpolate).collect()
}

/// The one tube a sequence keeps (step 4), if any passes the filters.
pub fn best_tube(frames: &[Vec<Detection>], p: &TubeParams) -> Option<Vec<Entry>> {
    tubes(frames, p).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> TubeParams {
        TubeParams {
            iou_threshold: 0.2,
            max_misses: 2,
            min_tube_length: 4,
            min_detected_entries: 2,
            merge_iomin: 0.3,
            merge_max_gap: 10,
        }
    }

    fn det(cx: f64, cy: f64, s: f64) -> Detection {
        Detection {
            class_id: 0,
            bbox: BBox::new(cx, cy, s, s),
            confidence: 1.0,
        }
    }

    /// One box per frame moving right by `dx`, or none where `present` is false.
    fn track(n: usize, x0: f64, dx: f64, present: impl Fn(usize) -> bool) -> Vec<Vec<Detection>> {
        (0..n)
            .map(|t| {
                if present(t) {
                    vec![det(x0 + dx * t as f64, 0.5, 0.2)]
                } else {
                    vec![]
                }
            })
            .collect()
    }

    #[test]
    fn a_miss_is_bridged_and_interpolated() {
        let frames = track(8, 0.3, 0.02, |t| t != 3);
        let tube = best_tube(&frames, &params()).unwrap();
        assert_eq!(tube.len(), 8);
        assert_eq!(tube.iter().filter(|e| e.detected).count(), 7);
        let e = tube[3];
        assert!(!e.detected);
        assert_eq!(e.frame, 3);
        assert!((e.bbox.cx - 0.36).abs() < 1e-12, "{}", e.bbox.cx);
        assert_eq!(e.confidence, 0.0);
    }

    #[test]
    fn the_longest_tube_wins_and_short_ones_are_dropped() {
        // Object A in frames 0..10, object B (far away) in frames 2..5 only.
        let mut frames = track(10, 0.2, 0.0, |_| true);
        for (t, f) in frames.iter_mut().enumerate() {
            if (2..5).contains(&t) {
                f.push(det(0.8, 0.8, 0.1));
            }
        }
        let all = tubes(&frames, &params());
        assert_eq!(all.len(), 1, "B is 3 frames < min_tube_length 4");
        assert_eq!(all[0].len(), 10);
        assert!((all[0][0].bbox.cx - 0.2).abs() < 1e-12);
        let mut p = params();
        p.min_tube_length = 3;
        let all = tubes(&frames, &p);
        assert_eq!(all.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 3]);
    }

    #[test]
    fn fragments_merge_only_when_close_in_time_and_place() {
        // Present in 0..4 and 8..14: a 4-frame gap, more than max_misses = 2.
        let frames = track(14, 0.5, 0.0, |t| !(4..8).contains(&t));
        let tube = best_tube(&frames, &params()).unwrap();
        assert_eq!((tube[0].frame, tube.len()), (0, 14));
        assert_eq!(tube.iter().filter(|e| !e.detected).count(), 4);
        let mut p = params();
        p.merge_max_gap = 3;
        let tube = best_tube(&frames, &p).unwrap();
        assert_eq!(
            (tube[0].frame, tube.len()),
            (8, 6),
            "unmerged: the later, longer fragment"
        );
        // Same timing, but the second fragment is elsewhere: no merge.
        let mut frames2 = frames.clone();
        for f in frames2.iter_mut().skip(8) {
            f[0].bbox.cx = 0.1;
        }
        let tube = best_tube(&frames2, &params()).unwrap();
        assert_eq!(tube.len(), 6);
    }

    #[test]
    fn too_few_detections_means_no_tube() {
        // Detections at 0 and 3 only: a 4-frame tube with 2 detections.
        let frames = track(6, 0.5, 0.0, |t| t == 0 || t == 3);
        assert_eq!(best_tube(&frames, &params()).map(|t| t.len()), Some(4));
        let mut p = params();
        p.min_detected_entries = 3;
        assert!(best_tube(&frames, &p).is_none());
        assert!(best_tube(&[vec![], vec![]], &params()).is_none());
    }

    #[test]
    fn greedy_matching_takes_the_best_overlap_first() {
        // Two tracks side by side; in frame 2 both boxes shift so that the left box of frame
        // 2 overlaps both tracks, but the right track's last box better.
        let frames = vec![
            vec![det(0.40, 0.5, 0.2), det(0.55, 0.5, 0.2)],
            vec![det(0.40, 0.5, 0.2), det(0.55, 0.5, 0.2)],
            vec![det(0.50, 0.5, 0.2)],
            vec![det(0.50, 0.5, 0.2)],
        ];
        let mut p = params();
        p.min_tube_length = 1;
        p.min_detected_entries = 1;
        p.merge_max_gap = 0;
        let all = tubes(&frames, &p);
        // The box at 0.50 (IoU 0.6 with 0.55, 0.33 with 0.40) continues the right track.
        assert_eq!(all[0].len(), 4);
        assert!((all[0][0].bbox.cx - 0.55).abs() < 1e-12);
        assert_eq!(all[1].len(), 2);
        assert!((all[1][0].bbox.cx - 0.40).abs() < 1e-12);
    }

    #[test]
    fn low_iou_starts_a_new_tube() {
        // Jumps by more than the box size every frame: nothing links.
        let frames = track(6, 0.1, 0.15, |_| true);
        let mut p = params();
        p.min_tube_length = 1;
        p.min_detected_entries = 1;
        p.merge_iomin = 1.1;
        assert_eq!(tubes(&frames, &p).len(), 6);
    }
}
