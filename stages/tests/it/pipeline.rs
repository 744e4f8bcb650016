//! Training, evaluation, packaging and prediction on the tiny fixture, end to end.

use std::path::PathBuf;
use std::sync::OnceLock;

use pipe_stages::checkpoint;
use pipe_stages::dataset::{load_split, read_index};
use pipe_stages::fit::score;
use pipe_stages::model::SmokeNet;
use pipe_stages::raw::Split;
use tch::Device;
use tch::nn::VarStore;

use crate::support::{TINY, data, read_json, run, scratch, train};

struct Trained {
    dir: PathBuf,
    ckpt: PathBuf,
    eval: PathBuf,
    package: PathBuf,
}

/// One training run, evaluated and packaged, shared by the tests below.
fn trained() -> &'static Trained {
    static T: OnceLock<Trained> = OnceLock::new();
    T.get_or_init(|| {
        let dir = scratch("trained");
        let ckpt = train(&dir, TINY);
        let (eval, pr, package) = (
            dir.join("eval.json"),
            dir.join("pr.csv"),
            dir.join("model.zip"),
        );
        run(
            "evaluate",
            TINY,
            &[&data().input, &ckpt],
            &[],
            &[&eval],
            &[&pr],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        run("package", TINY, &[&ckpt, &eval], &[&package], &[], &[])
            .unwrap_or_else(|e| panic!("{e}"));
        Trained {
            dir,
            ckpt,
            eval,
            package,
        }
    })
}

