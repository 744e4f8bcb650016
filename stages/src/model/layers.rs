//! The few layers the model family is built from, over tch's raw ops.
//!
//! Our own forward passes (not `tch::nn`'s) for two reasons:
//! - mixed precision: tch's `autocast` only offers CUDA fp16, which needs a grad scaler tch
//!   lacks. With `Precision::Bf16`, matmuls and convolutions run on bf16 casts of the fp32
//!   master weights (the casts are differentiable, so gradients and AdamW stay fp32), while
//!   norms, softmax and the loss stay fp32: what `torch.autocast(dtype=bfloat16)` does.
//! - FLOP counting: while a [`FlopCounter`] is live on the thread, every matmul, convolution
//!   and attention product adds `2 x multiply-accumulates` for its actual shapes, so
//!   `evaluate` reports GFLOPs per sequence for whatever variant was built, with no
//!   hand-maintained formula per architecture.
//!
//! Weights are initialised as PyTorch's defaults do (uniform in +-1/sqrt(fan_in)), so the
//! Python reference in bench/stages trains the same thing.

use std::cell::Cell;

use tch::nn::{Init, Path};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    Bf16,
}

impl Precision {
    pub fn kind(self) -> Kind {
        match self {
            Precision::F32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }

    /// `t` in the compute precision (no copy when it already is).
    pub fn cast(self, t: &Tensor) -> Tensor {
        if t.kind() == self.kind() {
            t.shallow_clone()
        } else {
            t.to_kind(self.kind())
        }
    }
}

thread_local! {
    static FLOPS: Cell<Option<u64>> = const { Cell::new(None) };
    static SKIP_INIT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with random initialisation replaced by zeros: for building a network whose
/// weights a checkpoint is about to overwrite, without drawing from libtorch's
/// process-global generator (which a seeded run may share).
pub fn without_random_init<T>(f: impl FnOnce() -> T) -> T {
    SKIP_INIT.with(|s| s.set(true));
    let out = f();
    SKIP_INIT.with(|s| s.set(false));
    out
}

/// Whether this thread is inside [`without_random_init`] (a checkpoint is about to fill
/// the weights: nothing needs initialising, not even from a pretrained file).
pub fn random_init_skipped() -> bool {
    SKIP_INIT.with(Cell::get)
}

/// `init`, or zeros inside [`without_random_init`].
pub fn init(init: Init) -> Init {
    if SKIP_INIT.with(Cell::get) {
        Init::Const(0.0)
    } else {
        init
    }
}

/// Counts FLOPs of the forward passes run while it lives (see the module header).
pub struct FlopCounter(());

impl FlopCounter {
    pub fn start() -> Self {
        FLOPS.with(|f| f.set(Some(0)));
        FlopCounter(())
    }

    pub fn total(&self) -> u64 {
        FLOPS.with(|f| f.get().unwrap_or(0))
    }
}

impl Drop for FlopCounter {
    fn drop(&mut self) {
        FLOPS.with(|f| f.set(None));
    }
}

/// Adds `macs` multiply-accumulates (2 FLOPs each) to a live counter.
pub fn count_macs(macs: u64) {
    FLOPS.with(|f| {
        if let Some(n) = f.get() {
            f.set(Some(n + 2 * macs));
        }
    });
}

fn numel(t: &Tensor) -> u64 {
    t.size().iter().product::<i64>().max(0) as u64
}

fn pytorch_uniform(fan_in: i64) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    init(Init::Uniform {
        lo: -bound,
        up: bound,
    })
}

#[derive(Debug)]
pub struct Linear {
    pub ws: Tensor,
    pub bs: Tensor,
}

impl Linear {
    pub fn new(p: Path, i: i64, o: i64) -> Self {
        Linear {
            ws: p.var("weight", &[o, i], pytorch_uniform(i)),
            bs: p.var("bias", &[o], pytorch_uniform(i)),
        }
    }

    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let (o, i) = (self.ws.size()[0] as u64, self.ws.size()[1] as u64);
        count_macs(numel(x) / i.max(1) * i * o);
        prec.cast(x)
            .linear(&prec.cast(&self.ws), Some(prec.cast(&self.bs)))
    }
}

/// A 1-, 2- or 3-D convolution, by the weight's rank.
#[derive(Debug)]
pub struct Conv {
    pub ws: Tensor,
    /// None for a convolution followed by a norm, whose bias would be redundant.
    pub bs: Option<Tensor>,
    stride: Vec<i64>,
    padding: Vec<i64>,
}

