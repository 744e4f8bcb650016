//! `tubelet_transformer`: a strided 3-D convolution turns a tube into
//! `window/tubelet_frames x (cell/tubelet_size)^2` tokens; a CLS token and learned positions
//! are added, one transformer attends over space and time jointly, and the CLS output is the
//! tube's vector. Tokens of a time slot made only of padded frames are masked keys.

use tch::{Tensor, nn};

use super::super::config::ModelConfig;
use super::super::layers::{Conv, Encoder, Precision, embedding};

pub struct Tubelet {
    embed: Conv,
    cls: Tensor,
    pos: Tensor,
    encoder: Encoder,
    tubelet_frames: i64,
}

/// Token embedding shared with `vivit`: `[N, 3, W, c, c]` -> `[N, d, S, h, w]`.
pub fn tubelet_embed(p: &nn::Path, c: &ModelConfig) -> Conv {
    let d = c.dim as i64;
    let (tf, ts) = (c.tubelet_frames as i64, c.tubelet_size as i64);
    Conv::new(p / "embed", 3, d, &[tf, ts, ts], &[tf, ts, ts], &[0, 0, 0])
}

/// `[N, W]` real frames -> `[N, S]` real time slots of `tf` frames (a slot is real when its
/// first frame is: padding only ever follows the real frames).
pub fn real_slots(frames: &Tensor, tf: i64) -> Tensor {
    let w = frames.size()[1];
    frames.slice(1, 0, w, tf)
}

impl Tubelet {
    pub fn new(p: &nn::Path, c: &ModelConfig) -> Self {
        let d = c.dim as i64;
        let (tf, ts) = (c.tubelet_frames as i64, c.tubelet_size as i64);
        let cell = c.cell() as i64;
        let tokens = (c.window as i64 / tf) * (cell / ts) * (cell / ts);
        Tubelet {
            embed: tubelet_embed(p, c),
            cls: embedding(p, "cls", &[1, 1, d]),
            pos: embedding(p, "pos", &[1, tokens + 1, d]),
            encoder: Encoder::new(
                p / "encoder",
                c.tube_layers,
                d,
                c.heads as i64,
                c.mlp_ratio as i64,
            ),
            tubelet_frames: tf,
        }
    }

    pub fn forward(
        &self,
        tubes: &Tensor,
        frames: Option<&Tensor>,
        prec: Precision,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let n = tubes.size()[0];
        let d = self.cls.size()[2];
        let grid = self.embed.forward(tubes, prec);
        let per_slot = grid.size()[3] * grid.size()[4];
        let tokens = grid
            .flatten(2, -1)
            .transpose(1, 2)
            .to_kind(tch::Kind::Float);
        let tokens = Tensor::cat(&[self.cls.expand([n, 1, d], false), tokens], 1) + &self.pos;
        let keep = frames.map(|f| {
            let slots = real_slots(f, self.tubelet_frames);
            let s = slots.size()[1];
            let per_token = slots
                .unsqueeze(-1)
                .expand([n, s, per_slot], false)
                .reshape([n, s * per_slot]);
            Tensor::cat(&[per_token.ones_like().narrow(1, 0, 1), per_token], 1)
        });
        self.encoder
            .forward(&tokens, keep.as_ref(), prec, dropout, train)
            .select(1, 0)
    }
}
