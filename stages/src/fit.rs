//! The training loop: AdamW on binary cross-entropy with logits, a linear warm-up then
//! cosine learning rate per step, gradient-norm clipping, validation after every epoch,
//! early stopping on `monitor` (val F1 or val loss) with `patience`, and the best weights by
//! val F1 (ties: lower val loss) kept in memory for the checkpoint.
//!
//! Reproducibility: libtorch's generator is seeded before the model is built (initial
//! weights, dropout), and the epoch order and flips come from `rng::Rand` streams named by
//! seed and epoch. On the CPU, with the same thread count and versions, two runs produce
//! bit-identical checkpoints (a test holds this); CUDA kernels are not all deterministic.

#![allow(clippy::print_stdout)]

use std::time::Instant;

use serde::Serialize;
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Reduction, Tensor};

use crate::dataset::SplitData;
use crate::error::StageError;
use crate::loader::Loader;
use crate::metrics::Confusion;
use crate::model::{Precision, SmokeNet};
use crate::params::{ParamError, Section};
use crate::rng::Rand;

#[derive(Debug, Clone, Serialize)]
pub struct TrainParams {
    pub seed: u64,
    pub device: String,
    /// `fp32`, or `bf16` (matmuls and convolutions in bfloat16, see `model::layers`).
    pub precision: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub min_lr: f64,
    pub weight_decay: f64,
    pub warmup_epochs: usize,
    pub grad_clip: f64,
    pub patience: usize,
    /// `val_f1` (higher is better) or `val_loss` (lower is better).
    pub monitor: String,
    /// Random horizontal flips of whole sequences.
    pub augment: bool,
    /// Probability above which a sequence counts as smoke for val F1.
    pub threshold: f64,
}

impl TrainParams {
    pub fn from_params(params: &toml::Table) -> Result<Self, ParamError> {
        let s = Section::new(params, "train")?;
        let p = TrainParams {
            seed: s.u64("seed", 0)?,
            device: s.string("device", "auto")?,
            precision: s.choice("precision", "fp32", &["fp32", "bf16"])?,
            epochs: s.count("epochs", 20, 1)?,
            batch_size: s.count("batch_size", 16, 1)?,
            lr: s.f64_in("lr", 5e-4, 0.0, 10.0)?,
            min_lr: s.f64_in("min_lr", 1e-5, 0.0, 10.0)?,
            weight_decay: s.f64_in("weight_decay", 0.05, 0.0, 10.0)?,
            warmup_epochs: s.count("warmup_epochs", 1, 0)?,
            grad_clip: s.f64_in("grad_clip", 1.0, 0.0, 1e9)?,
            patience: s.count("patience", 20, 1)?,
            monitor: s.choice("monitor", "val_f1", &["val_f1", "val_loss"])?,
            augment: s.bool("augment", true)?,
            threshold: s.f64_in("threshold", 0.5, 0.0, 1.0)?,
        };
        s.finish()?;
        Ok(p)
    }
}

/// One row of the training curve.
#[derive(Debug, Clone, Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_f1: f64,
    pub val_accuracy: f64,
    pub val_precision: f64,
    pub val_recall: f64,
    pub lr: f64,
    pub seconds: f64,
    pub samples_per_s: f64,
}

pub struct FitResult {
    pub history: Vec<EpochLog>,
    pub best_epoch: usize,
    /// The variables at the best epoch, sorted by name.
    pub best: Vec<(String, Tensor)>,
    pub train_seconds: f64,
    pub samples_per_s: f64,
}

fn scalar(t: &Tensor) -> Result<f64, StageError> {
    f64::try_from(t).map_err(StageError::torch("reading a scalar"))
}

