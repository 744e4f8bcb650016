//! `pipe exp`: experiments run beside the workspace, shown, diffed, applied, queued,
//! removed, and shared through a directory remote and a real S3 server (moto).

use crate::support::Project;

const PARAMS: &str =
    "# Training settings\n[train]\nlr = 0.1  # learning rate\nepochs = 2\n\n[prep]\nn = 3\n";

/// prep (shared) -> train -> evaluate; acc = 1 - lr.
const PIPELINE: &str = r#"
[stage.prep]
cmd = "seq 1 ${prep.n} > ${outs[0]}; echo ran >> prep.log"
outs = ["data.txt"]

[stage.train]
cmd = "echo lr=${train.lr} epochs=${train.epochs} > ${outs[0]}; cat ${deps[0]} >> ${outs[0]}"
deps = ["data.txt"]
outs = ["model.txt"]

[stage.evaluate]
cmd = "python3 -c \"import json; print(json.dumps({'acc': 1 - ${train.lr}, 'epochs': ${train.epochs}}))\" > ${metrics[0]}"
deps = ["model.txt"]
params = ["train.lr", "train.epochs"]
metrics = ["eval.json"]
"#;

fn project() -> Project {
    Project::new()
        .file("params.toml", PARAMS)
        .file("pipe.toml", PIPELINE)
}

const WORKSPACE_FILES: [&str; 5] = [
    "params.toml",
    "data.txt",
    "model.txt",
    "eval.json",
    "pipe.lock",
];

fn snapshot(p: &Project) -> Vec<Vec<u8>> {
    WORKSPACE_FILES
        .iter()
        .map(|f| std::fs::read(p.path(f)).expect("read"))
        .collect()
}

#[test]
fn exp_run_leaves_the_workspace_alone_and_runs_only_affected_stages() {
    let p = project();
    p.pipe(&["repro"]).ok();
    let before = snapshot(&p);
    let r = p.pipe(&["exp", "run", "-S", "train.lr=0.01"]).ok();
    assert_eq!(
        r.ran(),
        ["evaluate@exp~lr=0.01", "train@exp~lr=0.01"],
        "only the stages reading train.lr and downstream run\n{r}"
    );
    r.err_has("Finished experiment lr=0.01: acc=0.9900");
    let r = p
        .pipe(&["exp", "run", "-S", "train.epochs=5", "-n", "long"])
        .ok();
    assert_eq!(r.ran(), ["evaluate@exp~long", "train@exp~long"], "{r}");
    assert_eq!(snapshot(&p), before, "params, outs and lock are untouched");
    assert_eq!(p.read("prep.log"), "ran\n", "the shared stage ran once");
    assert_eq!(
        p.read(".pipe/exps/lr=0.01/model.txt"),
        "lr=0.01 epochs=2\n1\n2\n3\n"
    );
    p.pipe(&["status"]).ok().out_has("Everything is up to date");

    let show = p.pipe(&["exp", "show"]).ok();
    let line = |name: &str| {
        show.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}\n{show}"))
            .to_string()
    };
    let ws = line("workspace");
    assert!(
        ws.contains("0.1") && ws.contains("0.9000") && ws.contains("baseline"),
        "{ws}"
    );
    let a = line("lr=0.01");
    assert!(
        a.contains("0.01") && a.contains("0.9900 *") && a.contains("done"),
        "{a}"
    );
    let b = line("long");
    assert!(b.contains("5") && b.contains("5.000 *"), "{b}");

    let json: serde_json::Value =
        serde_json::from_str(&p.pipe(&["exp", "show", "--json"]).ok().stdout).expect("json");
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3);
    assert_eq!(
        json["keys"],
        serde_json::json!(["train.lr", "train.epochs"])
    );

    let sorted = p.pipe(&["exp", "show", "--sort", "acc:min", "--csv"]).ok();
    let names: Vec<&str> = sorted
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or(""))
        .collect();
    assert_eq!(names, ["workspace", "long", "lr=0.01"], "{sorted}");

    // Run again: nothing is stale.
    let again = p.pipe(&["exp", "run", "-S", "train.lr=0.01"]).ok();
    assert!(again.ran().is_empty(), "{again}");
    // The same name with other overrides is refused.
    p.pipe(&["exp", "run", "-S", "train.lr=0.5", "-n", "long"])
        .code(2)
        .err_has("experiment `long` exists with other overrides (train.epochs=5)");
}

#[test]
fn targets_limit_an_experiment() {
    let p = project();
    p.pipe(&["repro"]).ok();
    let r = p.pipe(&["exp", "run", "-S", "train.lr=0.2", "train"]).ok();
    assert_eq!(r.ran(), ["train@exp~lr=0.2"], "{r}");
    p.pipe(&["exp", "run", "-S", "prep.n=5", "train"]).ok();
    p.pipe(&["exp", "run", "-S", "train.lr=0.2", "-n", "x", "prep"])
        .code(2)
        .err_has("no stage of prep reads `train.lr`");
}

