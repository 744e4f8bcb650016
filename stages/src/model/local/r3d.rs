//! `r3d`: the 3-D ResNet-18 layout of torchvision's `r3d_18` (Tran et al. 2018): a stem
//! (3x7x7 convolution, stride 1x2x2), four stages of two basic blocks (3x3x3 convolutions;
//! stages 2-4 halve time and space and double the width), global average pooling, and a
//! linear projection to `dim`. Widths are `tube_channels x (1, 2, 4, 8)` (torchvision's
//! are 64 .. 512).
//!
//! Normalisation is GroupNorm, not BatchNorm: per sample, so a prediction never depends on
//! its batch-mates (as everywhere in the model). Variables are named as torchvision's
//! `state_dict` names them (`stem.0.weight`, `layer2.0.downsample.1.bias`, ..), so that
//! `model.tube_pretrained` (a Kinetics-400 checkpoint, safetensors or TorchScript, see
//! `pretrained`) initialises every convolution, and each BatchNorm's affine (weight, bias)
//! initialises the GroupNorm in its place; the BatchNorm running statistics and the
//! classifier (`fc`) are not used. Widths must match: Kinetics' r3d_18 needs
//! `tube_channels = 64`.

use std::path::Path;

use tch::{Kind, Tensor, nn};

use super::super::config::ModelConfig;
use super::super::layers::{Conv, GroupNorm, Linear, Precision, random_init_skipped};
use super::{group_norm, masked_time_mean, pretrained};
use crate::error::StageError;

/// A convolution (no bias) and its norm: torchvision's `Sequential(conv, bn)`, `.0` and `.1`.
struct ConvNorm {
    conv: Conv,
    norm: GroupNorm,
}

/// Collects (torchvision name, variable) pairs while the network is built.
struct Names<'a> {
    out: &'a mut Vec<(String, Tensor)>,
}

impl Names<'_> {
    #[allow(clippy::too_many_arguments)]
    fn conv_norm(
        &mut self,
        p: &nn::Path,
        name: &str,
        cin: i64,
        cout: i64,
        kernel: &[i64],
        stride: &[i64],
        padding: &[i64],
    ) -> ConvNorm {
        // nn::Path segments cannot hold dots: one segment per part of the dotted name.
        let mut parts = name.split('.');
        let mut s = p.sub(parts.next().unwrap_or(name));
        for part in parts {
            s = s.sub(part);
        }
        let conv = Conv::without_bias(&s / "0", cin, cout, kernel, stride, padding);
        let norm = group_norm(&s / "1", cout);
        self.out
            .push((format!("{name}.0.weight"), conv.ws.shallow_clone()));
        self.out
            .push((format!("{name}.1.weight"), norm.ws.shallow_clone()));
        self.out
            .push((format!("{name}.1.bias"), norm.bs.shallow_clone()));
        ConvNorm { conv, norm }
    }
}

impl ConvNorm {
    fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        self.norm.forward(&self.conv.forward(x, prec))
    }
}

struct Block {
    conv1: ConvNorm,
    conv2: ConvNorm,
    downsample: Option<ConvNorm>,
}

impl Block {
    fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let h = self.conv1.forward(x, prec).relu();
        let h = self.conv2.forward(&h, prec);
        let skip = match &self.downsample {
            Some(d) => d.forward(x, prec),
            None => x.to_kind(Kind::Float),
        };
        (h + skip).relu()
    }
}

pub struct R3d {
    stem: ConvNorm,
    blocks: Vec<Block>,
    proj: Linear,
}

