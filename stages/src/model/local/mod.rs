//! The local branch: the patch is cut into a `grid x grid` of cells and the frames into
//! windows of `window` frames every `stride`; each (cell, window) is a tube of
//! `[3, window, cell, cell]` pixels. A tube encoder (`model.tube_encoder`) embeds each tube
//! into one `dim` vector; tube vectors then get a cell embedding and a window embedding so
//! fusion knows where and when each one is.
//!
//! The study's five tube encoders, one module each, all `[N, 3, W, c, c]` -> `[N, dim]`:
//!
//! | `tube_encoder`        | what                                                         | sized by |
//! | --------------------- | ------------------------------------------------------------ | -------- |
//! | `tubelet_transformer` | 3-D patch tokens, one transformer over space and time         | `dim`, `heads`, `tube_layers`, `tubelet_*` |
//! | `vivit`               | the same tokens; a spatial transformer per time slot, then a temporal one over the slots (factorised) | `dim`, `heads`, `tube_layers`, `tubelet_*` |
//! | `r3d`                 | a 3-D ResNet-18 layout (stem + 4 x 2 basic blocks), optionally initialised from a file (`tube_pretrained`) | `tube_channels` |
//! | `conv_lstm`           | a convolutional LSTM over the window's frames                  | `tube_channels`, `tube_layers` |
//! | `tsm`                 | a 2-D CNN whose residual blocks shift channels between frames  | `tube_channels`, `tube_layers` |
//!
//! Masking. Tube `k` of a sequence of length `L` is real when its window lies inside the
//! sequence (`k * stride + window <= L`); the first window always counts, so a sequence
//! shorter than one window still has one tube, partly padded. Given the real frames of each
//! tube (`frames`, `[N, W]` bool; `None` when every frame is real), [`TubeNet::forward`]
//! zeroes the padded ones, so their content can never matter, and each encoder leaves them
//! out of what it pools over time: token encoders mask their time slots as attention keys,
//! conv_lstm holds its state over them, tsm zeroes them after every block and leaves them
//! out of its mean, r3d leaves the time steps they alone fill out of its final pooling.

pub mod conv_lstm;
pub mod pretrained;
pub mod r3d;
pub mod tsm;
pub mod tubelet;
pub mod vivit;

use std::path::Path;

use tch::{Kind, Tensor, nn};

use super::config::ModelConfig;
use super::layers::{GroupNorm, Precision, embedding};
use crate::error::StageError;

/// The tube encoder `model.tube_encoder` names.
pub enum TubeNet {
    Tubelet(tubelet::Tubelet),
    Vivit(vivit::Vivit),
    R3d(r3d::R3d),
    ConvLstm(conv_lstm::ConvLstm),
    Tsm(tsm::Tsm),
}

impl TubeNet {
    /// Builds the encoder's variables under `p`; `base_dir` resolves `tube_pretrained`.
    pub fn new(p: &nn::Path, c: &ModelConfig, base_dir: &Path) -> Result<Self, StageError> {
        Ok(match c.tube_encoder.as_str() {
            "vivit" => TubeNet::Vivit(vivit::Vivit::new(p, c)),
            "r3d" => TubeNet::R3d(r3d::R3d::new(p, c, base_dir)?),
            "conv_lstm" => TubeNet::ConvLstm(conv_lstm::ConvLstm::new(p, c)),
            "tsm" => TubeNet::Tsm(tsm::Tsm::new(p, c)),
            _ => TubeNet::Tubelet(tubelet::Tubelet::new(p, c)),
        })
    }

    /// `tubes` `[N, 3, W, c, c]` normalised pixels, `frames` the real frames of each tube
    /// (see the module header) -> `[N, dim]` f32.
    pub fn forward(
        &self,
        tubes: &Tensor,
        frames: Option<&Tensor>,
        prec: Precision,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        // Padded frames are zero whatever they held, then each encoder leaves them out.
        let zeroed;
        let tubes = match frames {
            Some(f) => {
                let s = f.size();
                zeroed = tubes * f.to_kind(Kind::Float).view([s[0], 1, s[1], 1, 1]);
                &zeroed
            }
            None => tubes,
        };
        match self {
            TubeNet::Tubelet(n) => n.forward(tubes, frames, prec, dropout, train),
            TubeNet::Vivit(n) => n.forward(tubes, frames, prec, dropout, train),
            TubeNet::R3d(n) => n.forward(tubes, frames, prec),
            TubeNet::ConvLstm(n) => n.forward(tubes, frames, prec),
            TubeNet::Tsm(n) => n.forward(tubes, frames, prec),
        }
    }
}

