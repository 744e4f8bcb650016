//! Shapes, masking and gradient flow of every model variant.

use std::path::Path;

use pipe_stages::model::{SmokeNet, param_count};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::support::{frames, tiny_config};

const VARIANTS: &[&str] = &[
    "aggregator = \"transformer\"",
    "aggregator = \"lstm\"",
    "aggregator = \"gru\"",
    "aggregator = \"mlp\"",
    "aggregator = \"conv1d\"",
    "aggregator = \"linear_wavg\"",
    "fusion = \"weighted_mean\"",
    "fusion = \"weighted_mean\"\nglobal_branch = false",
    "global_branch = false",
    "local_branch = false",
    "local_branch = false\naggregator = \"gru\"",
    "fusion_layers = 0",
    "grid = 4\ntubelet_size = 2",
    "window = 4\nstride = 1",
];

fn build(extra: &str) -> (VarStore, SmokeNet) {
    let _rng = crate::support::torch_rng();
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let cfg = tiny_config(extra);
    let net = SmokeNet::new(&vs, &cfg, Path::new(".")).unwrap_or_else(|e| panic!("{extra}: {e}"));
    (vs, net)
}

#[test]
fn every_variant_gives_one_finite_logit_per_sequence() {
    for v in VARIANTS {
        let (vs, net) = build(v);
        let x = frames(3, 6, 16);
        let len = Tensor::from_slice(&[6i64, 4, 1]);
        let y = net.forward(&x, &len, false).unwrap();
        assert_eq!(y.size(), vec![3], "{v}");
        assert!(
            bool::try_from(y.isfinite().all()).unwrap(),
            "{v}: non-finite logits"
        );
        assert!(param_count(&vs) > 0);
    }
}

#[test]
fn padded_frames_never_change_the_output() {
    for v in VARIANTS {
        let (_vs, net) = build(v);
        let x = frames(2, 6, 16);
        let len = Tensor::from_slice(&[6i64, 3]);
        // Sequence 1 has 3 real frames: scribble over frames 3.. and compare.
        let y = x.copy();
        y.narrow(0, 1, 1).narrow(1, 3, 3).copy_(&frames(1, 3, 16));
        let a = net.forward(&x, &len, false).unwrap();
        let b = net.forward(&y, &len, false).unwrap();
        assert!(a.allclose(&b, 1e-6, 1e-6, false), "{v}: {a:?} vs {b:?}");
        // ...while the real frames do matter.
        let z = x.copy();
        z.narrow(0, 1, 1).narrow(1, 0, 3).copy_(&frames(1, 3, 16));
        let c = net.forward(&z, &len, false).unwrap();
        assert!(
            f64::try_from((a.get(1) - c.get(1)).abs()).unwrap() > 1e-7,
            "{v}: real frames ignored"
        );
        assert!(
            a.get(0).allclose(&c.get(0), 1e-6, 1e-6, false),
            "{v}: batch-mates leak"
        );
    }
}

#[test]
fn aggregators_ignore_masked_frame_vectors() {
    use pipe_stages::model::aggregator::Aggregator;
    use pipe_stages::model::layers::Precision;
    for kind in ["transformer", "lstm", "gru", "mlp", "conv1d", "linear_wavg"] {
        let _rng = crate::support::torch_rng();
        tch::manual_seed(1);
        let vs = VarStore::new(Device::Cpu);
        let cfg = tiny_config(&format!("aggregator = \"{kind}\""));
        let agg = Aggregator::new(&vs.root() / "agg", &cfg);
        let v = Tensor::randn([2, 6, 16], (Kind::Float, Device::Cpu));
        let len = Tensor::from_slice(&[6i64, 2]);
        let mask = SmokeNet::frame_mask(&len, 6);
        let w = v.copy();
        w.narrow(0, 1, 1)
            .narrow(1, 2, 4)
            .copy_(&Tensor::randn([1, 4, 16], (Kind::Float, Device::Cpu)));
        let a = agg.forward(&v, &mask, &len, Precision::F32, 0.0, false);
        let b = agg.forward(&w, &mask, &len, Precision::F32, 0.0, false);
        assert_eq!(a.size(), vec![2, 16]);
        assert!(
            a.allclose(&b, 1e-6, 1e-6, false),
            "{kind} reads masked frames"
        );
    }
}

#[test]
fn gradients_reach_every_parameter() {
    for v in VARIANTS {
        let (vs, net) = build(v);
        let x = frames(4, 6, 16);
        let len = Tensor::from_slice(&[6i64, 5, 6, 4]);
        let target = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0]);
        let loss = net
            .forward(&x, &len, true)
            .unwrap()
            .binary_cross_entropy_with_logits::<Tensor>(&target, None, None, tch::Reduction::Mean);
        loss.backward();
        assert!(!vs.variables().is_empty(), "{v}: no parameters");
        for (name, t) in vs.variables() {
            let g = t.grad();
            assert!(g.defined(), "{v}: no gradient for {name}");
            let norm = f64::try_from(g.norm()).unwrap();
            assert!(norm.is_finite(), "{v}: {name} gradient not finite");
            assert!(norm > 0.0, "{v}: zero gradient for {name}");
        }
    }
}

