//! Fusing the tube vectors (local) with the context vector (global) into one `[B, dim]`:
//! - `cross_attention`: self-attention over the tube tokens (masked), then the context
//!   vector as the single query of a cross-attention over them, with a residual MLP. With
//!   the global branch off (the study's no_temporal ablation) a learned query takes its
//!   place.
//! - `weighted_mean`: a learned score per tube, softmax over the real tubes, weighted mean;
//!   with the global branch on, a learned sigmoid gate mixes the two vectors per channel.

use tch::{Kind, Tensor, nn};

use super::config::ModelConfig;
use super::layers::{Attention, Encoder, LayerNorm, Linear, Mlp, Precision, embedding};

pub enum Fusion {
    CrossAttention {
        query: Option<Tensor>,
        encoder: Option<Encoder>,
        ln_q: LayerNorm,
        attn: Attention,
        ln_out: LayerNorm,
        mlp: Mlp,
    },
    WeightedMean {
        score: Linear,
        gate: Option<Linear>,
    },
}

impl Fusion {
    pub fn new(p: nn::Path, c: &ModelConfig) -> Self {
        let (d, h, r) = (c.dim as i64, c.heads as i64, c.mlp_ratio as i64);
        if c.fusion == "weighted_mean" {
            return Fusion::WeightedMean {
                score: Linear::new(&p / "score", d, 1),
                gate: c.global_branch.then(|| Linear::new(&p / "gate", 2 * d, d)),
            };
        }
        Fusion::CrossAttention {
            query: (!c.global_branch).then(|| embedding(&p, "query", &[1, 1, d])),
            encoder: (c.fusion_layers > 0)
                .then(|| Encoder::new(&p / "self_attn", c.fusion_layers, d, h, r)),
            ln_q: LayerNorm::new(&p / "ln_q", d),
            attn: Attention::new(&p / "cross_attn", d, h),
            ln_out: LayerNorm::new(&p / "ln_out", d),
            mlp: Mlp::new(&p / "mlp", d, d * r),
        }
    }

    pub fn forward(
        &self,
        global: Option<&Tensor>,
        tubes: &Tensor,
        mask: &Tensor,
        prec: Precision,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let (b, d) = (tubes.size()[0], tubes.size()[2]);
        match self {
            Fusion::CrossAttention {
                query,
                encoder,
                ln_q,
                attn,
                ln_out,
                mlp,
            } => {
                let q = match (global, query) {
                    (Some(g), _) => g.unsqueeze(1),
                    (None, Some(q)) => q.expand([b, 1, d], false),
                    (None, None) => Tensor::zeros([b, 1, d], (Kind::Float, tubes.device())),
                };
                let kv = match encoder {
                    Some(e) => e.forward(tubes, Some(mask), prec, dropout, train),
                    None => tubes.shallow_clone(),
                };
                let a = attn.forward(&ln_q.forward(&q), &kv, Some(mask), prec, dropout, train);
                let x = q + a.to_kind(Kind::Float);
                let x = &x
                    + mlp
                        .forward(&ln_out.forward(&x), prec, dropout, train)
                        .to_kind(Kind::Float);
                x.squeeze_dim(1)
            }
            Fusion::WeightedMean { score, gate } => {
                let s = score
                    .forward(tubes, prec)
                    .to_kind(Kind::Float)
                    .squeeze_dim(-1);
                let w = s
                    .masked_fill(&mask.logical_not(), f64::NEG_INFINITY)
                    .softmax(1, Kind::Float);
                let local = (w.unsqueeze(-1) * tubes).sum_dim_intlist(
                    [1i64].as_slice(),
                    false,
                    Kind::Float,
                );
                match (global, gate) {
                    (Some(g), Some(gate)) => {
                        let z = gate.forward(
                            &Tensor::cat(&[g.shallow_clone(), local.shallow_clone()], 1),
                            prec,
                        );
                        let z = z.to_kind(Kind::Float).sigmoid();
                        &z * g + (1.0 - &z) * local
                    }
                    _ => local,
                }
            }
        }
    }
}
