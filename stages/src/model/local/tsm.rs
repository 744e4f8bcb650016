//! `tsm`: a Temporal Shift Module network (Lin et al. 2019): a 2-D CNN applied to every frame,
//! whose residual blocks first shift an eighth of the channels one frame forward in time and
//! an eighth one frame back (zeros at the window's ends), so that 2-D convolutions mix
//! neighbouring frames at no extra cost. A stride-2 stem (GroupNorm, GELU) to
//! `tube_channels` maps at half the cell's resolution, `tube_layers` shift blocks (two 3x3
//! convolutions each, GroupNorm, residual), spatial mean per frame, mean over the real
//! frames, and a projection to `dim`. Padded frames are zeroed after the stem and after
//! every block, so nothing flows out of them through the shift.

use tch::{Kind, Tensor, nn};

use super::super::config::ModelConfig;
use super::super::layers::{Conv, GroupNorm, Linear, Precision};
use super::{group_norm, masked_time_mean};

struct ShiftBlock {
    conv1: Conv,
    norm1: GroupNorm,
    conv2: Conv,
    norm2: GroupNorm,
}

pub struct Tsm {
    stem: Conv,
    stem_norm: GroupNorm,
    blocks: Vec<ShiftBlock>,
    proj: Linear,
    channels: i64,
}

/// Shifts `x` `[N, W, C, H, Wd]` along time: channels `0..C/8` come from the previous
/// frame, `C/8..C/4` from the next one, the rest stay.
pub fn temporal_shift(x: &Tensor) -> Tensor {
    let s = x.size();
    let (w, c) = (s[1], s[2]);
    let fold = (c / 8).max(1);
    if w < 2 || 2 * fold > c {
        return x.shallow_clone();
    }
    let pad = |t: &Tensor| t.narrow(1, 0, 1).zeros_like();
    let fwd = x.narrow(2, 0, fold);
    let fwd = Tensor::cat(&[pad(&fwd), fwd.narrow(1, 0, w - 1)], 1);
    let back = x.narrow(2, fold, fold);
    let back = Tensor::cat(&[back.narrow(1, 1, w - 1), pad(&back)], 1);
    Tensor::cat(&[fwd, back, x.narrow(2, 2 * fold, c - 2 * fold)], 2)
}

impl Tsm {
    pub fn new(p: &nn::Path, c: &ModelConfig) -> Self {
        let ch = c.tube_channels as i64;
        Tsm {
            stem: Conv::new(p / "stem", 3, ch, &[3, 3], &[2, 2], &[1, 1]),
            stem_norm: group_norm(p / "stem_norm", ch),
            blocks: (0..c.tube_layers)
                .map(|l| {
                    let b = p / format!("block{l}");
                    ShiftBlock {
                        conv1: Conv::new(&b / "conv1", ch, ch, &[3, 3], &[1, 1], &[1, 1]),
                        norm1: group_norm(&b / "norm1", ch),
                        conv2: Conv::new(&b / "conv2", ch, ch, &[3, 3], &[1, 1], &[1, 1]),
                        norm2: group_norm(&b / "norm2", ch),
                    }
                })
                .collect(),
            proj: Linear::new(p / "proj", ch, c.dim as i64),
            channels: ch,
        }
    }

    pub fn forward(&self, tubes: &Tensor, frames: Option<&Tensor>, prec: Precision) -> Tensor {
        let s = tubes.size();
        let (n, w, cell) = (s[0], s[2], s[3]);
        let ch = self.channels;
        let keep = frames.map(|f| f.to_kind(Kind::Float).view([n, w, 1, 1, 1]));
        let zero_padded = |x: Tensor| match &keep {
            Some(k) => x * k,
            None => x,
        };
        let h = self.stem_norm.forward(
            &self
                .stem
                .forward(&tubes.transpose(1, 2).reshape([n * w, 3, cell, cell]), prec),
        );
        let (hh, ww) = (h.size()[2], h.size()[3]);
        let mut h = zero_padded(h.gelu("none").view([n, w, ch, hh, ww]));
        for b in &self.blocks {
            let y = temporal_shift(&h).reshape([n * w, ch, hh, ww]);
            let y = b.norm1.forward(&b.conv1.forward(&y, prec)).gelu("none");
            let y = b.norm2.forward(&b.conv2.forward(&y, prec));
            h = zero_padded((h + y.view([n, w, ch, hh, ww])).gelu("none"));
        }
        let per_frame = h.mean_dim([3i64, 4].as_slice(), false, Kind::Float);
        self.proj
            .forward(&masked_time_mean(&per_frame, frames), prec)
    }
}