#[test]
fn tube_count_matches_the_geometry() {
    // 6 frames, window 2 stride 2 -> 3 windows; grid 2 -> 4 cells: 12 tubes.
    let c = tiny_config("");
    assert_eq!((c.windows(), c.tubes()), (3, 12));
    let c = tiny_config("window = 4\nstride = 1");
    assert_eq!(c.tubes(), 4 * 3);
    // The study's default geometry: 16 frames, window 4 stride 2, 2x2 grid -> 28 tubes.
    let mut c = tiny_config("window = 4");
    c.frames = 16;
    assert_eq!(c.tubes(), 28);
}

#[test]
fn bad_geometry_is_a_clear_error() {
    use pipe_stages::model::ModelConfig;
    let t = crate::support::table("[model]\ngrid = 3\n");
    let err = ModelConfig::from_params(&t)
        .unwrap()
        .with_data(16, 32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.grid = 3 does not divide the patch size 32"),
        "{err}"
    );
    let t = crate::support::table("[model]\nwindow = 8\n");
    let err = ModelConfig::from_params(&t)
        .unwrap()
        .with_data(6, 32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.window = 8 is longer"), "{err}");
    let t = crate::support::table("[model]\nglobal_branch = false\nlocal_branch = false\n");
    assert!(ModelConfig::from_params(&t).is_err());
    let t = crate::support::table("[model]\naggregator = \"rnn\"\n");
    let err = ModelConfig::from_params(&t).unwrap_err().to_string();
    assert!(
        err.contains("model.aggregator") && err.contains("transformer, lstm"),
        "{err}"
    );
}

#[test]
fn flops_grow_with_the_grid() {
    let (_a, small) = build("");
    let (_b, fine) = build("grid = 4\ntubelet_size = 2");
    let f1 = small.flops_per_sequence(Device::Cpu).unwrap();
    let f2 = fine.flops_per_sequence(Device::Cpu).unwrap();
    assert!(f1 > 0 && f2 > f1, "{f1} {f2}");
}

#[test]
fn bf16_compute_keeps_fp32_master_weights() {
    use pipe_stages::model::Precision;
    for v in VARIANTS {
        let (vs, mut net) = build(v);
        net.precision = Precision::Bf16;
        let x = frames(2, 6, 16);
        let len = Tensor::from_slice(&[6i64, 3]);
        let y = net.forward(&x, &len, true).unwrap();
        assert_eq!(y.kind(), Kind::Float, "{v}: logits in fp32");
        let target = Tensor::from_slice(&[1.0f32, 0.0]);
        y.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, tch::Reduction::Mean)
            .backward();
        assert!(!vs.variables().is_empty(), "{v}: no parameters");
        for (name, t) in vs.variables() {
            assert_eq!(t.kind(), Kind::Float, "{v}: {name} master weight");
            let g = t.grad();
            assert!(
                g.defined() && g.kind() == Kind::Float,
                "{v}: {name} gradient"
            );
            assert!(f64::try_from(g.norm()).unwrap().is_finite(), "{v}: {name}");
        }
        // bf16 changes the numbers, but not by much.
        net.precision = Precision::F32;
        let z = net.forward(&x, &len, false).unwrap();
        net.precision = Precision::Bf16;
        let w = net.forward(&x, &len, false).unwrap();
        assert!(z.allclose(&w, 0.1, 0.1, false), "{v}: {z:?} vs {w:?}");
    }
}

#[test]
fn dropout_drops_at_its_rate_and_keeps_the_expected_value() {
    use pipe_stages::model::layers::inverted_dropout;
    let _rng = crate::support::torch_rng();
    let x = Tensor::ones([200_000], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    tch::manual_seed(5);
    let y = inverted_dropout(&x, 0.1, true);
    let dropped = f64::try_from(y.eq(0.0).to_kind(Kind::Float).mean(Kind::Float)).unwrap();
    assert!((dropped - 0.1).abs() < 0.003, "dropped {dropped}");
    // The survivors carry 1 / (1 - p) for the rate applied (6554 / 65536).
    let scale = 65536.0 / (65536.0 - 6554.0);
    let kept = y.masked_select(&y.ne(0.0));
    let (lo, hi) = (
        f64::try_from(kept.min()).unwrap(),
        f64::try_from(kept.max()).unwrap(),
    );
    assert!(
        (lo - scale).abs() < 1e-6 && (hi - scale).abs() < 1e-6,
        "{lo} {hi}"
    );
    let mean = f64::try_from(y.mean(Kind::Float)).unwrap();
    assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
    // The gradient is the same mask and scale.
    y.sum(Kind::Float).backward();
    assert!(x.grad().allclose(&y.detach(), 0.0, 0.0, false));
    // The same seed draws the same mask; another seed another one.
    tch::manual_seed(5);
    let again = inverted_dropout(&x.detach(), 0.1, true);
    assert!(again.equal(&y.detach()));
    tch::manual_seed(6);
    assert!(!inverted_dropout(&x.detach(), 0.1, true).equal(&y.detach()));
    // Outside training, and at p = 0, it is the identity; at p = 1 everything is dropped.
    assert!(inverted_dropout(&x, 0.1, false).equal(&x));
    assert!(inverted_dropout(&x, 0.0, true).equal(&x));
    let all = inverted_dropout(&x.detach(), 1.0, true);
    assert_eq!(f64::try_from(all.abs().sum(Kind::Float)).unwrap(), 0.0);
    // Any shape: a [3, 5, 7] input (not a multiple of four elements) keeps its shape.
    let odd = inverted_dropout(
        &Tensor::ones([3, 5, 7], (Kind::Float, Device::Cpu)),
        0.5,
        true,
    );
    assert_eq!(odd.size(), vec![3, 5, 7]);
}