#[test]
fn every_stage_runs_in_sequence() {
    let t = trained();
    let train_json = read_json(&t.dir.join("train.json"));
    assert_eq!(train_json["epochs_run"], 2);
    assert!(train_json["samples_per_s"].as_f64().unwrap() > 0.0);
    // The cost columns of a sweep table: time per epoch, size, loss and peak memory.
    assert!(train_json["seconds_per_epoch"].as_f64().unwrap() > 0.0);
    assert!(train_json["params_m"].as_f64().unwrap() > 0.0);
    assert!(train_json["best_val_loss"].as_f64().unwrap().is_finite());
    let cpu_mb = train_json["peak_cpu_mem_mb"]
        .as_f64()
        .expect("peak_cpu_mem_mb");
    assert!(cpu_mb > 10.0, "libtorch alone is bigger: {cpu_mb}");
    let on_cuda = train_json["device"].as_str().unwrap().starts_with("cuda");
    if !on_cuda {
        assert!(
            train_json.get("peak_gpu_mem_mb").is_none(),
            "GPU memory only on CUDA: {train_json}"
        );
    }
    let curve = std::fs::read_to_string(t.dir.join("curve.csv")).unwrap();
    assert_eq!(curve.lines().count(), 3, "header + 2 epochs");
    assert!(curve.starts_with("epoch,train_loss,val_loss,val_f1"));

    let m = read_json(&t.eval);
    for key in [
        "f1",
        "accuracy",
        "precision",
        "recall",
        "pr_auc",
        "recall_at_fpr_1pct",
        "tn",
        "fp",
        "fn",
        "tp",
        "params",
        "params_m",
        "gflops",
        "latency_ms",
        "n",
    ] {
        assert!(
            m[key].is_number(),
            "evaluate metrics lack a numeric `{key}`: {m}"
        );
    }
    let count = |k: &str| m[k].as_u64().unwrap();
    assert_eq!(
        count("tn") + count("fp") + count("fn") + count("tp"),
        count("n")
    );
    assert_eq!(
        count("n"),
        8,
        "every val sequence counted, with or without a tube"
    );
    for key in ["f1", "accuracy", "pr_auc", "recall_at_fpr_1pct"] {
        let v = m[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    // The top level is the held-out test split; val (which chose the checkpoint) is marked.
    assert_eq!(m["split"], "test", "{m}");
    let val = &m["val"];
    assert_eq!(val["n"].as_u64(), Some(8), "val metrics: {m}");
    assert!(
        val["f1"].is_number() && val["fpr_by_kind"].is_object(),
        "{m}"
    );
    // One rate per look-alike kind among the test negatives, over all 4 of them.
    let by_kind = m["fpr_by_kind"].as_object().expect("fpr_by_kind");
    let negatives = m["negatives_by_kind"]
        .as_object()
        .expect("negatives_by_kind");
    assert!(!by_kind.is_empty(), "{m}");
    let total: u64 = negatives.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 4, "test negatives by kind: {m}");
    for (k, v) in by_kind {
        assert!(
            ["steady_plume", "smooth_plume", "cloud_bank"].contains(&k.as_str()),
            "a test negative of kind {k}"
        );
        assert!((0.0..=1.0).contains(&v.as_f64().unwrap()), "{k}: {v}");
    }
    assert!(m["gflops"].as_f64().unwrap() > 0.0);
    let pr = std::fs::read_to_string(t.dir.join("pr.csv")).unwrap();
    assert!(pr.starts_with("threshold,precision,recall,fpr\n") && pr.lines().count() > 2);

    let bench = t.dir.join("bench.json");
    run("benchmark", TINY, &[&t.package], &[], &[&bench], &[]).unwrap();
    let b = read_json(&bench);
    for key in [
        "throughput_seq_per_s",
        "latency_p50_ms",
        "latency_p95_ms",
        "peak_mem_mb",
    ] {
        assert!(
            b[key].as_f64().is_some_and(|v| v > 0.0),
            "benchmark `{key}`: {b}"
        );
    }
    assert!(b["latency_p95_ms"].as_f64() >= b["latency_p50_ms"].as_f64());
}

#[test]
fn two_epochs_lower_the_training_loss() {
    let d = data();
    let index = read_index(&d.input).unwrap();
    let loaded = checkpoint::load_model(&trained().ckpt, Device::Cpu, ".".as_ref()).unwrap();
    let train_split =
        load_split(&d.input, &index, Split::Train, loaded.meta.config.frames).unwrap();
    // The same architecture at its initial weights (the training run's seed, 0).
    let vs = VarStore::new(Device::Cpu);
    let fresh = {
        let _rng = crate::support::torch_rng();
        tch::manual_seed(0);
        SmokeNet::new(&vs, &loaded.meta.config, ".".as_ref()).unwrap()
    };
    let (_, before) = score(&fresh, &train_split, 8, Device::Cpu).unwrap();
    let (_, after) = score(&loaded.model, &train_split, 8, Device::Cpu).unwrap();
    assert!(after < before, "train loss {before} -> {after}");
}

#[test]
fn same_seed_gives_a_bit_identical_checkpoint() {
    let a = train(&scratch("seed-a"), TINY);
    let b = train(&scratch("seed-b"), TINY);
    let bytes = |p: &PathBuf| std::fs::read(p).unwrap();
    assert!(bytes(&a) == bytes(&b), "same seed, different checkpoints");
    let c = train(
        &scratch("seed-c"),
        &TINY.replace("epochs = 2", "epochs = 2\nseed = 1"),
    );
    assert!(bytes(&a) != bytes(&c), "the seed changes nothing");
}

#[test]
fn package_predictions_match_evaluation() {
    let t = trained();
    let d = data();
    let names: Vec<String> = zip::ZipArchive::new(std::fs::File::open(&t.package).unwrap())
        .unwrap()
        .file_names()
        .map(|n| n.map(String::from).unwrap_or_default())
        .collect();
    for member in [
        "model.safetensors",
        "params.toml",
        "metrics.json",
        "manifest.json",
    ] {
        assert!(
            names.iter().any(|n| n == member),
            "package lacks {member}: {names:?}"
        );
    }
    // Scores of the checkpoint on the model input...
    let index = read_index(&d.input).unwrap();
    let loaded = checkpoint::load_model(&t.ckpt, Device::Cpu, ".".as_ref()).unwrap();
    let val = load_split(&d.input, &index, Split::Val, loaded.meta.config.frames).unwrap();
    let (scores, _) = score(&loaded.model, &val, 4, Device::Cpu).unwrap();
    // ...equal predict's on the raw sequences, through the package.
    let seqs = pipe_stages::raw::layout::scan(&d.truncated).unwrap();
    let mut checked = 0;
    for (name, want) in val.names.iter().zip(&scores) {
        let seq = seqs.iter().find(|s| &s.name == name).unwrap();
        let p = pipe_stages::predict(&t.package, &seq.dir, "cpu").unwrap();
        assert!(
            (p.score - want).abs() < 1e-5,
            "{name}: predict {} vs evaluate {want}",
            p.score
        );
        assert_eq!(p.label, u8::from(p.score >= 0.5));
        assert!(p.frames_used > 0 && p.tube.is_some());
        checked += 1;
    }
    assert!(checked > 0);
    // The package is deterministic: packaging again gives the same bytes.
    let again = scratch("package-again").join("model.zip");
    run("package", TINY, &[&t.ckpt, &t.eval], &[&again], &[], &[]).unwrap();
    assert!(std::fs::read(&again).unwrap() == std::fs::read(&t.package).unwrap());
}

#[test]
fn loading_a_checkpoint_leaves_the_generator_alone() {
    // A seeded run may share the process with loads (tests do): a load must not draw.
    let ckpt = &trained().ckpt;
    let _rng = crate::support::torch_rng();
    let draw = || {
        f64::try_from(
            tch::Tensor::randn([4], (tch::Kind::Float, Device::Cpu)).sum(tch::Kind::Double),
        )
        .unwrap()
    };
    tch::manual_seed(5);
    let want = draw();
    tch::manual_seed(5);
    let _loaded = checkpoint::load_model(ckpt, Device::Cpu, ".".as_ref()).unwrap();
    assert_eq!(draw(), want);
}

#[test]
fn building_without_random_init_draws_nothing_for_any_variant() {
    use pipe_stages::model::layers::without_random_init;
    let _rng = crate::support::torch_rng();
    let draw = || {
        f64::try_from(
            tch::Tensor::randn([4], (tch::Kind::Float, Device::Cpu)).sum(tch::Kind::Double),
        )
        .unwrap()
    };
    for agg in ["transformer", "lstm", "gru", "mlp", "conv1d", "linear_wavg"] {
        let cfg = crate::support::tiny_config(&format!("aggregator = \"{agg}\""));
        tch::manual_seed(5);
        let want = draw();
        tch::manual_seed(5);
        let vs = VarStore::new(Device::Cpu);
        let _net = without_random_init(|| SmokeNet::new(&vs, &cfg, ".".as_ref())).unwrap();
        assert_eq!(draw(), want, "{agg}");
    }
}

#[test]
fn a_pretrained_torchscript_encoder_trains_packages_and_predicts() {
    let dir = scratch("pretrained");
    // A stand-in for a DINOv2 export: [N, 3, P, P] -> [N, 8], traced into TorchScript.
    let enc = dir.join("encoder.pt");
    let proj = tch::Tensor::from_slice(&[
        0.5f32, -1.0, 2.0, 1.5, 0.25, -0.5, 1.0, 3.0, -2.0, 0.75, 1.25, -0.25, 0.1, 0.2, 0.3, 0.4,
        -0.1, -0.2, -0.3, -0.4, 1.0, 1.0, 1.0, 1.0,
    ])
    .view([3, 8]);
    let probe = tch::Tensor::zeros([2, 3, 16, 16], (tch::Kind::Float, Device::Cpu));
    let module = tch::CModule::create_by_tracing("Encoder", "forward", &[probe], &mut |x| {
        vec![
            x[0].mean_dim([2i64, 3].as_slice(), false, tch::Kind::Float)
                .matmul(&proj),
        ]
    })
    .unwrap();
    module.save(&enc).unwrap();

    let params = TINY.replace(
        "tubelet_frames = 2",
        &format!(
            "tubelet_frames = 2\npretrained = {:?}",
            enc.display().to_string()
        ),
    );
    let ckpt = train(&dir, &params);
    let (meta, tensors) = checkpoint::load(&ckpt).unwrap();
    assert!(meta.pretrained_blake3.is_some());
    assert!(tensors.keys().any(|k| k.starts_with("frame_encoder.proj")));
    assert!(
        !tensors.keys().any(|k| k.starts_with("frame_encoder.stage")),
        "no CNN when pretrained"
    );
    let (eval, pr, pkg) = (
        dir.join("eval.json"),
        dir.join("pr.csv"),
        dir.join("model.zip"),
    );
    run(
        "evaluate",
        &params,
        &[&data().input, &ckpt],
        &[],
        &[&eval],
        &[&pr],
    )
    .unwrap();
    run("package", &params, &[&ckpt, &eval], &[&pkg], &[], &[]).unwrap();
    // The package carries the encoder: predict works with the original file gone.
    std::fs::remove_file(&enc).unwrap();
    let seq = pipe_stages::raw::layout::scan(&data().truncated).unwrap()[0]
        .dir
        .clone();
    let p = pipe_stages::predict(&pkg, &seq, "cpu").unwrap();
    assert!((0.0..=1.0).contains(&p.score));
}
