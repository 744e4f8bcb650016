//! The five tube encoders of the local branch, each on its own: output shapes, masking
//! (padded frames change nothing), gradients reaching every parameter, and a few steps on a
//! tiny batch lowering the loss; and r3d's initialisation from a pretrained file.

use std::path::Path;

use pipe_stages::model::local::{LocalBranch, TubeNet};
use pipe_stages::model::{ModelConfig, Precision, SmokeNet};
use tch::nn::{OptimizerConfig, VarStore};
use tch::{Device, Kind, Reduction, Tensor, nn};

use crate::support::{frames, scratch, tiny_config, torch_rng};

/// Each encoder with the keys that size it (tiny: 16-d, 8 px cells, 4-frame windows).
const ENCODERS: &[(&str, &str)] = &[
    ("tubelet_transformer", ""),
    ("vivit", ""),
    ("r3d", "tube_channels = 2"),
    ("conv_lstm", "tube_channels = 8\ntube_layers = 2"),
    ("tsm", "tube_channels = 8\ntube_layers = 2"),
];

fn config(encoder: &str, extra: &str) -> ModelConfig {
    tiny_config(&format!(
        "tube_encoder = \"{encoder}\"\nwindow = 4\nstride = 2\n{extra}"
    ))
}

fn build_net(c: &ModelConfig, seed: i64) -> (VarStore, TubeNet) {
    let _rng = torch_rng();
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let net = TubeNet::new(&(vs.root() / "tubes"), c, Path::new("."))
        .unwrap_or_else(|e| panic!("{}: {e}", c.tube_encoder));
    (vs, net)
}

/// Random normalised tubes `[n, 3, 4, 8, 8]`.
fn tubes(n: i64) -> Tensor {
    let _rng = torch_rng();
    Tensor::randn([n, 3, 4, 8, 8], (Kind::Float, Device::Cpu))
}

#[test]
fn every_encoder_maps_a_tube_to_one_vector() {
    for (enc, extra) in ENCODERS {
        let c = config(enc, extra);
        let (_vs, net) = build_net(&c, 0);
        let y = net.forward(&tubes(5), None, Precision::F32, 0.0, false);
        assert_eq!(y.size(), vec![5, 16], "{enc}");
        assert_eq!(y.kind(), Kind::Float, "{enc}");
        assert!(bool::try_from(y.isfinite().all()).unwrap(), "{enc}");
        // In the local branch: 6 frames, windows of 4 every 2 -> 2 windows x 4 cells.
        let _rng = torch_rng();
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let branch = LocalBranch::new(vs.root() / "tubelets", &c, Path::new(".")).unwrap();
        let x = Tensor::randn([3, 6, 3, 16, 16], (Kind::Float, Device::Cpu));
        let (v, mask) = branch.forward(
            &x,
            &Tensor::from_slice(&[6i64, 4, 2]),
            Precision::F32,
            0.0,
            false,
        );
        assert_eq!(v.size(), vec![3, 8, 16], "{enc}");
        // Window 1 (frames 2..6) is real for the 6-frame sequence only; window 0 always.
        let m: Vec<bool> = Vec::try_from(mask.select(1, 1).to_kind(Kind::Int64).ne(0)).unwrap();
        let m1: Vec<bool> = Vec::try_from(mask.select(1, 0).to_kind(Kind::Int64).ne(0)).unwrap();
        assert_eq!(
            (m, m1),
            (vec![true, false, false], vec![true, true, true]),
            "{enc}"
        );
    }
}

