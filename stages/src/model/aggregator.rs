//! The global branch's temporal aggregator: `[B, T, dim]` frame vectors + a frame mask ->
//! one `[B, dim]` context vector. Padded frames (beyond a sequence's length) never reach
//! the output:
//! - transformer: a CLS token and learned positions; padded frames are masked keys.
//! - lstm / gru: the hidden state at each sequence's last real frame (padding comes after
//!   it, so it cannot leak backwards).
//! - mlp: padded frame vectors are zeroed, then one MLP over the flattened `T x dim`.
//! - conv1d: two temporal convolutions, re-zeroing padded steps after each, then a masked
//!   mean.
//! - linear_wavg: a learned score per frame, softmax over the real frames, weighted mean.

use tch::{Kind, Tensor, nn};

use super::config::ModelConfig;
use super::layers::{
    self, Conv, Encoder, Linear, Precision, count_macs, embedding, inverted_dropout,
};

pub enum Aggregator {
    Transformer {
        cls: Tensor,
        pos: Tensor,
        encoder: Encoder,
    },
    Recurrent {
        lstm: bool,
        weights: Vec<Tensor>,
        hidden: i64,
    },
    Mlp {
        fc1: Linear,
        fc2: Linear,
    },
    Conv1d {
        c1: Conv,
        c2: Conv,
    },
    LinearWavg {
        score: Linear,
    },
}

impl Aggregator {
    pub fn new(p: nn::Path, c: &ModelConfig) -> Self {
        let (d, t) = (c.dim as i64, c.frames as i64);
        match c.aggregator.as_str() {
            "lstm" | "gru" => {
                let lstm = c.aggregator == "lstm";
                let gates = if lstm { 4 } else { 3 };
                let bound = 1.0 / (d as f64).sqrt();
                let init = layers::init(nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                });
                let mut weights = Vec::new();
                for l in 0..c.aggregator_layers {
                    weights.push(p.var(&format!("weight_ih_l{l}"), &[gates * d, d], init));
                    weights.push(p.var(&format!("weight_hh_l{l}"), &[gates * d, d], init));
                    weights.push(p.var(&format!("bias_ih_l{l}"), &[gates * d], init));
                    weights.push(p.var(&format!("bias_hh_l{l}"), &[gates * d], init));
                }
                Aggregator::Recurrent {
                    lstm,
                    weights,
                    hidden: d,
                }
            }
            "mlp" => Aggregator::Mlp {
                fc1: Linear::new(&p / "fc1", t * d, 2 * d),
                fc2: Linear::new(&p / "fc2", 2 * d, d),
            },
            "conv1d" => Aggregator::Conv1d {
                c1: Conv::new(&p / "conv1", d, d, &[3], &[1], &[1]),
                c2: Conv::new(&p / "conv2", d, d, &[3], &[1], &[1]),
            },
            "linear_wavg" => Aggregator::LinearWavg {
                score: Linear::new(&p / "score", d, 1),
            },
            _ => Aggregator::Transformer {
                cls: embedding(&p, "cls", &[1, 1, d]),
                pos: embedding(&p, "pos", &[1, t + 1, d]),
                encoder: Encoder::new(
                    &p / "encoder",
                    c.aggregator_layers,
                    d,
                    c.heads as i64,
                    c.mlp_ratio as i64,
                ),
            },
        }
    }

    /// `v`: `[B, T, dim]` f32, `mask`: `[B, T]` bool, `lengths`: `[B]` i64.
    pub fn forward(
        &self,
        v: &Tensor,
        mask: &Tensor,
        lengths: &Tensor,
        prec: Precision,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let size = v.size();
        let (b, t, d) = (size[0], size[1], size[2]);
        let maskf = mask.to_kind(Kind::Float).unsqueeze(-1);
        match self {
            Aggregator::Transformer { cls, pos, encoder } => {
                let tokens =
                    Tensor::cat(&[cls.expand([b, 1, d], false), v.shallow_clone()], 1) + pos;
                let keep =
                    Tensor::cat(&[mask.ones_like().narrow(1, 0, 1), mask.shallow_clone()], 1);
                encoder
                    .forward(&tokens, Some(&keep), prec, dropout, train)
                    .select(1, 0)
            }
            Aggregator::Recurrent {
                lstm,
                weights,
                hidden,
            } => {
                let layers = (weights.len() / 4) as i64;
                let w: Vec<Tensor> = weights.iter().map(|w| prec.cast(w)).collect();
                let h0 = Tensor::zeros([layers, b, *hidden], (prec.kind(), v.device()));
                let x = prec.cast(v);
                let out = if *lstm {
                    x.lstm(
                        &[&h0, &h0],
                        &w.iter().collect::<Vec<_>>(),
                        true,
                        layers,
                        0.0,
                        train,
                        false,
                        true,
                    )
                    .0
                } else {
                    x.gru(&h0, &w, true, layers, 0.0, train, false, true).0
                };
                let gates = if *lstm { 4 } else { 3 };
                count_macs((b * t * layers * gates * 2 * d * *hidden) as u64);
                let last = (lengths - 1)
                    .clamp_min(0)
                    .view([b, 1, 1])
                    .expand([b, 1, *hidden], false);
                out.gather(1, &last, false)
                    .squeeze_dim(1)
                    .to_kind(Kind::Float)
            }
            Aggregator::Mlp { fc1, fc2 } => {
                let flat = (v * &maskf).reshape([b, t * d]);
                let h = inverted_dropout(&fc1.forward(&flat, prec).gelu("none"), dropout, train);
                fc2.forward(&h, prec).to_kind(Kind::Float)
            }
            Aggregator::Conv1d { c1, c2 } => {
                let m = mask.to_kind(Kind::Float).unsqueeze(1);
                let x = (v * &maskf).transpose(1, 2);
                let h = c1.forward(&x, prec).gelu("none").to_kind(Kind::Float) * &m;
                let h = c2.forward(&h, prec).gelu("none").to_kind(Kind::Float) * &m;
                let count = m
                    .sum_dim_intlist([2i64].as_slice(), false, Kind::Float)
                    .clamp_min(1.0);
                h.sum_dim_intlist([2i64].as_slice(), false, Kind::Float) / count
            }
            Aggregator::LinearWavg { score } => {
                let s = score.forward(v, prec).to_kind(Kind::Float).squeeze_dim(-1);
                let w = s
                    .masked_fill(&mask.logical_not(), f64::NEG_INFINITY)
                    .softmax(1, Kind::Float);
                (w.unsqueeze(-1) * v).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            }
        }
    }
}
