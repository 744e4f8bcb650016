//! The global branch's per-frame encoder: `[N, 3, P, P]` normalised frames -> `[N, dim]`.
//!
//! - `cnn`: stride-2 3x3 convolutions (GroupNorm + GELU) until the map is 4-7 px wide, then
//!   global average pooling and a projection. Small, trained from scratch.
//! - `model.pretrained = "encoder.pt"`: a TorchScript module (e.g. a DINOv2 export) taking
//!   `[N, 3, P, P]` float frames with ImageNet normalisation and returning `[N, D]`; it is
//!   frozen (run without gradients, in eval mode), as the study froze its ViT, and only a
//!   linear projection `D -> dim` is trained. `D` is found by one probe forward.

use std::path::Path;

use tch::{CModule, Kind, Tensor, nn};

use super::layers::{Conv, GroupNorm, Linear, Precision};
use crate::error::StageError;

pub enum FrameEncoder {
    Cnn {
        stages: Vec<(Conv, GroupNorm)>,
        proj: Linear,
    },
    Script {
        module: CModule,
        proj: Linear,
        params: usize,
    },
}

impl FrameEncoder {
    pub fn cnn(p: nn::Path, patch: usize, dim: i64) -> Self {
        let mut stages = Vec::new();
        let (mut size, mut cin) = (patch, 3i64);
        let base = (dim / 4).max(8);
        let mut i = 0;
        while size > 7 && i < 6 {
            let cout = (base << i.min(2)).min(dim.max(base));
            let s = &p / format!("stage{i}");
            stages.push((
                Conv::new(&s / "conv", cin, cout, &[3, 3], &[2, 2], &[1, 1]),
                GroupNorm::new(&s / "norm", (cout / 8).clamp(1, 8), cout),
            ));
            cin = cout;
            size = size.div_ceil(2);
            i += 1;
        }
        FrameEncoder::Cnn {
            stages,
            proj: Linear::new(&p / "proj", cin, dim),
        }
    }

    pub fn torchscript(
        p: nn::Path,
        file: &Path,
        patch: usize,
        dim: i64,
    ) -> Result<Self, StageError> {
        let device = p.device();
        let ctx = format!("loading the pretrained frame encoder {}", file.display());
        let mut module = CModule::load_on_device(file, device).map_err(StageError::torch(&ctx))?;
        module.set_eval();
        let probe = Tensor::zeros([1, 3, patch as i64, patch as i64], (Kind::Float, device));
        let out = tch::no_grad(|| module.forward_ts(&[probe])).map_err(StageError::torch(&ctx))?;
        let size = out.size();
        if size.len() != 2 || size[0] != 1 {
            return Err(StageError::Invalid(format!(
                "{}: the pretrained frame encoder must map [N, 3, {patch}, {patch}] to [N, D], it returned {size:?}",
                file.display()
            )));
        }
        let params = module
            .named_parameters()
            .map_err(StageError::torch(&ctx))?
            .iter()
            .map(|(_, t)| t.numel())
            .sum();
        Ok(FrameEncoder::Script {
            module,
            proj: Linear::new(&p / "proj", size[1], dim),
            params,
        })
    }

    /// Parameters outside the VarStore (the frozen TorchScript module's).
    pub fn frozen_params(&self) -> usize {
        match self {
            FrameEncoder::Cnn { .. } => 0,
            FrameEncoder::Script { params, .. } => *params,
        }
    }

    pub fn forward(&self, x: &Tensor, prec: Precision) -> Result<Tensor, StageError> {
        match self {
            FrameEncoder::Cnn { stages, proj } => {
                let mut h = x.shallow_clone();
                for (conv, norm) in stages {
                    h = norm.forward(&conv.forward(&h, prec)).gelu("none");
                }
                Ok(proj.forward(&h.mean_dim([2i64, 3].as_slice(), false, Kind::Float), prec))
            }
            FrameEncoder::Script { module, proj, .. } => {
                let feats = tch::no_grad(|| module.forward_ts(&[x.to_kind(Kind::Float)]))
                    .map_err(StageError::torch("running the pretrained frame encoder"))?;
                Ok(proj.forward(&feats.to_kind(Kind::Float), prec))
            }
        }
    }
}