#[test]
fn padded_frames_of_a_tube_change_nothing() {
    // Tube 0 has 4 real frames, tube 1 two, tube 2 one: scribbling over the padded frames
    // leaves every vector as it was, and changing a real frame does not.
    let real = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0])
        .view([3, 4])
        .ne(0);
    for (enc, extra) in ENCODERS {
        let c = config(enc, extra);
        let (_vs, net) = build_net(&c, 1);
        let x = tubes(3);
        let padded = real.logical_not().view([3, 1, 4, 1, 1]);
        let y = x.where_self(&padded.logical_not(), &(tubes(3) * 5.0));
        let a = net.forward(&x, Some(&real), Precision::F32, 0.0, false);
        let b = net.forward(&y, Some(&real), Precision::F32, 0.0, false);
        assert!(
            a.allclose(&b, 1e-5, 1e-5, false),
            "{enc}: padded frames leak"
        );
        let z = x.copy();
        z.narrow(0, 1, 1)
            .narrow(2, 1, 1)
            .copy_(&(tubes(1).narrow(2, 0, 1) * 3.0));
        let d = net.forward(&z, Some(&real), Precision::F32, 0.0, false);
        let moved = f64::try_from((a.get(1) - d.get(1)).abs().max()).unwrap();
        assert!(moved > 1e-6, "{enc}: a real frame is ignored");
        assert!(
            a.get(0).allclose(&d.get(0), 1e-6, 1e-6, false),
            "{enc}: tubes leak"
        );
    }
}

#[test]
fn a_sequence_shorter_than_a_window_ignores_its_padding() {
    // Through the whole model: 6 frames, windows of 4; sequence 1 has 2 real frames, so
    // its one tube is half padding.
    for (enc, extra) in ENCODERS {
        let _rng = torch_rng();
        tch::manual_seed(2);
        let vs = VarStore::new(Device::Cpu);
        let net = SmokeNet::new(&vs, &config(enc, extra), Path::new(".")).unwrap();
        drop(_rng);
        let x = frames(2, 6, 16);
        let len = Tensor::from_slice(&[6i64, 2]);
        let y = x.copy();
        y.narrow(0, 1, 1).narrow(1, 2, 4).copy_(&frames(1, 4, 16));
        let a = net.forward(&x, &len, false).unwrap();
        let b = net.forward(&y, &len, false).unwrap();
        assert!(a.allclose(&b, 1e-5, 1e-5, false), "{enc}: {a:?} vs {b:?}");
    }
}

#[test]
fn gradients_reach_every_encoder_parameter() {
    for (enc, extra) in ENCODERS {
        let c = config(enc, extra);
        let (vs, net) = build_net(&c, 3);
        let real = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 1, 0])
            .view([2, 4])
            .ne(0);
        let y = net.forward(&tubes(2), Some(&real), Precision::F32, 0.1, true);
        let w = tubes(1).reshape([-1]).narrow(0, 0, 32).view([2, 16]);
        (y * w).sum(Kind::Float).backward();
        let vars = vs.variables();
        assert!(vars.len() > 3, "{enc}: {} variables", vars.len());
        for (name, t) in vars {
            let g = t.grad();
            assert!(g.defined(), "{enc}: no gradient for {name}");
            let norm = f64::try_from(g.norm()).unwrap();
            assert!(
                norm.is_finite() && norm > 0.0,
                "{enc}: {name} gradient {norm}"
            );
        }
    }
}

#[test]
fn a_few_steps_on_a_tiny_batch_lower_the_loss() {
    // The local branch alone (no global branch), 8 sequences with fixed labels.
    for (enc, extra) in ENCODERS {
        let _rng = torch_rng();
        tch::manual_seed(4);
        let vs = VarStore::new(Device::Cpu);
        let c = config(enc, &format!("{extra}\nglobal_branch = false"));
        let net = SmokeNet::new(&vs, &c, Path::new(".")).unwrap();
        let x = Tensor::randint(256, [8, 6, 3, 16, 16], (Kind::Uint8, Device::Cpu));
        let len = Tensor::from_slice(&[6i64, 6, 5, 4, 6, 6, 3, 6]);
        let target = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
        let mut opt = nn::Adam::default().build(&vs, 3e-3).unwrap();
        let loss = |train: bool| {
            net.forward(&x, &len, train)
                .unwrap()
                .binary_cross_entropy_with_logits::<Tensor>(&target, None, None, Reduction::Mean)
        };
        let before = f64::try_from(tch::no_grad(|| loss(false))).unwrap();
        for _ in 0..30 {
            opt.backward_step(&loss(true));
        }
        let after = f64::try_from(tch::no_grad(|| loss(false))).unwrap();
        assert!(after < 0.8 * before, "{enc}: loss {before} -> {after}");
    }
}

