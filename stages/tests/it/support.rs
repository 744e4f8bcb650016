//! Shared fixtures: tiny model configs and inputs, tiny params for every stage, and the data
//! stages' outputs built once per test process.

use pipe_stages::model::ModelConfig;
use tch::{Kind, Tensor};

pub fn table(text: &str) -> toml::Table {
    text.parse()
        .unwrap_or_else(|e| panic!("fixture params do not parse: {e}\n{text}"))
}

/// A tiny `[model]` table, with the keys in `extra` added or replaced.
pub fn tiny_config(extra: &str) -> ModelConfig {
    let mut base = table(
        "[model]\ndim = 16\nheads = 2\nwindow = 2\nstride = 2\ntubelet_size = 4\ntubelet_frames = 2\ndropout = 0.0\n",
    );
    let more = table(&format!("[model]\n{extra}\n"));
    if let (Some(toml::Value::Table(m)), Some(toml::Value::Table(add))) =
        (base.get_mut("model"), more.get("model"))
    {
        for (k, v) in add {
            m.insert(k.clone(), v.clone());
        }
    }
    ModelConfig::from_params(&base)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_data(6, 16)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Random u8 frames `[b, t, 3, p, p]`.
pub fn frames(b: i64, t: i64, p: i64) -> Tensor {
    let _rng = torch_rng();
    Tensor::randint(256, [b, t, 3, p, p], (Kind::Uint8, tch::Device::Cpu))
}

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pipe_stages::{Invocation, StageError};

/// Tiny params for every stage: 64x48 frames, 16 px patches, a 16-d model, 2 epochs.
pub const TINY: &str = r#"
[prepare]
seed = 7
train_per_class = 6
val_per_class = 4
test_per_class = 4
width = 64
height = 48
min_frames = 6
max_frames = 10

[truncate]
max_frames = 8

[tubes]
min_tube_length = 3

[model_input]
patch_size = 16
min_window = 12

[model]
dim = 16
heads = 2
grid = 2
window = 4
stride = 2
tubelet_size = 4
tubelet_frames = 2

[train]
epochs = 2
batch_size = 4
lr = 0.003
device = "cpu"

[evaluate]
device = "cpu"
latency_runs = 2

[benchmark]
device = "cpu"
batch_size = 2
iterations = 2
warmup = 1
"#;

/// This package's directory, as `cargo test` says when it runs the tests
/// (`CARGO_MANIFEST_DIR` at run time), else where they were built. With a target directory
/// shared by several clones (CI's), cargo reuses a test binary built in another clone, whose
/// compile-time path may be gone.
pub fn package_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// A fresh directory under cargo's target tmp dir (kept after the run for inspection).
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("stages-it")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

pub fn invocation(
    uses: &str,
    params: &str,
    deps: &[&Path],
    outs: &[&Path],
    metrics: &[&Path],
    plots: &[&Path],
) -> Invocation {
    let own = |v: &[&Path]| v.iter().map(|p| p.to_path_buf()).collect::<Vec<_>>();
    Invocation {
        stage: uses.to_string(),
        uses: uses.to_string(),
        params: table(params),
        deps: own(deps),
        outs: own(outs),
        metrics: own(metrics),
        plots: own(plots),
    }
}

pub fn run(
    uses: &str,
    params: &str,
    deps: &[&Path],
    outs: &[&Path],
    metrics: &[&Path],
    plots: &[&Path],
) -> Result<(), StageError> {
    pipe_stages::run(&invocation(uses, params, deps, outs, metrics, plots))
}

/// The data stages' outputs on the tiny params, built once per test process.
pub struct Data {
    pub raw: PathBuf,
    pub truncated: PathBuf,
    pub tubes: PathBuf,
    pub input: PathBuf,
}

pub fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let root = scratch("data");
        let d = Data {
            raw: root.join("01_raw"),
            truncated: root.join("02_truncated"),
            tubes: root.join("03_tubes"),
            input: root.join("04_model_input"),
        };
        let ok = |r: Result<(), StageError>| r.unwrap_or_else(|e| panic!("fixture: {e}"));
        ok(run("prepare", TINY, &[], &[&d.raw], &[], &[]));
        ok(run("truncate", TINY, &[&d.raw], &[&d.truncated], &[], &[]));
        ok(run(
            "build_tubes",
            TINY,
            &[&d.truncated],
            &[&d.tubes],
            &[],
            &[],
        ));
        ok(run(
            "build_model_input",
            TINY,
            &[&d.truncated, &d.tubes],
            &[&d.input],
            &[],
            &[],
        ));
        d
    })
}

/// Held by whatever seeds libtorch's generator and draws from it (building or training a
/// model). The generator is process-global: in `pipe-torch builtin` one stage owns the process,
/// but tests run side by side, and interleaved draws would break reproducibility.
pub fn torch_rng() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Trains on the tiny data with `params`, into `dir`; returns the checkpoint path.
pub fn train(dir: &Path, params: &str) -> PathBuf {
    let input = &data().input;
    let _rng = torch_rng();
    let ckpt = dir.join("model.safetensors");
    run(
        "train",
        params,
        &[input],
        &[&ckpt],
        &[&dir.join("train.json")],
        &[&dir.join("curve.csv")],
    )
    .unwrap_or_else(|e| panic!("train: {e}"));
    ckpt
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes a hand-made sequence `root/<dataset>/<split>/<class>/<name>`: `labels[i]` is the
/// text of frame i's label file (`None`: no file).
pub fn write_sequence(
    root: &Path,
    split: &str,
    class: &str,
    name: &str,
    labels: &[Option<&str>],
) -> PathBuf {
    use pipe_stages::raw::jpeg::{Rgb, encode};
    let dir = root.join("ds").join(split).join(class).join(name);
    std::fs::create_dir_all(dir.join("images")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.join("labels")).unwrap_or_else(|e| panic!("{e}"));
    for (i, label) in labels.iter().enumerate() {
        let mut img = Rgb::new(32, 24);
        for (k, px) in img.data.iter_mut().enumerate() {
            *px = ((k * 7 + i * 13) % 251) as u8;
        }
        let bytes = encode(&img, 90).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join(format!("images/frame_{:06}.jpg", i + 1)), bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(text) = label {
            std::fs::write(dir.join(format!("labels/frame_{:06}.txt", i + 1)), text)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    dir
}

/// Every file under `dir`, relative path -> bytes.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap_or_else(|e| panic!("{e}")).path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap_or(&p).to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap_or_else(|e| panic!("{e}")));
            }
        }
    }
    out
}