/// Probabilities and mean BCE loss of `model` on `data` (eval mode, no gradients).
pub fn score(
    model: &SmokeNet,
    data: &SplitData,
    batch_size: usize,
    device: Device,
) -> Result<(Vec<f64>, f64), StageError> {
    let mut probs = Vec::with_capacity(data.len());
    let mut loss_sum = 0.0;
    let _guard = tch::no_grad_guard();
    for b in Loader::new(data, (0..data.len()).collect(), None, batch_size, device) {
        let logits = model.forward(&b.frames, &b.lengths, false)?;
        let loss = logits.binary_cross_entropy_with_logits::<Tensor>(
            &b.labels,
            None,
            None,
            Reduction::Sum,
        );
        loss_sum += scalar(&loss)?;
        let p = logits
            .sigmoid()
            .to_kind(Kind::Double)
            .to_device(Device::Cpu);
        probs.extend(Vec::<f64>::try_from(&p).map_err(StageError::torch("reading scores"))?);
    }
    Ok((probs, loss_sum / data.len().max(1) as f64))
}

/// Scales the gradients of `params` so that their global L2 norm is at most `max`, as
/// `torch.nn.utils.clip_grad_norm_` does: the scale stays on the device (no host sync per
/// step, unlike reading the norm back), and is 1 when the norm is already within bounds.
fn clip_grad_norm(params: &[Tensor], max: f64) {
    let _guard = tch::no_grad_guard();
    let grads: Vec<Tensor> = params
        .iter()
        .map(Tensor::grad)
        .filter(Tensor::defined)
        .collect();
    if grads.is_empty() {
        return;
    }
    let norms: Vec<Tensor> = grads.iter().map(Tensor::norm).collect();
    let total = Tensor::stack(&norms, 0).norm();
    let scale = (total + 1e-6)
        .reciprocal()
        .multiply_scalar(max)
        .clamp_max(1.0);
    for mut g in grads {
        let _ = g.g_mul_(&scale);
    }
}