/// The tensors of a tiny torchvision-layout r3d_18 (widths 2, 4, 8, 16), named as its
/// `state_dict`, BatchNorm statistics and classifier included.
fn r3d_state_dict() -> Vec<(String, Tensor)> {
    let _rng = torch_rng();
    tch::manual_seed(9);
    let mut out = Vec::new();
    let mut conv_bn = |name: &str, cin: i64, cout: i64, k: &[i64]| {
        let mut dims = vec![cout, cin];
        dims.extend_from_slice(k);
        out.push((
            format!("{name}.0.weight"),
            Tensor::randn(dims, (Kind::Float, Device::Cpu)),
        ));
        for (p, scale) in [
            ("weight", 1.0),
            ("bias", 0.1),
            ("running_mean", 0.1),
            ("running_var", 1.0),
        ] {
            out.push((
                format!("{name}.1.{p}"),
                Tensor::rand([cout], (Kind::Float, Device::Cpu)) * scale + 0.5,
            ));
        }
        out.push((
            format!("{name}.1.num_batches_tracked"),
            Tensor::from_slice(&[7i64]),
        ));
    };
    conv_bn("stem", 3, 2, &[3, 7, 7]);
    let mut cin = 2;
    for stage in 0..4 {
        let cout = 2 << stage;
        for b in 0..2 {
            let name = format!("layer{}.{b}", stage + 1);
            conv_bn(&format!("{name}.conv1"), cin, cout, &[3, 3, 3]);
            conv_bn(&format!("{name}.conv2"), cout, cout, &[3, 3, 3]);
            if stage > 0 && b == 0 {
                conv_bn(&format!("{name}.downsample"), cin, cout, &[1, 1, 1]);
            }
            cin = cout;
        }
    }
    out.push((
        "fc.weight".into(),
        Tensor::randn([400, 16], (Kind::Float, Device::Cpu)),
    ));
    out.push((
        "fc.bias".into(),
        Tensor::randn([400], (Kind::Float, Device::Cpu)),
    ));
    out
}

fn r3d_from(file: &Path) -> Result<(VarStore, SmokeNet), pipe_stages::StageError> {
    let _rng = torch_rng();
    tch::manual_seed(5);
    let vs = VarStore::new(Device::Cpu);
    let c = config(
        "r3d",
        &format!(
            "tube_channels = 2\ntube_pretrained = {:?}",
            file.display().to_string()
        ),
    );
    let net = SmokeNet::new(&vs, &c, Path::new("."))?;
    Ok((vs, net))
}

#[test]
fn r3d_starts_from_a_safetensors_state_dict() {
    let dir = scratch("r3d-safetensors");
    let file = dir.join("r3d_tiny.safetensors");
    let state = r3d_state_dict();
    Tensor::write_safetensors(&state, &file).unwrap();
    let (vs, _net) = r3d_from(&file).unwrap();
    let vars = vs.variables();
    let mut copied = 0;
    for (name, t) in &state {
        if let Some(v) = vars.get(&format!("tubelets.{name}")) {
            assert!(v.equal(t), "{name} not copied");
            copied += 1;
        }
    }
    // 20 convolutions with a norm each (weight, bias): every one of them.
    assert_eq!(copied, 20 * 3, "tensors copied");
    for skipped in ["running_mean", "running_var", "num_batches_tracked"] {
        assert!(
            !vars.keys().any(|k| k.contains(skipped)),
            "{skipped} is not a variable"
        );
    }
    assert!(!vars.contains_key("tubelets.fc.weight"));
    // Without the file the same seed gives other weights: the file did the copying.
    let _rng = torch_rng();
    tch::manual_seed(5);
    let vs2 = VarStore::new(Device::Cpu);
    let _n = SmokeNet::new(&vs2, &config("r3d", "tube_channels = 2"), Path::new(".")).unwrap();
    let stem = "tubelets.stem.0.weight";
    assert!(!vs2.variables()[stem].equal(&vars[stem]));
}

