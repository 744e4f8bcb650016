//! `vivit`: ViViT's factorised encoder. The tube is cut into the same 3-D tokens as the
//! tubelet transformer's; a spatial transformer attends within each time slot (a CLS token
//! per slot, learned spatial positions), then a temporal transformer attends over the slots'
//! CLS outputs (its own CLS token, learned temporal positions), whose CLS output is the
//! tube's vector. Space within a frame first, then time: attention costs `S x P^2 + S^2`
//! instead of `(S x P)^2`. Slots made only of padded frames are masked temporal keys.

use tch::{Kind, Tensor, nn};

use super::super::config::ModelConfig;
use super::super::layers::{Conv, Encoder, Precision, embedding};
use super::tubelet::{real_slots, tubelet_embed};

pub struct Vivit {
    embed: Conv,
    spatial_cls: Tensor,
    spatial_pos: Tensor,
    spatial: Encoder,
    temporal_cls: Tensor,
    temporal_pos: Tensor,
    temporal: Encoder,
    tubelet_frames: i64,
}

impl Vivit {
    pub fn new(p: &nn::Path, c: &ModelConfig) -> Self {
        let (d, h, r) = (c.dim as i64, c.heads as i64, c.mlp_ratio as i64);
        let (tf, ts) = (c.tubelet_frames as i64, c.tubelet_size as i64);
        let per_slot = (c.cell() as i64 / ts).pow(2);
        let slots = c.window as i64 / tf;
        Vivit {
            embed: tubelet_embed(p, c),
            spatial_cls: embedding(p, "spatial_cls", &[1, 1, d]),
            spatial_pos: embedding(p, "spatial_pos", &[1, per_slot + 1, d]),
            spatial: Encoder::new(p / "spatial", c.tube_layers, d, h, r),
            temporal_cls: embedding(p, "temporal_cls", &[1, 1, d]),
            temporal_pos: embedding(p, "temporal_pos", &[1, slots + 1, d]),
            temporal: Encoder::new(p / "temporal", c.tube_layers, d, h, r),
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
        let d = self.spatial_cls.size()[2];
        // [N, d, S, h, w] -> [N * S, h * w, d]
        let grid = self.embed.forward(tubes, prec).to_kind(Kind::Float);
        let (s, per_slot) = (grid.size()[2], grid.size()[3] * grid.size()[4]);
        let tokens = grid
            .flatten(3, -1)
            .permute([0, 2, 3, 1])
            .reshape([n * s, per_slot, d]);
        let tokens = Tensor::cat(&[self.spatial_cls.expand([n * s, 1, d], false), tokens], 1)
            + &self.spatial_pos;
        let slots = self
            .spatial
            .forward(&tokens, None, prec, dropout, train)
            .select(1, 0)
            .view([n, s, d]);
        let seq = Tensor::cat(&[self.temporal_cls.expand([n, 1, d], false), slots], 1)
            + &self.temporal_pos;
        let keep = frames.map(|f| {
            let real = real_slots(f, self.tubelet_frames);
            Tensor::cat(&[real.ones_like().narrow(1, 0, 1), real], 1)
        });
        self.temporal
            .forward(&seq, keep.as_ref(), prec, dropout, train)
            .select(1, 0)
    }
}
