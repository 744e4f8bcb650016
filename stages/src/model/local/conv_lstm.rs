//! `conv_lstm`: a convolutional LSTM (Shi et al. 2015) over the window's frames. Each frame
//! goes through a stride-2 convolutional stem (GroupNorm, GELU) to a `tube_channels` map at
//! half the cell's resolution; `tube_layers` stacked ConvLSTM cells (3x3 convolutions over
//! the input and the hidden state compute the four gates) read the maps in time order; the
//! last layer's final hidden state, pooled over space and projected to `dim`, is the tube's
//! vector. Over a padded frame every cell keeps its state, so the vector is the one at the
//! tube's last real frame.

use tch::{Kind, Tensor, nn};

use super::super::config::ModelConfig;
use super::super::layers::{Conv, GroupNorm, Linear, Precision};
use super::group_norm;

pub struct ConvLstm {
    stem: Conv,
    stem_norm: GroupNorm,
    /// One gate convolution per layer: `[input + hidden] -> 4 x hidden` channels.
    gates: Vec<Conv>,
    proj: Linear,
    channels: i64,
}

impl ConvLstm {
    pub fn new(p: &nn::Path, c: &ModelConfig) -> Self {
        let ch = c.tube_channels as i64;
        ConvLstm {
            stem: Conv::new(p / "stem", 3, ch, &[3, 3], &[2, 2], &[1, 1]),
            stem_norm: group_norm(p / "stem_norm", ch),
            gates: (0..c.tube_layers)
                .map(|l| {
                    Conv::new(
                        p / format!("cell{l}"),
                        2 * ch,
                        4 * ch,
                        &[3, 3],
                        &[1, 1],
                        &[1, 1],
                    )
                })
                .collect(),
            proj: Linear::new(p / "proj", ch, c.dim as i64),
            channels: ch,
        }
    }

    pub fn forward(&self, tubes: &Tensor, frames: Option<&Tensor>, prec: Precision) -> Tensor {
        let s = tubes.size();
        let (n, w, cell) = (s[0], s[2], s[3]);
        let maps = self.stem_norm.forward(
            &self
                .stem
                .forward(&tubes.transpose(1, 2).reshape([n * w, 3, cell, cell]), prec),
        );
        let maps = maps.gelu("none");
        let (hh, ww) = (maps.size()[2], maps.size()[3]);
        let maps = maps.view([n, w, self.channels, hh, ww]);
        let zeros = Tensor::zeros([n, self.channels, hh, ww], (Kind::Float, tubes.device()));
        let mut state: Vec<(Tensor, Tensor)> = self
            .gates
            .iter()
            .map(|_| (zeros.shallow_clone(), zeros.shallow_clone()))
            .collect();
        for t in 0..w {
            let keep = frames.map(|f| f.select(1, t).to_kind(Kind::Float).view([n, 1, 1, 1]));
            let mut x = maps.select(1, t);
            for (gate, (h, c)) in self.gates.iter().zip(state.iter_mut()) {
                let g = gate
                    .forward(&Tensor::cat(&[&x, &*h], 1), prec)
                    .to_kind(Kind::Float)
                    .chunk(4, 1);
                let (i, f, o, cand) = (g[0].sigmoid(), g[1].sigmoid(), g[2].sigmoid(), g[3].tanh());
                let c_new = &f * &*c + i * cand;
                let h_new = o * c_new.tanh();
                let (h_new, c_new) = match &keep {
                    Some(k) => (&h_new * k + &*h * (1.0 - k), &c_new * k + &*c * (1.0 - k)),
                    None => (h_new, c_new),
                };
                x = h_new.shallow_clone();
                *h = h_new;
                *c = c_new;
            }
        }
        let last = &state[state.len() - 1].0;
        self.proj.forward(
            &last.mean_dim([2i64, 3].as_slice(), false, Kind::Float),
            prec,
        )
    }
}