impl Conv {
    pub fn new(p: Path, i: i64, o: i64, kernel: &[i64], stride: &[i64], padding: &[i64]) -> Self {
        let mut dims = vec![o, i];
        dims.extend_from_slice(kernel);
        let fan_in = i * kernel.iter().product::<i64>();
        Conv {
            ws: p.var("weight", &dims, pytorch_uniform(fan_in)),
            bs: Some(p.var("bias", &[o], pytorch_uniform(fan_in))),
            stride: stride.to_vec(),
            padding: padding.to_vec(),
        }
    }

    /// A convolution without a bias.
    pub fn without_bias(
        p: Path,
        i: i64,
        o: i64,
        kernel: &[i64],
        stride: &[i64],
        padding: &[i64],
    ) -> Self {
        let mut dims = vec![o, i];
        dims.extend_from_slice(kernel);
        let fan_in = i * kernel.iter().product::<i64>();
        Conv {
            ws: p.var("weight", &dims, pytorch_uniform(fan_in)),
            bs: None,
            stride: stride.to_vec(),
            padding: padding.to_vec(),
        }
    }

    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let (w, x) = (prec.cast(&self.ws), prec.cast(x));
        let b = self.bs.as_ref().map(|b| prec.cast(b));
        let dilation = vec![1i64; self.stride.len()];
        let y = match self.stride.len() {
            1 => x.conv1d(&w, b.as_ref(), &self.stride, &self.padding, &dilation, 1),
            2 => x.conv2d(&w, b.as_ref(), &self.stride, &self.padding, &dilation, 1),
            _ => x.conv3d(&w, b.as_ref(), &self.stride, &self.padding, &dilation, 1),
        };
        // Each output element: in_channels x kernel volume multiply-accumulates.
        let per_out: u64 = self.ws.size()[1..].iter().product::<i64>() as u64;
        count_macs(numel(&y) * per_out);
        y
    }
}

/// LayerNorm over the last dimension, in fp32.
#[derive(Debug)]
pub struct LayerNorm {
    ws: Tensor,
    bs: Tensor,
    dim: i64,
}

impl LayerNorm {
    pub fn new(p: Path, dim: i64) -> Self {
        LayerNorm {
            ws: p.ones("weight", &[dim]),
            bs: p.zeros("bias", &[dim]),
            dim,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.to_kind(Kind::Float)
            .layer_norm([self.dim], Some(&self.ws), Some(&self.bs), 1e-5, true)
    }
}

/// GroupNorm over channels (dim 1), in fp32: per-sample, so no batch statistics that
/// would make a prediction depend on its batch-mates or on padding.
#[derive(Debug)]
pub struct GroupNorm {
    pub ws: Tensor,
    pub bs: Tensor,
    groups: i64,
}

impl GroupNorm {
    pub fn new(p: Path, groups: i64, channels: i64) -> Self {
        GroupNorm {
            ws: p.ones("weight", &[channels]),
            bs: p.zeros("bias", &[channels]),
            groups,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.to_kind(Kind::Float)
            .group_norm(self.groups, Some(&self.ws), Some(&self.bs), 1e-5, true)
    }
}

#[derive(Debug)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    pub fn new(p: Path, dim: i64, hidden: i64) -> Self {
        Mlp {
            fc1: Linear::new(&p / "fc1", dim, hidden),
            fc2: Linear::new(&p / "fc2", hidden, dim),
        }
    }

    pub fn forward(&self, x: &Tensor, prec: Precision, dropout: f64, train: bool) -> Tensor {
        let h = self.fc1.forward(x, prec).gelu("none");
        self.fc2
            .forward(&inverted_dropout(&h, dropout, train), prec)
    }
}

/// Multi-head attention through libtorch's fused `scaled_dot_product_attention`.
/// `mask`: bool `[B, Lk]`, true = attend; every row must keep at least one key.
#[derive(Debug)]
pub struct Attention {
    q: Linear,
    kv: Linear,
    out: Linear,
    heads: i64,
}

impl Attention {
    pub fn new(p: Path, dim: i64, heads: i64) -> Self {
        Attention {
            q: Linear::new(&p / "q", dim, dim),
            kv: Linear::new(&p / "kv", dim, 2 * dim),
            out: Linear::new(&p / "out", dim, dim),
            heads,
        }
    }

