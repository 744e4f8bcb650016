//! The smoke study's own pipeline file, end to end through `pipe repro` on tiny params:
//! every built-in stage as a child process of the engine, a no-op second run, `pipe predict`
//! on a sequence, and a sweep of the study.
#![cfg(feature = "torch")]

use crate::support::{Project, package_dir};

/// The shipped params with every size shrunk: a run of the whole pipeline in seconds.
fn tiny_params() -> String {
    let shipped = std::fs::read_to_string(package_dir().join("pipelines/smoke/params.toml"))
        .expect("pipelines/smoke/params.toml");
    let mut t: toml::Table = shipped.parse().expect("params parse");
    let mut set = |table: &str, key: &str, v: toml::Value| {
        t.get_mut(table)
            .and_then(toml::Value::as_table_mut)
            .unwrap_or_else(|| panic!("[{table}] in params.toml"))
            .insert(key.to_string(), v);
    };
    use toml::Value::{Integer as I, String as S};
    for (k, v) in [
        ("train_per_class", 6),
        ("val_per_class", 4),
        ("test_per_class", 4),
        ("width", 64),
        ("height", 48),
        ("min_frames", 6),
        ("max_frames", 10),
    ] {
        set("prepare", k, I(v));
    }
    set("prepare", "seed", I(7));
    set("truncate", "max_frames", I(8));
    set("tubes", "min_tube_length", I(3));
    set("model_input", "patch_size", I(16));
    set("model_input", "min_window", I(12));
    for (k, v) in [("dim", 16), ("heads", 2), ("tubelet_size", 4)] {
        set("model", k, I(v));
    }
    for (k, v) in [("epochs", 2), ("batch_size", 4)] {
        set("train", k, I(v));
    }
    set("train", "device", S("cpu".into()));
    set("evaluate", "device", S("cpu".into()));
    set("evaluate", "latency_runs", I(2));
    set("benchmark", "device", S("cpu".into()));
    set("benchmark", "iterations", I(2));
    set("benchmark", "warmup", I(1));
    toml::to_string(&t).expect("params render")
}

/// The shipped pipe.toml with its sweeps cut to one seed of 2 epochs.
/// `pipe-torch`, beside the `pipe` under test (as pipe looks for it): built by the
/// pipe-stages package, which `cargo test --workspace` (scripts/test.sh) builds too; a
/// `cargo test --test it` alone does not.
fn assert_runner_built() {
    let runner = crate::support::bin().with_file_name("pipe-torch");
    assert!(
        runner.is_file() || std::env::var_os("PIPE_TORCH").is_some(),
        "{} is not built: the built-in stages run in it. Build it with `cargo build -p \
         pipe-stages` (`cargo test --workspace` builds it), or name one with PIPE_TORCH",
        runner.display()
    );
}

fn project() -> Project {
    assert_runner_built();
    let shipped = std::fs::read_to_string(package_dir().join("pipelines/smoke/pipe.toml"))
        .expect("pipelines/smoke/pipe.toml");
    let spec = shipped
        .replace("\"train.epochs\" = 20", "\"train.epochs\" = 2")
        .replace("seeds = [0, 1, 2]", "seeds = [0]");
    assert!(
        spec != shipped && !spec.contains("\"train.epochs\" = 20"),
        "the sweeps' sizes moved in pipelines/smoke/pipe.toml"
    );
    Project::new()
        .file("pipe.toml", &spec)
        .file("params.toml", &tiny_params())
}

