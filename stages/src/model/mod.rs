//! The two-branch smoke classifier of domain.md, in tch.
//!
//! ```text
//! frames u8 [B, T, 3, P, P] + lengths [B]
//!   -> normalise (ImageNet mean/std), zero the padded frames
//!   -> global branch: frame encoder per frame [B, T, dim] -> aggregator -> [B, dim]
//!   -> local branch:  grid cells x temporal windows -> tube encoder -> [B, tubes, dim]
//!   -> fusion (cross-attention | weighted mean + gate) -> [B, dim]
//!   -> head: LayerNorm, dropout, Linear -> logit [B]
//! ```
//! Either branch can be switched off (`model.global_branch`, `model.local_branch`): the
//! study's no_temporal and no_spatial ablations. Every submodule lives under its own name in
//! one `VarStore`, so a checkpoint is a flat map of named tensors.

pub mod aggregator;
pub mod config;
pub mod frame_encoder;
pub mod fusion;
pub mod layers;
pub mod local;

use std::path::Path;

use tch::{Device, Kind, Tensor, nn};

pub use config::ModelConfig;
pub use layers::{FlopCounter, Precision};

use crate::error::StageError;
use aggregator::Aggregator;
use frame_encoder::FrameEncoder;
use fusion::Fusion;
use layers::{LayerNorm, Linear, inverted_dropout};
use local::LocalBranch;

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

pub struct SmokeNet {
    pub config: ModelConfig,
    pub precision: Precision,
    global: Option<(FrameEncoder, Aggregator)>,
    local: Option<LocalBranch>,
    fusion: Option<Fusion>,
    head_norm: LayerNorm,
    head: Linear,
    mean: Tensor,
    std: Tensor,
}

impl SmokeNet {
    /// Builds the network's variables in `vs` (initialised from libtorch's generator: seed
    /// it first for a reproducible start). `base_dir` resolves relative
    /// `model.pretrained` and `model.tube_pretrained` paths.
    pub fn new(
        vs: &nn::VarStore,
        config: &ModelConfig,
        base_dir: &Path,
    ) -> Result<Self, StageError> {
        config.validate()?;
        let root = vs.root();
        let d = config.dim as i64;
        let global = if config.global_branch {
            let enc = if config.pretrained.is_empty() {
                FrameEncoder::cnn(&root / "frame_encoder", config.patch_size, d)
            } else {
                let file = base_dir.join(&config.pretrained);
                FrameEncoder::torchscript(&root / "frame_encoder", &file, config.patch_size, d)?
            };
            Some((enc, Aggregator::new(&root / "aggregator", config)))
        } else {
            None
        };
        let local = if config.local_branch {
            Some(LocalBranch::new(&root / "tubelets", config, base_dir)?)
        } else {
            None
        };
        let fusion = config
            .local_branch
            .then(|| Fusion::new(&root / "fusion", config));
        let device = vs.device();
        Ok(SmokeNet {
            config: config.clone(),
            precision: Precision::F32,
            global,
            local,
            fusion,
            head_norm: LayerNorm::new(&root / "head_norm", d),
            head: Linear::new(&root / "head", d, 1),
            mean: Tensor::from_slice(&MEAN)
                .view([1, 1, 3, 1, 1])
                .to_device(device),
            std: Tensor::from_slice(&STD)
                .view([1, 1, 3, 1, 1])
                .to_device(device),
        })
    }

    /// Parameters in the frozen TorchScript encoder, if one is used (not in the VarStore).
    pub fn frozen_params(&self) -> usize {
        self.global.as_ref().map_or(0, |(e, _)| e.frozen_params())
    }

    /// `[B, T]` bool: frame `t` is real for sequence `b`.
    pub fn frame_mask(lengths: &Tensor, frames: i64) -> Tensor {
        Tensor::arange(frames, (Kind::Int64, lengths.device()))
            .unsqueeze(0)
            .lt_tensor(&lengths.unsqueeze(1))
    }

    /// Logits `[B]` for frames `[B, T, 3, P, P]` (u8 or float in 0..255) of `lengths` `[B]`.
    pub fn forward(
        &self,
        frames: &Tensor,
        lengths: &Tensor,
        train: bool,
    ) -> Result<Tensor, StageError> {
        let s = frames.size();
        let c = &self.config;
        let (t, p) = (c.frames as i64, c.patch_size as i64);
        if s.len() != 5 || s[1] != t || s[2] != 3 || s[3] != p || s[4] != p {
            return Err(StageError::Invalid(format!(
                "model input has shape {s:?}, the model expects [B, {t}, 3, {p}, {p}]"
            )));
        }
        let (b, prec, drop) = (s[0], self.precision, c.dropout);
        let mask = Self::frame_mask(lengths, t);
        let x = (frames.to_kind(Kind::Float) / 255.0 - &self.mean) / &self.std;
        let x = x * mask.to_kind(Kind::Float).view([b, t, 1, 1, 1]);
        let global = match &self.global {
            Some((enc, agg)) => {
                let v = enc
                    .forward(&x.view([b * t, 3, p, p]), prec)?
                    .to_kind(Kind::Float)
                    .view([b, t, -1]);
                Some(agg.forward(&v, &mask, lengths, prec, drop, train))
            }
            None => None,
        };
        let fused = match (&self.local, &self.fusion) {
            (Some(local), Some(fusion)) => {
                let (tubes, tube_mask) = local.forward(&x, lengths, prec, drop, train);
                fusion.forward(global.as_ref(), &tubes, &tube_mask, prec, drop, train)
            }
            _ => global.ok_or_else(|| StageError::Invalid("the model has no branch".into()))?,
        };
        let h = inverted_dropout(&self.head_norm.forward(&fused), drop, train);
        Ok(self
            .head
            .forward(&h, prec)
            .to_kind(Kind::Float)
            .squeeze_dim(-1))
    }

    /// FLOPs of one forward pass on one full-length sequence (2 per multiply-accumulate;
    /// not counting a TorchScript encoder, whose ops are opaque here).
    pub fn flops_per_sequence(&self, device: Device) -> Result<u64, StageError> {
        let c = &self.config;
        let x = Tensor::zeros(
            [
                1,
                c.frames as i64,
                3,
                c.patch_size as i64,
                c.patch_size as i64,
            ],
            (Kind::Uint8, device),
        );
        let len = Tensor::from_slice(&[c.frames as i64]).to_device(device);
        let counter = FlopCounter::start();
        let _logits = tch::no_grad(|| self.forward(&x, &len, false))?;
        Ok(counter.total())
    }
}

/// Trainable parameters in `vs`.
pub fn param_count(vs: &nn::VarStore) -> usize {
    vs.trainable_variables().iter().map(Tensor::numel).sum()
}
