//! The local branch: the patch is cut into a `grid x grid` of cells and the frames into
//! windows of `window` frames every `stride`; each (cell, window) is a tube of
//! `[3, window, cell, cell]` pixels. A tubelet transformer embeds each tube: a strided 3-D
//! convolution turns it into `window/tubelet_frames x (cell/tubelet_size)^2` tokens, a CLS
//! token and learned positions are added, and the CLS output is the tube's vector. Tube
//! vectors then get a cell embedding and a window embedding so fusion knows where and when
//! each one is.
//!
//! Tube `k` of a sequence of length `L` is real when its window lies inside the sequence
//! (`k * stride + window <= L`); the first window always counts, so a sequence shorter than
//! one window still has one (zero-padded) tube.

use tch::{Kind, Tensor, nn};

use super::config::ModelConfig;
use super::layers::{Conv, Encoder, Precision, embedding};

pub struct TubeletEncoder {
    embed: Conv,
    cls: Tensor,
    pos: Tensor,
    encoder: Encoder,
    cell_pos: Tensor,
    window_pos: Tensor,
    grid: i64,
    window: i64,
    stride: i64,
    windows: i64,
}

impl TubeletEncoder {
    pub fn new(p: nn::Path, c: &ModelConfig) -> Self {
        let d = c.dim as i64;
        let (tf, ts) = (c.tubelet_frames as i64, c.tubelet_size as i64);
        let cell = c.cell() as i64;
        let tokens = (c.window as i64 / tf) * (cell / ts) * (cell / ts);
        let cells = (c.grid * c.grid) as i64;
        TubeletEncoder {
            embed: Conv::new(&p / "embed", 3, d, &[tf, ts, ts], &[tf, ts, ts], &[0, 0, 0]),
            cls: embedding(&p, "cls", &[1, 1, d]),
            pos: embedding(&p, "pos", &[1, tokens + 1, d]),
            encoder: Encoder::new(
                &p / "encoder",
                c.tube_layers,
                d,
                c.heads as i64,
                c.mlp_ratio as i64,
            ),
            cell_pos: embedding(&p, "cell_pos", &[cells, 1, d]),
            window_pos: embedding(&p, "window_pos", &[1, c.windows() as i64, d]),
            grid: c.grid as i64,
            window: c.window as i64,
            stride: c.stride as i64,
            windows: c.windows() as i64,
        }
    }

    /// `x`: `[B, T, 3, P, P]` normalised frames -> tube vectors `[B, tubes, dim]` and the
    /// tube mask `[B, tubes]` (true = real), tubes ordered cell-major.
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
        let (g, c) = (self.grid, p / self.grid);
        let cells = x
            .view([b, t, ch, g, c, g, c].as_slice())
            .permute([0, 3, 5, 1, 2, 4, 6])
            .reshape([b, g * g, t, ch, c, c]);
        // Windows of a sequence shorter than one window are zero-padded to one.
        let cells = if t < self.window {
            cells.constant_pad_nd([0, 0, 0, 0, 0, 0, 0, self.window - t])
        } else {
            cells
        };
        let tubes = cells
            .unfold(2, self.window, self.stride)
            .permute([0, 1, 2, 3, 6, 4, 5])
            .reshape([b * g * g * self.windows, ch, self.window, c, c]);
        let n = tubes.size()[0];
        let d = self.cls.size()[2];
        let tokens = self
            .embed
            .forward(&tubes, prec)
            .flatten(2, -1)
            .transpose(1, 2)
            .to_kind(Kind::Float);
        let tokens = Tensor::cat(&[self.cls.expand([n, 1, d], false), tokens], 1) + &self.pos;
        let vecs = self
            .encoder
            .forward(&tokens, None, prec, dropout, train)
            .select(1, 0);
        let vecs = vecs.view([b, g * g, self.windows, d])
            + &self.cell_pos.unsqueeze(0)
            + &self.window_pos.unsqueeze(0);
        let starts = Tensor::arange(self.windows, (Kind::Int64, x.device())) * self.stride;
        let real = (starts.unsqueeze(0) + self.window)
            .le_tensor(&lengths.unsqueeze(1))
            .logical_or(&starts.eq(0).unsqueeze(0));
        let mask = real
            .unsqueeze(1)
            .expand([b, g * g, self.windows], false)
            .reshape([b, g * g * self.windows]);
        (vecs.reshape([b, g * g * self.windows, d]), mask)
    }
}
