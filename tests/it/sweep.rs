//! `pipe sweep`: expansion, isolation, caching, failures, the table, validation.

use crate::support::Project;

const PARAMS: &str =
    "[model]\ngrid = 2\nwindow = 4\nfusion = \"attn\"\n\n[train]\nseed = 0\nlr = 0.1\n";

/// prep (shared) -> train -> evaluate; f1 = grid / 10 + seed / 100, loss = 1 / window.
fn project(sweep: &str) -> Project {
    Project::new().file("params.toml", PARAMS).file(
        "pipe.toml",
        &format!(
            r#"
[stage.prep]
cmd = "echo data > data.txt; echo ran >> prep.log"
outs = ["data.txt"]

[stage.train]
cmd = "echo grid=${{model.grid}} window=${{model.window}} fusion=${{model.fusion}} seed=${{train.seed}} > ${{outs[0]}}; echo ran >> train.log"
deps = ["data.txt"]
outs = ["model.txt"]

[stage.evaluate]
cmd = "python3 -c \"import json; print(json.dumps({{'f1': ${{model.grid}} / 10 + ${{train.seed}} / 100, 'loss': 1 / ${{model.window}}}}))\" > ${{metrics[0]}}"
deps = ["model.txt"]
params = ["model.grid", "model.window", "train.seed"]
metrics = ["eval.json"]

{sweep}
"#
        ),
    )
}

const RES: &str = r#"
[sweep.res]
stages = ["train", "evaluate"]
matrix = { "model.grid" = [2, 4], "model.window" = [4, 8] }
seeds = [0, 1, 2]
report = ["f1", "loss:min"]
report_file = "reports/res.md"
"#;

#[test]
fn cells_are_named_after_their_overrides_and_appear_in_the_dag() {
    let p = project(RES);
    let dag = p.pipe(&["dag"]).ok();
    let edge = |from: &str, to: &str| {
        assert!(
            dag.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{to} ")) && l.ends_with(&format!("<- {from}"))),
            "no edge {from} -> {to}\n{}",
            dag.stdout
        );
    };
    edge("prep", "train@grid=2,window=4,seed=0");
    edge(
        "train@grid=4,window=8,seed=2",
        "evaluate@grid=4,window=8,seed=2",
    );
    let first_cell = dag
        .stdout
        .lines()
        .position(|l| l.starts_with("train@grid=2,window=4,seed=0"));
    let last_cell = dag
        .stdout
        .lines()
        .position(|l| l.starts_with("train@grid=4,window=8,seed=2"));
    assert!(
        first_cell < last_cell,
        "cells are listed in expansion order"
    );
    let n = dag
        .stdout
        .lines()
        .filter(|l| l.starts_with("train@"))
        .count();
    assert_eq!(n, 12, "2 x 2 cells x 3 seeds");
    p.pipe(&["sweep"])
        .ok()
        .out_has("res: 4 cell(s) x 3 seeds over train, evaluate");
    p.pipe(&["status"])
        .ok()
        .out_has("sweep res: 24 stage instance(s) never run");
}

#[test]
fn shared_stages_run_once_cells_are_isolated_and_a_rerun_is_all_hits() {
    let p = project(RES);
    let r = p.pipe(&["sweep", "res"]).ok();
    assert_eq!(
        p.read("prep.log"),
        "ran\n",
        "the shared upstream stage ran once"
    );
    assert_eq!(p.read("train.log").lines().count(), 12);
    assert_eq!(
        p.read("sweeps/res/grid=4,window=8,seed=1/model.txt"),
        "grid=4 window=8 fusion=attn seed=1\n"
    );
    assert_eq!(
        p.read("sweeps/res/grid=2,window=4,seed=0/model.txt"),
        "grid=2 window=4 fusion=attn seed=0\n"
    );
    assert!(
        !p.exists("model.txt"),
        "cells never write the base pipeline's outs"
    );
    r.out_has("sweep res: 4 cell(s)");
    let again = p.pipe(&["sweep", "res"]).ok();
    again.err_has("everything is up to date (25 stages)");
    assert_eq!(p.read("train.log").lines().count(), 12);
}

