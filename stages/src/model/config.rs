//! The model's architecture, as params give it (`[model]`) plus what the data fixes (frames
//! per sequence, patch size). It is stored inside every checkpoint, so evaluate, package,
//! predict and benchmark rebuild exactly the trained network from the checkpoint alone.

use serde::{Deserialize, Serialize};

use crate::error::StageError;
use crate::params::{ParamError, Section};

pub const AGGREGATORS: &[&str] = &["transformer", "lstm", "gru", "mlp", "conv1d", "linear_wavg"];
pub const FUSIONS: &[&str] = &["cross_attention", "weighted_mean"];
pub const TUBE_ENCODERS: &[&str] = &["tubelet_transformer", "vivit", "r3d", "conv_lstm", "tsm"];
/// The tube encoders that cut a tube into 3-D tokens (`tubelet_frames` x `tubelet_size`^2).
pub const TOKEN_ENCODERS: &[&str] = &["tubelet_transformer", "vivit"];

fn default_tube_channels() -> usize {
    16
}
pub const FRAME_ENCODERS: &[&str] = &["cnn"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Frames per sequence (T); shorter sequences are padded and masked.
    pub frames: usize,
    pub patch_size: usize,
    pub dim: usize,
    pub heads: usize,
    pub mlp_ratio: usize,
    pub dropout: f64,
    pub global_branch: bool,
    pub local_branch: bool,
    /// `cnn` (trained from scratch).
    pub frame_encoder: String,
    /// A TorchScript file replacing the CNN (frozen); empty for none.
    pub pretrained: String,
    pub aggregator: String,
    pub aggregator_layers: usize,
    /// Cells per side of the patch (2 = 2x2 cells).
    pub grid: usize,
    /// Frames per temporal window, and the step between windows.
    pub window: usize,
    pub stride: usize,
    /// One of [`TUBE_ENCODERS`]; see `model::local` for what each is.
    pub tube_encoder: String,
    /// Transformer layers (tubelet_transformer; vivit: spatial and temporal each),
    /// ConvLSTM layers (conv_lstm) or shift blocks (tsm); r3d's layout is fixed.
    pub tube_layers: usize,
    /// Width of the convolutional tube encoders: r3d's stages are 1, 2, 4, 8 times it;
    /// conv_lstm's and tsm's maps have this many channels.
    #[serde(default = "default_tube_channels")]
    pub tube_channels: usize,
    /// A file whose weights initialise the r3d encoder (safetensors or TorchScript, with
    /// torchvision's r3d_18 names); empty for none.
    #[serde(default)]
    pub tube_pretrained: String,
    /// Tubelet (token) size: frames x pixels x pixels.
    pub tubelet_frames: usize,
    pub tubelet_size: usize,
    pub fusion: String,
    /// Self-attention layers over the tube tokens before cross-attention.
    pub fusion_layers: usize,
}

impl ModelConfig {
    /// Reads `[model]`; `frames` and `patch_size` come from the data and are filled in by
    /// [`ModelConfig::with_data`].
    pub fn from_params(params: &toml::Table) -> Result<Self, ParamError> {
        let s = Section::new(params, "model")?;
        let c = ModelConfig {
            frames: 0,
            patch_size: 0,
            dim: s.count("dim", 64, 8)?,
            heads: s.count("heads", 4, 1)?,
            mlp_ratio: s.count("mlp_ratio", 2, 1)?,
            dropout: s.f64_in("dropout", 0.1, 0.0, 0.9)?,
            global_branch: s.bool("global_branch", true)?,
            local_branch: s.bool("local_branch", true)?,
            frame_encoder: s.choice("frame_encoder", "cnn", FRAME_ENCODERS)?,
            pretrained: s.string("pretrained", "")?,
            aggregator: s.choice("aggregator", "transformer", AGGREGATORS)?,
            aggregator_layers: s.count("aggregator_layers", 1, 1)?,
            grid: s.count("grid", 2, 1)?,
            window: s.count("window", 4, 1)?,
            stride: s.count("stride", 2, 1)?,
            tube_encoder: s.choice("tube_encoder", "tubelet_transformer", TUBE_ENCODERS)?,
            tube_layers: s.count("tube_layers", 1, 1)?,
            tube_channels: s.count("tube_channels", default_tube_channels(), 2)?,
            tube_pretrained: s.string("tube_pretrained", "")?,
            tubelet_frames: s.count("tubelet_frames", 2, 1)?,
            tubelet_size: s.count("tubelet_size", 8, 1)?,
            fusion: s.choice("fusion", "cross_attention", FUSIONS)?,
            fusion_layers: s.count("fusion_layers", 1, 0)?,
        };
        if !c.dim.is_multiple_of(c.heads) {
            return Err(s.invalid(
                "heads",
                c.heads,
                format!("must divide model.dim = {}", c.dim),
            ));
        }
        if !c.global_branch && !c.local_branch {
            return Err(s.invalid(
                "local_branch",
                false,
                "model.global_branch and model.local_branch cannot both be false",
            ));
        }
        if !c.tube_pretrained.is_empty() && c.tube_encoder != "r3d" {
            return Err(s.invalid(
                "tube_pretrained",
                format!("{:?}", c.tube_pretrained),
                format!(
                    "initialises the r3d tube encoder, and model.tube_encoder is {:?}",
                    c.tube_encoder
                ),
            ));
        }
        if c.tokens() && !c.window.is_multiple_of(c.tubelet_frames) {
            return Err(s.invalid(
                "tubelet_frames",
                c.tubelet_frames,
                format!("must divide model.window = {}", c.window),
            ));
        }
        s.finish()?;
        Ok(c)
    }

    /// Fixes the input geometry and checks that the grid and windows fit it.
    pub fn with_data(mut self, frames: usize, patch_size: usize) -> Result<Self, StageError> {
        self.frames = frames;
        self.patch_size = patch_size;
        self.validate()?;
        Ok(self)
    }

    pub fn validate(&self) -> Result<(), StageError> {
        let bad = |m: String| Err(StageError::Invalid(m));
        if self.frames == 0 || self.patch_size == 0 {
            return bad("the model input holds no sequences".into());
        }
        if self.local_branch {
            if !self.patch_size.is_multiple_of(self.grid) {
                return bad(format!(
                    "model.grid = {} does not divide the patch size {} (model_input.patch_size)",
                    self.grid, self.patch_size
                ));
            }
            let cell = self.patch_size / self.grid;
            if self.tokens() && !cell.is_multiple_of(self.tubelet_size) {
                return bad(format!(
                    "model.tubelet_size = {} does not divide the grid cell ({} px = patch {} / grid {})",
                    self.tubelet_size, cell, self.patch_size, self.grid
                ));
            }
            if self.window > self.frames {
                return bad(format!(
                    "model.window = {} is longer than the sequences ({} frames)",
                    self.window, self.frames
                ));
            }
        }
        Ok(())
    }

    /// Whether the tube encoder cuts tubes into tubelet tokens.
    pub fn tokens(&self) -> bool {
        TOKEN_ENCODERS.contains(&self.tube_encoder.as_str())
    }

    pub fn cell(&self) -> usize {
        self.patch_size / self.grid
    }

    /// Temporal windows per sequence.
    pub fn windows(&self) -> usize {
        if self.frames < self.window {
            1
        } else {
            (self.frames - self.window) / self.stride + 1
        }
    }

    /// Tubes (cells x windows) per sequence.
    pub fn tubes(&self) -> usize {
        self.grid * self.grid * self.windows()
    }
}