#[test]
fn bad_overrides_fail_up_front() {
    let p = project();
    p.pipe(&["exp", "run", "-S", "train.lrr=0.01"])
        .code(2)
        .err_has("-S train.lrr=0.01: override key `train.lrr`: no param `train.lrr` in params.toml (did you mean `train.lr`?)");
    p.pipe(&["exp", "run", "-S", "train.lr=fast"])
        .code(2)
        .err_has("`train.lr` is a float in the params, but this value is a string");
    p.pipe(&["exp", "run", "-S", "prep.n=1.5"])
        .code(2)
        .err_has("`prep.n` is an integer in the params, but this value is a float");
    p.pipe(&["exp", "run", "-S", "train.lr"])
        .code(2)
        .err_has("an override is KEY=VALUE");
    p.pipe(&["exp", "run", "-S", "train.lr=0.2", "-n", "a/b"])
        .code(2)
        .err_has("experiment name `a/b`");
    assert!(!p.exists("prep.log"), "nothing ran");
    assert!(!p.exists(".pipe/exps"), "nothing was recorded");
}

#[test]
fn apply_makes_the_workspace_the_experiment_and_keeps_comments() {
    let p = project();
    p.pipe(&["repro"]).ok();
    p.pipe(&["exp", "run", "-S", "train.lr=0.01"]).ok();
    let r = p.pipe(&["exp", "apply", "lr=0.01"]).ok();
    r.err_has("Applied experiment lr=0.01: set train.lr in params.toml");
    assert_eq!(
        p.read("params.toml"),
        PARAMS.replace("lr = 0.1 ", "lr = 0.01 "),
        "only the value changed; comments and layout kept"
    );
    assert_eq!(p.read("model.txt"), "lr=0.01 epochs=2\n1\n2\n3\n");
    assert!(p.read("eval.json").contains("0.99"));
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
    let r = p.pipe(&["repro"]).ok();
    assert!(r.ran().is_empty() && r.restored().is_empty(), "{r}");

    // An unsaved params edit is not overwritten without --force.
    p.pipe(&["exp", "run", "-S", "train.lr=0.3"]).ok();
    p.write("params.toml", &PARAMS.replace("lr = 0.1 ", "lr = 0.7 "));
    p.pipe(&["exp", "apply", "lr=0.3"])
        .code(2)
        .err_has("`train.lr` is 0.7 in params.toml, but the workspace last ran with another value");
    assert!(p.read("params.toml").contains("lr = 0.7 "));
    p.pipe(&["exp", "apply", "lr=0.3", "--force"]).ok();
    assert!(p.read("params.toml").contains("lr = 0.3  # learning rate"));
    p.pipe(&["status"]).ok().out_has("Everything is up to date");

    p.pipe(&["exp", "apply", "nope"])
        .code(2)
        .err_has("no experiment `nope` (experiments: lr=0.01, lr=0.3)");
}

/// A DVC user's params.yaml: `exp apply` writes the values in place, comments, quoting
/// and the rest of the file as they were (a list in block style becomes one flow list).
#[test]
fn apply_writes_a_yaml_params_file_in_place() {
    const YAML: &str = "# Training settings\ntrain:\n  lr: 0.1  # learning rate\n  epochs: 2\n  optim: 'adam'\n  layers:\n  - 8\n  - 4\nprep:\n  n: 3\n";
    let p = Project::new().file("params.yaml", YAML).file(
        "pipe.toml",
        &PIPELINE.replace(
            "params = [\"train.lr\", \"train.epochs\"]",
            "params = [\"train.lr\", \"train.epochs\", \"train.layers\"]",
        ),
    );
    p.pipe(&["repro"]).ok();
    p.pipe(&[
        "exp",
        "run",
        "-n",
        "wide",
        "-S",
        "train.lr=0.01",
        "-S",
        "train.layers=[16, 8, 4]",
    ])
    .ok();
    let r = p.pipe(&["exp", "apply", "wide"]).ok();
    r.err_has("Applied experiment wide: set train.layers, train.lr in params.yaml");
    assert_eq!(
        p.read("params.yaml"),
        "# Training settings\ntrain:\n  lr: 0.01  # learning rate\n  epochs: 2\n  optim: 'adam'\n  layers: [16, 8, 4]\nprep:\n  n: 3\n"
    );
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
}