/// The python of the venv that holds torch: `PIPE_TEST_PYTHON`, else the workspace's
/// `.venv/bin/python` (the link the test environment sets up).
fn python() -> std::path::PathBuf {
    std::env::var_os("PIPE_TEST_PYTHON").map_or_else(
        || crate::support::package_dir().join("../.venv/bin/python"),
        Into::into,
    )
}

#[test]
fn r3d_starts_from_a_torchscript_module() {
    // torch.jit.script of the same layout at widths 2..16, made now by
    // stages/tests/fixtures/make_r3d_tiny.py (no binary fixture in the repository).
    let fixture = scratch("r3d-torchscript").join("r3d_tiny.pt");
    let script = crate::support::package_dir().join("tests/fixtures/make_r3d_tiny.py");
    let py = python();
    let out = std::process::Command::new(&py)
        .arg(&script)
        .arg(&fixture)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (set PIPE_TEST_PYTHON to a python with torch)",
                py.display()
            )
        });
    assert!(
        out.status.success(),
        "{} {}: {}",
        py.display(),
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let module = tch::CModule::load(&fixture).unwrap();
    let params: std::collections::HashMap<String, Tensor> =
        module.named_parameters().unwrap().into_iter().collect();
    let (vs, _net) = r3d_from(&fixture).unwrap();
    let vars = vs.variables();
    for name in [
        "stem.0.weight",
        "layer3.0.downsample.1.bias",
        "layer4.1.conv2.0.weight",
    ] {
        assert!(
            vars[&format!("tubelets.{name}")].equal(&params[name]),
            "{name} not copied from the TorchScript module"
        );
    }
}

#[test]
fn a_pretrained_file_that_does_not_fit_is_a_clear_error() {
    let dir = scratch("r3d-bad");
    // Widths 2.. in the file, 4.. in the model.
    let file = dir.join("r3d.safetensors");
    Tensor::write_safetensors(&r3d_state_dict(), &file).unwrap();
    let _rng = torch_rng();
    let vs = VarStore::new(Device::Cpu);
    let c = config(
        "r3d",
        &format!(
            "tube_channels = 4\ntube_pretrained = {:?}",
            file.display().to_string()
        ),
    );
    let e = SmokeNet::new(&vs, &c, Path::new("."))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("r3d.safetensors")
            && e.contains(
                "`stem.0.weight` is [2, 3, 3, 7, 7] there, the model's is [4, 3, 3, 7, 7]"
            ),
        "{e}"
    );
    assert!(e.contains("tube_channels"), "{e}");
    drop(_rng);
    // A file without the names r3d reads.
    let other = dir.join("other.safetensors");
    Tensor::write_safetensors(
        &[(
            "backbone.conv.weight".to_string(),
            Tensor::ones([2], (Kind::Float, Device::Cpu)),
        )],
        &other,
    )
    .unwrap();
    let e = r3d_from(&other).err().unwrap().to_string();
    assert!(
        e.contains("no tensor `stem.0.weight`") && e.contains("backbone.conv.weight"),
        "{e}"
    );
    // Neither format.
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"not weights at all").unwrap();
    let e = r3d_from(&junk).err().unwrap().to_string();
    assert!(
        e.contains("junk.bin: neither a safetensors nor a TorchScript file"),
        "{e}"
    );
    let e = r3d_from(&dir.join("missing.pt")).err().unwrap().to_string();
    assert!(
        e.contains("missing.pt: pretrained weights file not found"),
        "{e}"
    );
    // Only r3d reads one.
    let t = crate::support::table("[model]\ntube_pretrained = \"x.pt\"\n");
    let e = ModelConfig::from_params(&t).unwrap_err().to_string();
    assert!(
        e.contains("model.tube_pretrained") && e.contains("r3d"),
        "{e}"
    );
}