/// Groups for a GroupNorm over `c` channels: about 8 channels a group, at most 32 groups,
/// and always a divisor of `c`.
pub fn norm_groups(c: i64) -> i64 {
    let target = (c / 8).clamp(1, 32);
    (1..=target).rev().find(|g| c % g == 0).unwrap_or(1)
}

pub fn group_norm(p: nn::Path, c: i64) -> GroupNorm {
    GroupNorm::new(p, norm_groups(c), c)
}

/// The mean of `x` `[N, T, C]` over the real steps of `mask` `[N, T]` (all when `None`).
pub fn masked_time_mean(x: &Tensor, mask: Option<&Tensor>) -> Tensor {
    match mask {
        None => x.mean_dim([1i64].as_slice(), false, Kind::Float),
        Some(m) => {
            let m = m.to_kind(Kind::Float).unsqueeze(-1);
            let count = m
                .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
                .clamp_min(1.0);
            (x * &m).sum_dim_intlist([1i64].as_slice(), false, Kind::Float) / count
        }
    }
}

pub struct LocalBranch {
    net: TubeNet,
    cell_pos: Tensor,
    window_pos: Tensor,
    grid: i64,
    window: i64,
    stride: i64,
    windows: i64,
}

impl LocalBranch {
    pub fn new(p: nn::Path, c: &ModelConfig, base_dir: &Path) -> Result<Self, StageError> {
        let d = c.dim as i64;
        let cells = (c.grid * c.grid) as i64;
        Ok(LocalBranch {
            net: TubeNet::new(&p, c, base_dir)?,
            cell_pos: embedding(&p, "cell_pos", &[cells, 1, d]),
            window_pos: embedding(&p, "window_pos", &[1, c.windows() as i64, d]),
            grid: c.grid as i64,
            window: c.window as i64,
            stride: c.stride as i64,
            windows: c.windows() as i64,
        })
    }

    /// `x`: `[B, T, 3, P, P]` normalised frames (padded ones zero) -> tube vectors
    /// `[B, tubes, dim]` and the tube mask `[B, tubes]` (true = real), tubes ordered
    /// cell-major.
    pub fn forward(
        &self,
        x: &Tensor,
        lengths: &Tensor,
        prec: Precision,
        dropout: f64,
        train: bool,
    ) -> (Tensor, Tensor) {
        let s = x.size();
        let (b, t, ch, p) = (s[0], s[1], s[2], s[3]);
        let (g, c, k, w) = (self.grid, p / self.grid, self.windows, self.window);
        let cells = x
            .view([b, t, ch, g, c, g, c].as_slice())
            .permute([0, 3, 5, 1, 2, 4, 6])
            .reshape([b, g * g, t, ch, c, c]);
        // Windows of a sequence shorter than one window are zero-padded to one.
        let cells = if t < w {
            cells.constant_pad_nd([0, 0, 0, 0, 0, 0, 0, w - t])
        } else {
            cells
        };
        let tubes = cells
            .unfold(2, w, self.stride)
            .permute([0, 1, 2, 3, 6, 4, 5])
            .reshape([b * g * g * k, ch, w, c, c]);
        let device = x.device();
        let starts = Tensor::arange(k, (Kind::Int64, device)) * self.stride;
        // [B, K]: window k is a real tube (see the module header).
        let real = (starts.unsqueeze(0) + w)
            .le_tensor(&lengths.unsqueeze(1))
            .logical_or(&starts.eq(0).unsqueeze(0));
        // [B, K, W]: frame j of window k is real. A tube that is not real is dropped by
        // fusion whatever its vector, so only real tubes' padding is masked: that happens
        // for a sequence shorter than one window alone, and skipping the mask otherwise
        // keeps the common case on the unmasked (faster) kernels.
        let real_frames = (starts.unsqueeze(1) + Tensor::arange(w, (Kind::Int64, device)))
            .unsqueeze(0)
            .lt_tensor(&lengths.view([b, 1, 1]))
            .logical_or(&real.logical_not().unsqueeze(-1));
        let frames = real_frames
            .unsqueeze(1)
            .expand([b, g * g, k, w], false)
            .reshape([b * g * g * k, w]);
        let partial = bool::try_from(frames.logical_not().any()).unwrap_or(true);
        let vecs = self
            .net
            .forward(&tubes, partial.then_some(&frames), prec, dropout, train)
            .to_kind(Kind::Float);
        let d = vecs.size()[1];
        let vecs = vecs.view([b, g * g, k, d])
            + &self.cell_pos.unsqueeze(0)
            + &self.window_pos.unsqueeze(0);
        let mask = real
            .unsqueeze(1)
            .expand([b, g * g, k], false)
            .reshape([b, g * g * k]);
        (vecs.reshape([b, g * g * k, d]), mask)
    }
}