/// A Python params file (DVC reads `params.py`'s constants): read for `${...}` and the
/// lock, and `exp apply` replaces the literal in place.
#[test]
fn a_python_params_file_is_read_and_applied_in_place() {
    let p = Project::new()
        .file(
            "params.py",
            "import os\n\nLR = 0.1  # learning rate\n\nclass Train:\n    epochs = 2\n",
        )
        .file(
            "pipe.toml",
            "[pipeline]\nparams = [\"params.py\"]\n\n[stage.train]\ncmd = \"echo ${LR} ${Train.epochs} > ${outs[0]}\"\nparams = [\"LR\", \"Train.epochs\"]\nouts = [\"model.txt\"]\n",
        );
    p.pipe(&["repro"]).ok();
    assert_eq!(p.read("model.txt"), "0.1 2\n");
    p.pipe(&[
        "exp",
        "run",
        "-n",
        "fast",
        "-S",
        "LR=0.5",
        "-S",
        "Train.epochs=4",
    ])
    .ok();
    p.pipe(&["exp", "apply", "fast"]).ok();
    assert_eq!(
        p.read("params.py"),
        "import os\n\nLR = 0.5  # learning rate\n\nclass Train:\n    epochs = 4\n"
    );
    assert_eq!(p.read("model.txt"), "0.5 4\n");
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
}

#[test]
fn diff_shows_params_and_metrics_with_deltas() {
    let p = project();
    p.pipe(&["repro"]).ok();
    p.pipe(&["exp", "run", "-S", "train.lr=0.01"]).ok();
    p.pipe(&["exp", "run", "-S", "train.lr=0.05", "-S", "train.epochs=3"])
        .ok();
    let d = p.pipe(&["exp", "diff", "workspace", "lr=0.01"]).ok();
    let row = |name: &str| {
        d.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name}\n{d}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("train.lr"), "train.lr 0.1 0.01 -0.09000");
    assert_eq!(row("acc"), "acc 0.9000 0.9900 +0.09000");
    assert!(
        !d.stdout.contains("train.epochs"),
        "equal params are not listed\n{d}"
    );
    let d2 = p.pipe(&["exp", "diff", "lr=0.01", "lr=0.05,epochs=3"]).ok();
    assert!(d2.stdout.contains("train.epochs"), "{d2}");
    assert_eq!(
        d2.stdout,
        "              lr=0.01  lr=0.05,epochs=3  delta\n\
         train.epochs  2        3                 +1.000\n\
         train.lr      0.01     0.05              +0.04000\n\
         acc           0.9900   0.9500            -0.04000\n\
         epochs        2.000    3.000             +1.000\n",
        "the aligned layout, column for column"
    );
}

#[test]
fn gc_keeps_experiment_objects_until_removed() {
    let p = project();
    p.pipe(&["repro"]).ok();
    p.pipe(&["exp", "run", "-S", "train.lr=0.01"]).ok();
    let with_exp = p.cache_objects();
    p.pipe(&["gc", "--workspace"]).ok();
    assert_eq!(
        p.cache_objects(),
        with_exp,
        "gc kept the experiment's objects"
    );
    p.pipe(&["exp", "remove", "lr=0.01"])
        .ok()
        .err_has("Removed experiment lr=0.01");
    assert!(!p.exists(".pipe/exps/lr=0.01.json") && !p.exists(".pipe/exps/lr=0.01"));
    p.pipe(&["gc", "--workspace"]).ok();
    assert!(
        p.cache_objects() < with_exp,
        "its objects went once it was removed"
    );
    p.pipe(&["exp", "remove", "lr=0.01"]).code(2);
    p.pipe(&["status"]).ok().out_has("Everything is up to date");

    // exp gc drops failed experiments only (every one with --all).
    p.pipe(&["exp", "run", "-S", "train.lr=0.02"]).ok();
    let spec = p.read("pipe.toml").replace(
        "cmd = \"echo lr=",
        "cmd = \"test ${train.lr} != 0.03 || exit 1; echo lr=",
    );
    p.write("pipe.toml", &spec);
    p.pipe(&["exp", "run", "-S", "train.lr=0.03"]).code(1);
    p.pipe(&["exp", "show"]).ok().out_has("failed");
    p.pipe(&["exp", "gc"])
        .ok()
        .err_has("Removed experiment lr=0.03 (failed)");
    let show = p.pipe(&["exp", "show"]).ok();
    assert!(
        show.stdout.contains("lr=0.02") && !show.stdout.contains("lr=0.03"),
        "{show}"
    );
}