#[test]
fn adding_a_matrix_value_runs_only_the_new_cells() {
    let p = project(RES);
    p.pipe(&["sweep", "res"]).ok();
    let spec = p
        .read("pipe.toml")
        .replace("\"model.grid\" = [2, 4]", "\"model.grid\" = [2, 4, 8]");
    p.write("pipe.toml", &spec);
    let dry = p.pipe(&["sweep", "res", "--dry"]).ok();
    dry.out_has("grid=8,window=4,seed=0: would run train (never run), evaluate (never run)");
    dry.out_has("grid=2,window=4,seed=0: up to date");
    dry.out_has("6 to run, 0 to restore from the run cache, 12 up to date");
    let r = p.pipe(&["sweep", "res"]).ok();
    let ran = r.ran();
    assert_eq!(ran.len(), 12, "6 replicates x (train, evaluate): {ran:?}");
    assert!(ran.iter().all(|id| id.contains("grid=8")), "{ran:?}");
}

#[test]
fn table_values_are_mean_and_sample_std_over_seeds() {
    let p = project(RES);
    p.pipe(&["sweep", "res", "-q"]).ok();
    let r = p.pipe(&["sweep", "res", "--show", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 4);
    for row in rows {
        let grid: f64 = row["params"][0]
            .as_str()
            .expect("grid")
            .parse()
            .expect("number");
        let window: f64 = row["params"][1]
            .as_str()
            .expect("window")
            .parse()
            .expect("number");
        let f1 = &row["metrics"][0];
        // Hand-computed: seeds 0, 1, 2 add 0, 0.01, 0.02 -> mean grid/10 + 0.01, std 0.01.
        assert!(
            (f1["mean"].as_f64().unwrap() - (grid / 10.0 + 0.01)).abs() < 1e-9,
            "{row}"
        );
        assert!((f1["std"].as_f64().unwrap() - 0.01).abs() < 1e-9, "{row}");
        assert_eq!(f1["n"], 3);
        let loss = &row["metrics"][1];
        assert!((loss["mean"].as_f64().unwrap() - 1.0 / window).abs() < 1e-9);
        assert!(loss["std"].as_f64().unwrap().abs() < 1e-12);
        assert_eq!(row["state"], "ok");
    }
    // Best marks follow each column's direction; the markdown is written where the sweep says.
    // Each value carries the 95% interval of its mean (Student's t, 2 degrees of freedom:
    // 0.41 ± 4.303 x 0.01 / sqrt(3)).
    let md = p.read("reports/res.md");
    assert!(
        md.contains("| grid=4,window=4 | 4 | 4 | **0.4100 ± 0.0100 (n=3) [0.3852, 0.4348]** |"),
        "{md}"
    );
    assert!(
        md.contains("**0.1250 ± 0.0000 (n=3) [0.1250, 0.1250]**"),
        "{md}"
    );
    // grid=4,window=8 ties the best f1 (same values over seeds): within noise, marked, not
    // ranked below it; grid=2 is 0.2 lower, far outside the seeds' spread: not marked.
    let row = |cell: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {cell} |")))
            .unwrap_or_else(|| panic!("no row {cell}\n{md}"))
            .to_string()
    };
    assert!(
        row("grid=4,window=8").contains("0.4100 ± 0.0100 (n=3) [0.3852, 0.4348] ≈"),
        "{md}"
    );
    assert!(
        !row("grid=2,window=8")
            .split('|')
            .nth(4)
            .unwrap_or("")
            .contains('≈'),
        "{md}"
    );
    let best_f1 = &v["columns"][0]["versus_best"];
    let tie = rows
        .iter()
        .position(|r| r["cell"] == "grid=4,window=8")
        .expect("tied row");
    let low = rows
        .iter()
        .position(|r| r["cell"] == "grid=2,window=4")
        .expect("low row");
    assert_eq!(best_f1[tie]["within_noise"], true, "{best_f1}");
    assert_eq!(best_f1[low]["within_noise"], false, "{best_f1}");
    assert!(
        (best_f1[low]["diff"].as_f64().unwrap() + 0.2).abs() < 1e-9,
        "{best_f1}"
    );
    assert!(best_f1[low]["p"].as_f64().unwrap() < 0.001, "{best_f1}");
    let sorted = p
        .pipe(&["sweep", "res", "--show", "--sort", "f1", "--csv"])
        .ok();
    let first = sorted.stdout.lines().nth(1).expect("row");
    assert!(first.starts_with("\"grid=4,"), "{first}");
    let diff = p
        .pipe(&[
            "sweep",
            "res",
            "--diff",
            "grid=2,window=4",
            "grid=4,window=4",
        ])
        .ok();
    diff.out_has("model.grid").out_has("+0.2000");
    assert_eq!(
        diff.stdout,
        "            grid=2,window=4                         grid=4,window=4                         delta\n\
         model.grid  2                                       4\n\
         f1          0.2100 ± 0.0100 (n=3) [0.1852, 0.2348]  0.4100 ± 0.0100 (n=3) [0.3852, 0.4348]  +0.2000\n\
         loss        0.2500 ± 0.0000 (n=3) [0.2500, 0.2500]  0.2500 ± 0.0000 (n=3) [0.2500, 0.2500]  +0\n"
    );
    let text = p.pipe(&["sweep", "res", "--show", "--sort", "grid"]).ok();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines[..7],
        [
            "sweep res: 4 cell(s)",
            "cell             grid  window  f1 ↑                                      loss ↓                                    state",
            "---------------  ----  ------  ----------------------------------------  ----------------------------------------  -----",
            "grid=2,window=4  2     4       0.2100 ± 0.0100 (n=3) [0.1852, 0.2348]    0.2500 ± 0.0000 (n=3) [0.2500, 0.2500]    ok",
            "grid=2,window=8  2     8       0.2100 ± 0.0100 (n=3) [0.1852, 0.2348]    0.1250 ± 0.0000 (n=3) [0.1250, 0.1250] *  ok",
            "grid=4,window=4  4     4       0.4100 ± 0.0100 (n=3) [0.3852, 0.4348] *  0.2500 ± 0.0000 (n=3) [0.2500, 0.2500]    ok",
            "grid=4,window=8  4     8       0.4100 ± 0.0100 (n=3) [0.3852, 0.4348] ≈  0.1250 ± 0.0000 (n=3) [0.1250, 0.1250] ≈  ok",
        ],
        "the aligned layout, column for column\n{text}"
    );
    assert_eq!(lines[7], "* best in its column", "{text}");
}