    pub fn forward(
        &self,
        query: &Tensor,
        context: &Tensor,
        mask: Option<&Tensor>,
        prec: Precision,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let (qs, ks) = (query.size(), context.size());
        let (b, lq, d, lk) = (qs[0], qs[1], qs[2], ks[1]);
        let dh = d / self.heads;
        let split = |t: Tensor, l: i64| t.view([b, l, self.heads, dh]).transpose(1, 2);
        let q = split(self.q.forward(query, prec), lq);
        let kv = self.kv.forward(context, prec).chunk(2, -1);
        let (k, v) = (
            split(kv[0].shallow_clone(), lk),
            split(kv[1].shallow_clone(), lk),
        );
        let mask = mask.map(|m| m.view([b, 1, 1, lk]));
        count_macs(2 * (b * self.heads * lq * lk * dh) as u64);
        let y = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            mask,
            if train { dropout } else { 0.0 },
            false,
            None,
            false,
        );
        self.out
            .forward(&y.transpose(1, 2).reshape([b, lq, d]), prec)
    }
}

/// A pre-norm transformer encoder layer.
#[derive(Debug)]
pub struct EncoderLayer {
    ln1: LayerNorm,
    attn: Attention,
    ln2: LayerNorm,
    mlp: Mlp,
}

impl EncoderLayer {
    pub fn new(p: Path, dim: i64, heads: i64, mlp_ratio: i64) -> Self {
        EncoderLayer {
            ln1: LayerNorm::new(&p / "ln1", dim),
            attn: Attention::new(&p / "attn", dim, heads),
            ln2: LayerNorm::new(&p / "ln2", dim),
            mlp: Mlp::new(&p / "mlp", dim, dim * mlp_ratio),
        }
    }

    pub fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        prec: Precision,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let h = self.ln1.forward(x);
        let a = inverted_dropout(
            &self.attn.forward(&h, &h, mask, prec, dropout, train),
            dropout,
            train,
        );
        let x = x + a.to_kind(Kind::Float);
        let m = inverted_dropout(
            &self
                .mlp
                .forward(&self.ln2.forward(&x), prec, dropout, train),
            dropout,
            train,
        );
        x + m.to_kind(Kind::Float)
    }
}

/// A stack of encoder layers and a final norm.
#[derive(Debug)]
pub struct Encoder {
    layers: Vec<EncoderLayer>,
    norm: LayerNorm,
}

impl Encoder {
    pub fn new(p: Path, layers: usize, dim: i64, heads: i64, mlp_ratio: i64) -> Self {
        Encoder {
            layers: (0..layers)
                .map(|i| EncoderLayer::new(&p / format!("layer{i}"), dim, heads, mlp_ratio))
                .collect(),
            norm: LayerNorm::new(&p / "norm", dim),
        }
    }

    pub fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        prec: Precision,
        dropout: f64,
        train: bool,
    ) -> Tensor {
        let mut x = x.to_kind(Kind::Float);
        for layer in &self.layers {
            x = layer.forward(&x, mask, prec, dropout, train);
        }
        self.norm.forward(&x)
    }
}

/// Inverted dropout: in training, each element is zeroed with probability `p` and the rest
/// scaled by `1 / (1 - p)`; outside training `x` itself.
///
/// On the CPU the keep mask is drawn as 16-bit words, four from each 64-bit draw of the
/// generator (`torch.dropout` draws once per element; training at the CPU defaults went
/// from 1.08x to 1.13x the PyTorch eager script's samples/s, book: Performance). So `p` is
/// applied in steps of 1/65536 (0.1 becomes 6554/65536 = 0.100006), with the scale matched
/// to the rate applied, and the stream differs from `torch.dropout`'s. Elsewhere, and for
/// the attention weights inside `scaled_dot_product_attention`, libtorch's own kernel runs.
pub fn inverted_dropout(x: &Tensor, p: f64, train: bool) -> Tensor {
    if !train || p <= 0.0 {
        return x.shallow_clone();
    }
    let cut = (p * 65536.0).round() as i64;
    if x.device() != Device::Cpu || cut >= 65536 {
        return x.dropout(p, train);
    }
    let n = x.numel() as i64;
    // Uniform over every i64 (but i64::MAX): each 16-bit quarter is uniform over i16.
    let words = Tensor::randint_low(
        i64::MIN,
        i64::MAX,
        [(n + 3) / 4],
        (Kind::Int64, Device::Cpu),
    );
    let keep = words
        .view_dtype(Kind::Int16)
        .narrow(0, 0, n)
        .view(x.size().as_slice())
        .ge(cut - 32768);
    let scale = 65536.0 / (65536 - cut) as f64;
    x * (keep.to_kind(x.kind()) * scale)
}

/// A learnable tensor initialised N(0, 0.02), for tokens and position embeddings.
pub fn embedding(p: &Path, name: &str, dims: &[i64]) -> Tensor {
    p.var(
        name,
        dims,
        init(Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        }),
    )
}