#[test]
fn the_study_runs_end_to_end_and_a_second_run_is_a_no_op() {
    let p = project();
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(
        r.ran(),
        [
            "benchmark",
            "build_model_input",
            "build_tubes",
            "evaluate",
            "package",
            "prepare",
            "train",
            "truncate"
        ]
    );
    r.out_has("[train] epoch");
    let eval: serde_json::Value =
        serde_json::from_str(&p.read("reports/eval.json")).expect("eval.json");
    for key in [
        "f1",
        "pr_auc",
        "recall_at_fpr_1pct",
        "tn",
        "fp",
        "fn",
        "tp",
        "params_m",
        "gflops",
        "latency_ms",
    ] {
        assert!(eval[key].is_number(), "eval.json lacks {key}: {eval}");
    }
    let bench: serde_json::Value =
        serde_json::from_str(&p.read("reports/bench.json")).expect("bench.json");
    assert!(
        bench["latency_p95_ms"].as_f64().unwrap_or(-1.0)
            >= bench["latency_p50_ms"].as_f64().unwrap_or(f64::MAX)
    );
    assert!(p.exists("models/smoke-classifier.zip"));

    let again = p.pipe(&["repro"]).ok();
    assert!(again.ran().is_empty(), "{again}");
    again.err_has("everything is up to date (8 stages)");

    // A changed training param reruns training and what depends on it, nothing upstream.
    let params = p
        .read("params.toml")
        .replace("lr = 0.0005\n", "lr = 0.001\n");
    p.write("params.toml", &params);
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["benchmark", "evaluate", "package", "train"]);
    r.err_has("Running train: param train.lr 0.0005 -> 0.001");

    // The package scores a raw sequence directory.
    let raw = p.path("data/01_raw/synthetic/val/wildfire");
    let seq = std::fs::read_dir(&raw)
        .expect("val sequences")
        .flatten()
        .next()
        .expect("a sequence")
        .path();
    let pred = p
        .pipe(&[
            "predict",
            "models/smoke-classifier.zip",
            seq.to_str().expect("utf-8"),
        ])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&pred.stdout).expect("prediction json");
    let score = v["score"].as_f64().expect("score");
    assert!((0.0..=1.0).contains(&score), "{v}");
}

#[test]
fn a_sweep_of_the_study_tabulates_its_cells() {
    let p = project();
    let r = p.pipe(&["sweep", "aggregator", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("table json");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 6);
    for row in rows {
        assert_eq!(row["state"], "ok", "{row}");
        let f1 = row["metrics"][0]["mean"].as_f64().expect("f1");
        assert!((0.0..=1.0).contains(&f1));
    }
    // Test metrics, the FPR per look-alike kind, then the costs (train.json's best_val_loss,
    // seconds_per_epoch, samples_per_s, peak_cpu_mem_mb after params_m, gflops, latency_ms).
    let cols: Vec<&str> = v["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["metric"].as_str())
        .collect();
    assert_eq!(
        cols,
        [
            "f1",
            "pr_auc",
            "recall_at_fpr_1pct",
            "fpr_by_kind.steady_plume",
            "fpr_by_kind.smooth_plume",
            "fpr_by_kind.cloud_bank",
            "params_m",
            "gflops",
            "latency_ms",
            "best_val_loss",
            "seconds_per_epoch",
            "samples_per_s",
            "peak_cpu_mem_mb"
        ],
        "{cols:?}"
    );
    for row in rows {
        for m in 9..13 {
            let x = row["metrics"][m]["mean"].as_f64().unwrap_or(-1.0);
            assert!(x > 0.0, "{} of {row}", cols[m]);
        }
    }
    // Cells differ: their checkpoints live apart and the params count differs by aggregator.
    assert!(p.exists("sweeps/aggregator/aggregator=lstm,seed=0/models/model.safetensors"));
    let params: Vec<f64> = rows
        .iter()
        .filter_map(|r| r["metrics"][6]["mean"].as_f64())
        .collect();
    assert!(
        params.iter().any(|x| (x - params[0]).abs() > 1e-9),
        "{params:?}"
    );
    // Bad overrides are caught before anything runs.
    let spec = p
        .read("pipe.toml")
        .replace("\"linear_wavg\"]", "\"linear_wavg\", 3]");
    p.write("pipe.toml", &spec);
    p.pipe(&["sweep", "aggregator"])
        .code(2)
        .err_has("is a string in the params");
}