impl R3d {
    pub fn new(p: &nn::Path, c: &ModelConfig, base_dir: &Path) -> Result<Self, StageError> {
        let base = c.tube_channels as i64;
        let mut named = Vec::new();
        let mut n = Names { out: &mut named };
        let stem = n.conv_norm(p, "stem", 3, base, &[3, 7, 7], &[1, 2, 2], &[1, 3, 3]);
        let mut blocks = Vec::new();
        let mut cin = base;
        for stage in 0..4 {
            let cout = base << stage;
            for b in 0..2 {
                let name = format!("layer{}.{b}", stage + 1);
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                let s3 = [stride; 3];
                let conv1 = n.conv_norm(
                    p,
                    &format!("{name}.conv1"),
                    cin,
                    cout,
                    &[3, 3, 3],
                    &s3,
                    &[1, 1, 1],
                );
                let conv2 = n.conv_norm(
                    p,
                    &format!("{name}.conv2"),
                    cout,
                    cout,
                    &[3, 3, 3],
                    &[1, 1, 1],
                    &[1, 1, 1],
                );
                let downsample = (stride != 1 || cin != cout).then(|| {
                    n.conv_norm(
                        p,
                        &format!("{name}.downsample"),
                        cin,
                        cout,
                        &[1, 1, 1],
                        &s3,
                        &[0, 0, 0],
                    )
                });
                blocks.push(Block {
                    conv1,
                    conv2,
                    downsample,
                });
                cin = cout;
            }
        }
        let net = R3d {
            stem,
            blocks,
            proj: Linear::new(p / "proj", cin, c.dim as i64),
        };
        // A checkpoint about to be restored holds the trained weights: the file is not read.
        if !c.tube_pretrained.is_empty() && !random_init_skipped() {
            init_from(&base_dir.join(&c.tube_pretrained), &named)?;
        }
        Ok(net)
    }

    pub fn forward(&self, tubes: &Tensor, frames: Option<&Tensor>, prec: Precision) -> Tensor {
        let mut h = self.stem.forward(tubes, prec).relu();
        for b in &self.blocks {
            h = b.forward(&h, prec);
        }
        // [N, C, T', H', W'] -> [N, T', C]: pooled over space, then over the time steps
        // that hold any real frame.
        let steps = h.size()[2];
        let per_step = h
            .mean_dim([3i64, 4].as_slice(), false, Kind::Float)
            .transpose(1, 2);
        let real = frames.map(|f| {
            f.to_kind(Kind::Float)
                .unsqueeze(1)
                .adaptive_max_pool1d([steps])
                .0
                .squeeze_dim(1)
                .gt(0.5)
        });
        self.proj
            .forward(&masked_time_mean(&per_step, real.as_ref()), prec)
    }
}

/// Copies the tensors of `file` into `named` (torchvision names), which must all be there
/// with the same shapes.
fn init_from(file: &Path, named: &[(String, Tensor)]) -> Result<(), StageError> {
    let tensors = pretrained::named_tensors(file)?;
    for (name, var) in named {
        let Some(src) = tensors.get(name) else {
            let mut theirs: Vec<&String> = tensors.keys().collect();
            theirs.sort();
            let shown: Vec<&str> = theirs.iter().take(4).map(|s| s.as_str()).collect();
            return Err(StageError::data(
                file,
                format!(
                    "model.tube_pretrained: no tensor `{name}` (r3d reads torchvision's r3d_18 names; the file has {} tensors, e.g. {})",
                    tensors.len(),
                    if shown.is_empty() {
                        "none".to_string()
                    } else {
                        shown.join(", ")
                    }
                ),
            ));
        };
        if src.size() != var.size() {
            return Err(StageError::data(
                file,
                format!(
                    "model.tube_pretrained: tensor `{name}` is {:?} there, the model's is {:?} (r3d's widths are model.tube_channels x 1, 2, 4, 8: torchvision's r3d_18 needs tube_channels = 64)",
                    src.size(),
                    var.size()
                ),
            ));
        }
        let mut var = var.shallow_clone();
        tch::no_grad(|| var.f_copy_(&src.to_kind(Kind::Float).to_device(var.device()))).map_err(
            StageError::torch(format!("initialising `{name}` from {}", file.display())),
        )?;
    }
    Ok(())
}