#[test]
fn a_failing_cell_is_reported_while_the_others_finish() {
    let p = project(RES);
    let spec = p.read("pipe.toml").replace(
        "echo ran >> train.log\"",
        "echo ran >> train.log; test ${model.grid} -ne 4 -o ${model.window} -ne 8\"",
    );
    p.write("pipe.toml", &spec);
    let r = p.pipe(&["sweep", "res"]).code(1);
    r.out_has("failed (log: .pipe/logs/train@grid=4,window=8,seed=0.log)");
    assert_eq!(
        p.read("train.log").lines().count(),
        12,
        "every replicate tried"
    );
    assert!(p.exists("sweeps/res/grid=2,window=8,seed=2/eval.json"));
    let shown = p.pipe(&["sweep", "res", "--show"]).ok();
    shown.out_has("failed (log:");
    // --fail-fast stops starting new cells after the first failure (here the first cell's).
    let q = project(RES);
    q.write(
        "pipe.toml",
        &spec
            .replace("-ne 4 -o", "-ne 2 -o")
            .replace("-ne 8\"", "-ne 4\""),
    );
    q.pipe(&["sweep", "res", "--fail-fast", "-j", "1"]).code(1);
    assert!(q.read("train.log").lines().count() < 12);
}

/// A cell some of whose seeds ran shows their values and says "partly run"; one none of
/// whose seeds ran says "not run".
#[test]
fn a_cell_with_some_seeds_run_is_partly_run() {
    let p = project(RES);
    p.pipe(&[
        "repro",
        "evaluate@grid=2,window=4,seed=0",
        "evaluate@grid=2,window=4,seed=1",
    ])
    .ok();
    let shown = p.pipe(&["sweep", "res", "--show"]).ok();
    let row = |cell: &str| {
        shown
            .stdout
            .lines()
            .find(|l| l.starts_with(cell))
            .unwrap_or_else(|| panic!("no row {cell}\n{shown}"))
            .to_string()
    };
    let first = row("grid=2,window=4 ");
    assert!(
        first.contains("(n=2)") && first.ends_with("partly run"),
        "{first}"
    );
    assert!(row("grid=4,window=8 ").ends_with("not run"));
    p.pipe(&["repro", "evaluate@grid=2,window=4,seed=2"]).ok();
    let shown = p.pipe(&["sweep", "res", "--show"]).ok();
    let first = shown
        .stdout
        .lines()
        .find(|l| l.starts_with("grid=2,window=4 "))
        .unwrap_or_default()
        .to_string();
    assert!(first.trim_end().ends_with(" ok"), "{first}");
}