#[test]
fn queued_experiments_run_side_by_side_within_jobs() {
    // Each train waits (up to 30 s) until all four have started, then writes how many had:
    // four only if they ran at the same time.
    let spec = PIPELINE.replace(
        "cmd = \"echo lr=${train.lr} epochs=${train.epochs} > ${outs[0]}; cat ${deps[0]} >> ${outs[0]}\"",
        "cmd = \"touch started.${train.lr}; for i in $(seq 300); do [ $(ls started.* | wc -l) -ge 4 ] && break; sleep 0.1; done; ls started.* | wc -l > ${outs[0]}\"",
    );
    let p = Project::new()
        .file("params.toml", PARAMS)
        .file("pipe.toml", &spec);
    for lr in ["0.01", "0.02", "0.03", "0.04"] {
        p.pipe(&["exp", "run", "--queue", "-S", &format!("train.lr={lr}")])
            .ok()
            .err_has("Queued experiment");
    }
    let show = p.pipe(&["exp", "show"]).ok();
    assert_eq!(show.stdout.matches("queued").count(), 4, "{show}");
    assert!(!p.exists("prep.log"), "queueing runs nothing");
    let r = p
        .pipe(&["exp", "run", "--run-all", "-j", "4", "--cpus", "4"])
        .ok();
    assert_eq!(r.ran().len(), 1 + 4 + 4, "{r}");
    for lr in ["0.01", "0.02", "0.03", "0.04"] {
        assert_eq!(
            p.read(&format!(".pipe/exps/lr={lr}/model.txt")).trim(),
            "4",
            "lr={lr} did not overlap the others"
        );
    }
    assert_eq!(p.read("prep.log"), "ran\n", "the shared stage ran once");
    let show = p.pipe(&["exp", "show"]).ok();
    assert_eq!(show.stdout.matches(" done ").count(), 4, "{show}");
    p.pipe(&["exp", "run", "--run-all"])
        .ok()
        .err_has("no queued experiments");
}

mod share {
    //! Push from one clone, pull into a fresh one: shown, applied, nothing rerun.
    use super::*;
    use crate::remote::{Backend, Remote, pipe_clean};

    fn round_trip(backend: Backend) {
        let a = project();
        let remote = Remote::new(backend);
        remote.configure(&a);
        pipe_clean(&a, &["repro"]).ok();
        pipe_clean(&a, &["push"]).ok();
        pipe_clean(&a, &["exp", "run", "-S", "train.lr=0.01"]).ok();
        pipe_clean(&a, &["exp", "push", "lr=0.01"])
            .ok()
            .err_has("Pushed experiment lr=0.01 to `team`: 2 object(s), 50 B");
        // data.txt went up with `pipe push`; model.txt and eval.json now, and not again.
        pipe_clean(&a, &["exp", "push", "lr=0.01"])
            .ok()
            .err_has("Pushed experiment lr=0.01 to `team`: 0 object(s), 0 B");

        // A fresh clone: the committed files only.
        let b = Project::new();
        for f in ["params.toml", "pipe.toml", "pipe.lock", ".pipe/config.toml"] {
            b.write(f, &a.read(f));
        }
        if a.exists(".pipe/config.local.toml") {
            b.write(
                ".pipe/config.local.toml",
                &a.read(".pipe/config.local.toml"),
            );
        }
        pipe_clean(&b, &["pull"]).ok();
        let remote_show = pipe_clean(&b, &["exp", "show", "--remote"]).ok();
        assert!(
            remote_show.stdout.contains("lr=0.01") && remote_show.stdout.contains("0.9900"),
            "{remote_show}"
        );
        pipe_clean(&b, &["exp", "pull", "lr=0.01"])
            .ok()
            .err_has("Pulled experiment lr=0.01");
        pipe_clean(&b, &["exp", "show"]).ok().out_has("0.9900 *");
        pipe_clean(&b, &["exp", "apply", "lr=0.01"]).ok();
        assert_eq!(b.read("model.txt"), "lr=0.01 epochs=2\n1\n2\n3\n");
        pipe_clean(&b, &["status"])
            .ok()
            .out_has("Everything is up to date");
        let r = pipe_clean(&b, &["repro"]).ok();
        assert!(r.ran().is_empty() && r.restored().is_empty(), "{r}");
        pipe_clean(&b, &["exp", "pull", "nope"])
            .code(2)
            .err_has("remote `team` has no experiment `nope`");

        // An experiment whose objects left the local cache is refused whole, before
        // anything is sent.
        pipe_clean(&a, &["exp", "run", "-S", "train.lr=0.3"]).ok();
        a.remove(".pipe/cache/objects");
        pipe_clean(&a, &["exp", "push", "lr=0.3"])
            .code(2)
            .err_has("experiment `lr=0.3`: object ")
            .err_has("is not (wholly) in the local cache");
        let listed = pipe_clean(&b, &["exp", "show", "--remote"]).ok();
        assert!(
            listed.stdout.contains("lr=0.01") && !listed.stdout.contains("lr=0.3"),
            "{listed}"
        );
    }

    #[test]
    fn push_then_pull_in_a_fresh_clone_through_a_directory() {
        round_trip(Backend::Dir);
    }

    #[test]
    fn push_then_pull_in_a_fresh_clone_through_s3() {
        round_trip(Backend::S3);
    }
}