fn lr_at(p: &TrainParams, step: usize, steps_per_epoch: usize) -> f64 {
    let total = (p.epochs * steps_per_epoch).max(1) as f64;
    let warm = (p.warmup_epochs * steps_per_epoch) as f64;
    let s = step as f64;
    if s < warm {
        return p.lr * (s + 1.0) / warm;
    }
    let progress = ((s - warm) / (total - warm).max(1.0)).min(1.0);
    p.min_lr + (p.lr - p.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Trains `model` (whose variables live in `vs`) and returns the history and best weights.
pub fn fit(
    vs: &VarStore,
    model: &SmokeNet,
    train: &SplitData,
    val: &SplitData,
    p: &TrainParams,
    device: Device,
) -> Result<FitResult, StageError> {
    let mut opt = nn::AdamW {
        wd: p.weight_decay,
        ..Default::default()
    }
    .build(vs, p.lr)
    .map_err(StageError::torch("building AdamW"))?;
    let trainable = vs.trainable_variables();
    let steps_per_epoch = train.len().div_ceil(p.batch_size);
    let mut history: Vec<EpochLog> = Vec::new();
    let mut best: Option<(usize, f64, f64)> = None; // (epoch, f1, loss) by val F1
    let mut best_weights = Vec::new();
    let mut best_monitor = f64::NEG_INFINITY;
    let mut since_best = 0;
    let (mut train_seconds, mut seen) = (0.0, 0usize);
    let mut step = 0;
    for epoch in 1..=p.epochs {
        let mut rng = Rand::derive(p.seed, &format!("epoch/{epoch}"));
        let order = rng.permutation(train.len());
        let flips = p
            .augment
            .then(|| (0..train.len()).map(|_| rng.chance(0.5)).collect());
        let started = Instant::now();
        let mut loss_sum = Tensor::zeros([], (Kind::Float, device));
        let mut n = 0usize;
        let mut lr = p.lr;
        for b in Loader::new(train, order, flips, p.batch_size, device) {
            lr = lr_at(p, step, steps_per_epoch);
            opt.set_lr(lr);
            let logits = model.forward(&b.frames, &b.lengths, true)?;
            let loss = logits.binary_cross_entropy_with_logits::<Tensor>(
                &b.labels,
                None,
                None,
                Reduction::Mean,
            );
            opt.zero_grad();
            loss.backward();
            if p.grad_clip > 0.0 {
                clip_grad_norm(&trainable, p.grad_clip);
            }
            opt.step();
            let bs = b.labels.size()[0] as usize;
            // Summed on the device and read once per epoch: no host sync per step.
            loss_sum += loss.detach() * bs as f64;
            n += bs;
            step += 1;
        }
        let loss_sum = scalar(&loss_sum)?;
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
        let seconds = started.elapsed().as_secs_f64();
        train_seconds += seconds;
        seen += n;
        let (probs, val_loss) = score(model, val, p.batch_size.max(32), device)?;
        let c = Confusion::new(&probs, &val.label_list, p.threshold);
        let log = EpochLog {
            epoch,
            train_loss: loss_sum / n.max(1) as f64,
            val_loss,
            val_f1: c.f1(),
            val_accuracy: c.accuracy(),
            val_precision: c.precision(),
            val_recall: c.recall(),
            lr,
            seconds,
            samples_per_s: n as f64 / seconds.max(1e-9),
        };
        println!(
            "epoch {epoch:>3}/{}: train_loss {:.4}  val_loss {:.4}  val_f1 {:.3}  val_acc {:.3}  lr {:.2e}  {:.1}s ({:.0} samples/s)",
            p.epochs,
            log.train_loss,
            log.val_loss,
            log.val_f1,
            log.val_accuracy,
            lr,
            seconds,
            log.samples_per_s
        );
        let improved_f1 = match best {
            None => true,
            Some((_, f1, loss)) => log.val_f1 > f1 || (log.val_f1 == f1 && log.val_loss < loss),
        };
        if improved_f1 {
            best = Some((epoch, log.val_f1, log.val_loss));
            best_weights = crate::checkpoint::variables(vs)
                .into_iter()
                .map(|(k, t)| (k, t.detach().copy()))
                .collect();
        }
        let monitored = if p.monitor == "val_loss" {
            -log.val_loss
        } else {
            log.val_f1
        };
        if monitored > best_monitor {
            best_monitor = monitored;
            since_best = 0;
        } else {
            since_best += 1;
        }
        history.push(log);
        if since_best >= p.patience {
            println!(
                "early stop: {} has not improved for {} epochs",
                p.monitor, p.patience
            );
            break;
        }
    }
    Ok(FitResult {
        history,
        best_epoch: best.map_or(0, |b| b.0),
        best: best_weights,
        train_seconds,
        samples_per_s: seen as f64 / train_seconds.max(1e-9),
    })
}

/// The precision to compute in on `device`, as `train.precision` asks.
pub fn precision(p: &TrainParams) -> Precision {
    if p.precision == "bf16" {
        Precision::Bf16
    } else {
        Precision::F32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_grad(values: &[f32]) -> Tensor {
        let t = Tensor::from_slice(values).set_requires_grad(true);
        // d(sum(t * g))/dt = g: the gradient is the tensor's own initial values.
        let g = Tensor::from_slice(values);
        (&t * &g).sum(Kind::Float).backward();
        t
    }

    fn grad(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(&t.grad()).expect("the gradient as f32")
    }

    #[test]
    fn gradients_over_the_norm_are_scaled_to_it() {
        let (a, b) = (with_grad(&[3.0, 0.0]), with_grad(&[4.0]));
        // Global norm 5; clipped to 1 every gradient is scaled by 1/5.
        clip_grad_norm(&[a.shallow_clone(), b.shallow_clone()], 1.0);
        let (ga, gb) = (grad(&a), grad(&b));
        assert!((ga[0] - 0.6).abs() < 1e-6 && ga[1] == 0.0, "{ga:?}");
        assert!((gb[0] - 0.8).abs() < 1e-6, "{gb:?}");
    }

    #[test]
    fn gradients_within_the_norm_are_left_alone() {
        let (a, b) = (with_grad(&[3.0, 0.0]), with_grad(&[4.0]));
        clip_grad_norm(&[a.shallow_clone(), b.shallow_clone()], 10.0);
        assert_eq!(grad(&a), vec![3.0, 0.0]);
        assert_eq!(grad(&b), vec![4.0]);
    }
}