/// The stages a run started, in the order it started them.
fn started(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Running "))
        .filter_map(|l| l.split(':').next())
        .collect()
}

/// One slot: the cells start in the table's order and each is done before the one after
/// next starts (a seed's evaluation waits for the slot behind at most the stage that took
/// it first), so a sweep cut short leaves whole cells, not one seed of many.
#[test]
fn with_one_slot_cells_run_in_order_and_whole() {
    let p = project(RES);
    let spec = p
        .read("pipe.toml")
        .replace("echo ran >> train.log", "echo ran >> train.log; sleep 0.2");
    p.write("pipe.toml", &spec);
    p.pipe(&["repro", "prep"]).ok();
    let r = p.pipe(&["sweep", "res", "-j", "1"]).ok();
    let started = started(&r.stderr);
    assert_eq!(started.len(), 24, "{r}");
    let cells = [
        "grid=2,window=4,",
        "grid=2,window=8,",
        "grid=4,window=4,",
        "grid=4,window=8,",
    ];
    let at = |cell: &str| -> Vec<usize> {
        (0..started.len())
            .filter(|&k| started[k].contains(cell))
            .collect()
    };
    for k in 0..cells.len() {
        let this = at(cells[k]);
        if let Some(next) = cells.get(k + 1) {
            assert!(this[0] < at(next)[0], "cells start in order: {started:?}");
        }
        if let Some(after_next) = cells.get(k + 2) {
            assert!(
                this.iter().max() < at(after_next).iter().min(),
                "{} is done before {after_next} starts: {started:?}",
                cells[k]
            );
        }
    }
}

/// One slot: the stages start exactly in the dependency order, each seed's evaluation right
/// after its training (it takes its place in line before the training's slot is free).
#[test]
fn with_one_slot_each_evaluation_follows_its_training() {
    let p = project(RES);
    p.pipe(&["repro", "prep"]).ok();
    let r = p.pipe(&["sweep", "res", "-j", "1"]).ok();
    let started = started(&r.stderr);
    assert_eq!(started.len(), 24, "{r}");
    for pair in started.chunks(2) {
        let train = pair[0].strip_prefix("train@");
        let evaluate = pair[1].strip_prefix("evaluate@");
        assert!(
            train.is_some() && train == evaluate,
            "a training, then its evaluation: {started:?}"
        );
    }
}

#[test]
fn explicit_cells_include_exclude_and_crossing() {
    let sweep = r#"
[sweep.ablation]
stages = ["train", "evaluate"]
cells = [ { name = "full" }, { name = "small", "model.window" = 2 } ]
matrix = { "model.grid" = [2, 4] }
exclude = [ { "model.grid" = 4, "model.window" = 2 } ]
include = [ { name = "wide", "model.grid" = 16 } ]
"#;
    let p = project(sweep);
    let dry = p.pipe(&["sweep", "ablation", "--dry"]).ok();
    for cell in ["full,grid=2", "full,grid=4", "small,grid=2", "wide"] {
        dry.out_has(&format!("{cell}: would run"));
    }
    assert!(
        !dry.stdout.contains("small,grid=4"),
        "excluded\n{}",
        dry.stdout
    );
    p.pipe(&["sweep", "ablation", "-q"]).ok();
    assert_eq!(
        p.read("sweeps/ablation/wide/model.txt"),
        "grid=16 window=4 fusion=attn seed=0\n"
    );
}

#[test]
fn a_baseline_cell_is_what_the_others_are_tested_against() {
    // f1 = grid / 10 + seed / 100: `wide` (grid 16) is the best, `full` (grid 2) the
    // baseline; `twin` (grid 2 again, another fusion) has the baseline's values exactly.
    let sweep = r#"
[sweep.ablation]
stages = ["train", "evaluate"]
cells = [ { name = "full" }, { name = "wide", "model.grid" = 16 }, { name = "twin", "model.fusion" = "wm" } ]
seeds = [0, 1, 2]
report = ["f1"]
baseline = "full"
"#;
    let p = project(sweep);
    p.pipe(&["sweep", "ablation", "-q"]).ok();
    let show = p.pipe(&["sweep", "ablation", "--show"]).ok();
    let line = |cell: &str| {
        show.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{cell} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("wide").contains("] † *"), "{}", show.stdout);
    assert!(line("twin").contains("] ≈"), "{}", show.stdout);
    assert!(!line("full").contains('†'), "{}", show.stdout);
    show.out_has("tested against the baseline cell `full`");
    let json = p.pipe(&["sweep", "ablation", "--show", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(v["baseline"], "full");
    assert_eq!(v["columns"][0]["versus_baseline"][1]["within_noise"], false);

    // A baseline that names no cell is refused where it is written, listing the cells.
    rejects(
        &sweep.replace("baseline = \"full\"", "baseline = \"ful\""),
        "sweep `ablation`: baseline `ful` is not one of its cells (full, wide, twin)",
        "pipe.toml:23:",
    );
}

#[test]
fn set_overrides_every_cell_without_naming_it() {
    let p = project(
        "[sweep.q]\nstages = [\"train\"]\nmatrix = { \"model.grid\" = [1, 2] }\nset = { \"model.fusion\" = \"wm\" }\n",
    );
    p.pipe(&["sweep", "q", "-q"]).ok();
    assert_eq!(
        p.read("sweeps/q/grid=2/model.txt"),
        "grid=2 window=4 fusion=wm seed=0\n"
    );
    let bad = project(
        "[sweep.q]\nstages = [\"train\"]\nmatrix = { \"model.grid\" = [1] }\nset = { \"model.fusion\" = 3 }\n",
    );
    bad.pipe(&["sweep"])
        .code(2)
        .err_has("`model.fusion` is a string in the params, but this value is an integer");
}

#[test]
fn two_sweeps_making_one_instance_name_both_and_a_named_cell_parts_them() {
    // Same matrix, another `set`: the cells' names (and so their instances' ids) are equal.
    let two = "[sweep.q]\nstages = [\"train\"]\nmatrix = { \"model.grid\" = [1, 2] }\n\n[sweep.r]\nstages = [\"train\"]\nmatrix = { \"model.grid\" = [1, 2] }\nset = { \"model.fusion\" = \"wm\" }\n";
    rejects(
        two,
        "sweeps `q` and `r` both make stage `train@grid=1`",
        "pipe.toml:21:",
    );
    project(two)
        .pipe(&["sweep"])
        .code(2)
        .err_has("cells = [{ name = \"r\" }]");
    // The remedy the error gives.
    let p = project(&two.replace("set = {", "cells = [{ name = \"r\" }]\nset = {"));
    p.pipe(&["sweep", "r", "-q"]).ok();
    assert_eq!(
        p.read("sweeps/r/r,grid=2/model.txt"),
        "grid=2 window=4 fusion=wm seed=0\n"
    );
    p.pipe(&["sweep", "q", "-q"]).ok();
    assert_eq!(
        p.read("sweeps/q/grid=2/model.txt"),
        "grid=2 window=4 fusion=attn seed=0\n"
    );
}

#[test]
fn gpu_cells_run_side_by_side_on_their_own_devices() {
    let p =
        project("[sweep.g]\nstages = [\"train\"]\nmatrix = { \"model.grid\" = [1, 2, 3, 4] }\n");
    // Each cell waits (up to 30 s) until all four have started: they overlap however slow
    // the machine if they run side by side, and not if they run one after another.
    let spec = p.read("pipe.toml").replace(
        "outs = [\"model.txt\"]\n",
        "outs = [\"model.txt\"]\nresources = { gpus = 1 }\n",
    ).replace(
        "echo ran >> train.log",
        "echo ran >> train.log; s=$(date +%s.%N); touch started.$CUDA_VISIBLE_DEVICES; for i in $(seq 600); do [ $(ls started.* | wc -l) -ge 4 ] && break; sleep 0.05; done; echo $s $(date +%s.%N) > dev.$CUDA_VISIBLE_DEVICES",
    );
    p.write("pipe.toml", &spec);
    p.pipe(&["sweep", "g", "--gpus", "4", "--cpus", "8", "-j", "8"])
        .ok();
    // One cell per device, and all four were running at one moment.
    let (mut last_start, mut first_end) = (f64::MIN, f64::MAX);
    for d in 0..4 {
        let t = p.read(&format!("dev.{d}"));
        let v: Vec<f64> = t
            .split_whitespace()
            .map(|x| x.parse().expect("time"))
            .collect();
        last_start = last_start.max(v[0]);
        first_end = first_end.min(v[1]);
    }
    assert!(last_start < first_end, "the four cells did not overlap");
}

#[track_caller]
fn rejects(sweep: &str, message: &str, location: &str) {
    let p = project(sweep);
    let r = p.pipe(&["sweep"]).code(2);
    r.err_has(message).err_has(location);
}

#[test]
fn validation_errors_point_at_the_sweep() {
    // The sweep table starts at line 17 of the generated pipe.toml.
    rejects(
        "[sweep.s]\nstages = [\"train\"]\nmatrix = { \"model.gird\" = [1] }\n",
        "sweep `s`: override key `model.gird`: no param `model.gird` in params.toml (did you mean `model.grid`?)",
        "pipe.toml:19:",
    );
    rejects(
        "[sweep.s]\nstages = [\"train\"]\nmatrix = { \"model.grid\" = [\"big\"] }\n",
        "`model.grid` is an integer in the params, but the matrix gives a string",
        "pipe.toml:19:",
    );
    rejects(
        "[sweep.s]\nstages = [\"train\"]\nmatrix = { \"model.grid\" = [] }\n",
        "matrix key `model.grid` has no values",
        "pipe.toml:19:",
    );
    rejects(
        "[sweep.s]\nstages = [\"trian\"]\nmatrix = { \"model.grid\" = [1] }\n",
        "no stage `trian` in the pipeline",
        "pipe.toml:18:",
    );
    rejects(
        "[sweep.s]\nstages = [\"train\"]\ncells = [ { name = \"a\", \"model.grid\" = 1 }, { name = \"a\", \"model.grid\" = 1 } ]\n",
        "two cells are both named `a`",
        "pipe.toml:19:",
    );
    rejects(
        "[sweep.s]\nstages = [\"train\"]\nmatrix = { \"train.lr\" = [0.1, 0.2] }\n",
        "no stage of the sweep reads `train.lr`",
        "pipe.toml:19:",
    );
    rejects(
        "[sweep.s]\nstages = [\"train\"]\n",
        "has no cells",
        "pipe.toml:17:",
    );
}

#[test]
fn a_report_file_that_something_else_owns_is_refused_before_anything_runs() {
    let sweep = |file: &str| {
        format!(
            "[sweep.s]\nstages = [\"train\", \"evaluate\"]\nmatrix = {{ \"model.grid\" = [1] }}\nreport_file = \"{file}\"\n"
        )
    };
    // The base stage's metric: the table would overwrite it behind the lock's back.
    let p = project("");
    p.pipe(&["repro", "evaluate", "-q"]).ok();
    let before = p.read("eval.json");
    let spec = p.read("pipe.toml");
    p.write("pipe.toml", &format!("{spec}{}", sweep("eval.json")));
    p.pipe(&["sweep", "s"])
        .code(2)
        .err_has("sweep `s`: report_file `eval.json` is metric `eval.json` of stage `evaluate`")
        .err_has("pipe.toml:21:");
    assert_eq!(p.read("eval.json"), before);
    rejects(
        &sweep("data.txt/table.md"),
        "report_file `data.txt/table.md` lies inside out `data.txt` of stage `prep`",
        "pipe.toml:20:",
    );
    rejects(
        &sweep("pipe.toml"),
        "report_file `pipe.toml` is the pipeline file",
        "pipe.toml:20:",
    );
    rejects(
        &sweep("params.toml"),
        "report_file `params.toml` is a params file",
        "pipe.toml:20:",
    );
    // Two sweeps, one table.
    let two = format!(
        "{}\n[sweep.t]\nstages = [\"train\"]\ncells = [{{ name = \"t\" }}]\nmatrix = {{ \"model.grid\" = [1] }}\nreport_file = \"t.md\"\n",
        sweep("t.md")
    );
    rejects(
        &two,
        "sweep `t`: report_file `t.md` is also sweep `s`'s: one table would overwrite the other",
        "pipe.toml:26:",
    );
}

#[test]
fn a_report_file_led_into_an_out_by_a_link_inside_the_workspace_is_refused() {
    let p = Project::new().file("params.toml", PARAMS).file(
        "pipe.toml",
        "[stage.prep]\ncmd = \"mkdir -p data && echo raw > data/raw.txt\"\nouts = [\"data\"]\n\n[stage.train]\ncmd = \"echo ${model.grid} > ${outs[0]}\"\ndeps = [\"data\"]\nouts = [\"m.txt\"]\n\n[sweep.q]\nstages = [\"train\"]\nmatrix = { \"model.grid\" = [1, 2] }\nreport_file = \"reports/t.md\"\n",
    );
    p.pipe(&["repro", "-q"]).ok();
    std::os::unix::fs::symlink("data", p.path("reports")).expect("symlink");
    p.pipe(&["sweep", "q"])
        .code(2)
        .err_has("report_file `reports/t.md` (`data/t.md` through a link) lies inside out `data` of stage `prep`")
        .err_has("pipe.toml:13:");
    assert!(!p.exists("data/t.md"));
    assert!(!p.exists("sweeps"), "a cell ran");
    let in_data = std::fs::read_dir(p.path("data")).expect("data").count();
    assert_eq!(in_data, 1, "prep's out holds more than raw.txt");
    // A real directory there is fine.
    std::fs::remove_file(p.path("reports")).expect("rm link");
    p.pipe(&["sweep", "q", "-q"]).ok();
    assert!(p.read("reports/t.md").contains("grid=2"));
}

/// The link may also appear during the run (a command makes it): checked again before the
/// table is written.
#[test]
fn a_report_file_led_into_an_out_by_a_link_made_during_the_run_is_refused() {
    let p = Project::new().file("params.toml", PARAMS).file(
        "pipe.toml",
        "[stage.prep]\ncmd = \"mkdir -p data && echo raw > data/raw.txt\"\nouts = [\"data\"]\n\n[stage.train]\ncmd = \"ln -sfn data reports; echo ${model.grid} > ${outs[0]}\"\ndeps = [\"data\"]\nouts = [\"m.txt\"]\n\n[sweep.q]\nstages = [\"train\"]\nmatrix = { \"model.grid\" = [1, 2] }\nreport_file = \"reports/t.md\"\n",
    );
    p.pipe(&["repro", "-q", "prep"]).ok();
    p.pipe(&["sweep", "q"])
        .code(2)
        .err_has("report_file `reports/t.md` (`data/t.md` through a link) lies inside out `data` of stage `prep`");
    assert!(!p.exists("data/t.md"));
    let in_data = std::fs::read_dir(p.path("data")).expect("data").count();
    assert_eq!(in_data, 1, "prep's out holds more than raw.txt");
}

#[test]
fn a_swept_command_that_names_its_out_literally_is_refused() {
    let p = Project::new().file("params.toml", PARAMS).file(
        "pipe.toml",
        "[stage.t]\ncmd = \"echo ${model.grid} > m.txt\"\nouts = [\"m.txt\"]\n\n[sweep.s]\nstages = [\"t\"]\nmatrix = { \"model.grid\" = [1, 2] }\n",
    );
    p.pipe(&["sweep", "s"])
        .code(2)
        .err_has("its cmd names `m.txt` literally");
    p.pipe(&["sweep", "nope"]).code(2);
}

#[test]
fn dag_json_lists_every_instance_resolved_with_its_edges() {
    let p = project(RES);
    p.write("raw.txt", "raw\n");
    p.pipe(&["add", "raw.txt"]).ok();
    let out = p.pipe(&["dag", "--json"]).ok().stdout;
    let v: serde_json::Value = serde_json::from_str(&out).expect("dag --json is JSON");
    let stages = v["stages"].as_array().expect("stages");
    let ids: Vec<&str> = stages.iter().filter_map(|s| s["id"].as_str()).collect();
    // The base pipeline, tracked data, and each of the 12 replicates' two swept stages.
    assert_eq!(ids.len(), 3 + 1 + 24, "{ids:?}");
    assert!(ids.contains(&"data:raw.txt"), "{ids:?}");
    let cell = "train@grid=4,window=8,seed=2";
    let train = stages
        .iter()
        .find(|s| s["id"] == cell)
        .unwrap_or_else(|| panic!("no {cell} in {ids:?}"));
    // `${...}` resolved with the cell's overrides, its out moved into the cell's namespace.
    assert_eq!(
        train["cmd"],
        "echo grid=4 window=8 fusion=attn seed=2 > sweeps/res/grid=4,window=8,seed=2/model.txt; echo ran >> train.log"
    );
    assert_eq!(train["wdir"], ".");
    assert_eq!(
        train["outs"][0]["path"],
        "sweeps/res/grid=4,window=8,seed=2/model.txt"
    );
    let eval = stages
        .iter()
        .find(|s| s["id"] == "evaluate")
        .expect("evaluate");
    assert_eq!(eval["outs"][0]["metric"], true);
    assert_eq!(eval["params"][0]["file"], "params.toml");
    assert_eq!(eval["params"][0]["key"], "model.grid");
    let data = stages
        .iter()
        .find(|s| s["id"] == "data:raw.txt")
        .expect("data");
    assert!(data["cmd"].is_null(), "{data}");
    let edges = v["edges"].as_array().expect("edges");
    let has = |u: &str, d: &str| edges.iter().any(|e| e[0] == u && e[1] == d);
    assert!(has("prep", "train"), "{edges:?}");
    assert!(has("prep", cell), "{edges:?}");
    assert!(has(cell, "evaluate@grid=4,window=8,seed=2"), "{edges:?}");
    assert!(
        !has("train", "evaluate@grid=4,window=8,seed=2"),
        "{edges:?}"
    );
}
