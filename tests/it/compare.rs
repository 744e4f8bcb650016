//! `pipe metrics show|diff` and `pipe params diff` against real git revisions: commit, change
//! a param, rerun, diff.

use crate::support::Project;

const PIPELINE: &str = r#"
[stage.train]
cmd = "python3 -c \"import json; print(json.dumps({'f1': ${train.lr} * 4 + ${model.grid} / 100, 'n': 40, 'val': {'loss': 1 - ${train.lr}}}))\" > ${metrics[0]}"
params = ["train.lr", "model.grid"]
metrics = ["reports/train.json"]

[stage.bench]
cmd = "printf 'latency_ms = 12.5\ndevice = \"cpu\"\n' > ${metrics[0]}"
metrics = [{ path = "reports/bench.toml", cache = false }]

[sweep.res]
stages = ["train"]
matrix = { "model.grid" = [2, 4] }
"#;

/// A committed run at lr = 0.1, then lr = 0.2 rerun in the workspace.
fn committed_then_changed() -> Project {
    let p = Project::new()
        .file("params.toml", "[train]\nlr = 0.1\n\n[model]\ngrid = 2\n")
        .file("pipe.toml", PIPELINE);
    p.git(&["init", "-q"]);
    // In a git repository `init` starts the managed block of `.gitignore` (cached outs).
    p.pipe(&["init"]).ok();
    p.pipe(&["repro"]).ok();
    p.pipe(&["sweep", "res"]).ok();
    p.git(&["add", "-A"]);
    p.git(&["commit", "-qm", "lr 0.1"]);
    p.write("params.toml", "[train]\nlr = 0.2\n\n[model]\ngrid = 2\n");
    p.pipe(&["repro"]).ok();
    p
}

#[test]
fn params_diff_reads_the_committed_lock_against_the_params_files() {
    let p = committed_then_changed();
    let r = p.pipe(&["params", "diff"]).ok();
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("train.lr"))
        .unwrap_or_else(|| panic!("no train.lr row\n{r}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "(pipeline)",
            "train.lr",
            "0.1000",
            "0.2000",
            "+0.1000",
            "+100.0%"
        ]
    );
    assert!(r.stdout.starts_with("Cell"), "{r}");
    assert!(
        !r.stdout.contains("model.grid"),
        "unchanged params wait for --all\n{r}"
    );
    // Both cells inherit lr and change with it: counted, not repeated.
    r.out_has("2 sweep-cell value(s) change exactly as the pipeline's");
    let all = p.pipe(&["params", "diff", "--all"]).ok();
    all.out_has("grid=4");
    assert!(
        all.stdout.lines().any(|l| l.contains("model.grid")),
        "{all}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&p.pipe(&["params", "diff", "--json"]).ok().stdout).expect("json");
    assert_eq!(json["old"], "HEAD");
    assert_eq!(json["new"], "workspace");
    assert_eq!(json["rows"][0]["key"], "train.lr");
    assert_eq!(json["rows"][0]["old"], 0.1);
    assert_eq!(json["rows"][0]["new"], 0.2);

    // The cells' lock still holds lr 0.1 until the sweep reruns: the workspace side is what
    // the next run uses, so they differ from HEAD after a commit of the base run alone.
    p.git(&["commit", "-qam", "lr 0.2, base only"]);
    let r = p.pipe(&["params", "diff"]).ok();
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("grid=4") && l.contains("train.lr")),
        "{r}"
    );
    assert!(!r.stdout.contains("(pipeline)"), "{r}");
    // With the sweep rerun and committed, HEAD and the workspace agree.
    p.pipe(&["sweep", "res"]).ok();
    p.git(&["add", "-A"]);
    p.git(&["commit", "-qm", "lr 0.2"]);
    p.pipe(&["params", "diff"])
        .ok()
        .out_has("No params changed between HEAD and workspace.");
    p.pipe(&["params", "diff", "HEAD~2", "HEAD"])
        .ok()
        .out_has("train.lr");
    p.pipe(&["params", "diff", "HEAD~5"])
        .code(2)
        .err_has("`HEAD~5` is not a git revision");
}

#[test]
fn metrics_diff_reads_cached_metrics_at_a_revision_through_the_lock() {
    let p = committed_then_changed();
    // reports/train.json is a cached out (git-ignored): HEAD's copy comes from the cache.
    assert!(p.read(".gitignore").contains("reports/train.json"));
    let r = p.pipe(&["metrics", "diff"]).ok();
    let row = |key: &str| -> Vec<String> {
        r.stdout
            .lines()
            .find(|l| {
                l.starts_with("reports/train.json") && l.split_whitespace().nth(1) == Some(key)
            })
            .unwrap_or_else(|| panic!("no {key} row\n{r}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        row("f1"),
        [
            "reports/train.json",
            "f1",
            "0.4200",
            "0.8200",
            "+0.4000",
            "+95.2%"
        ]
    );
    assert_eq!(
        row("val.loss"),
        [
            "reports/train.json",
            "val.loss",
            "0.9000",
            "0.8000",
            "-0.1000",
            "-11.1%"
        ]
    );
    assert!(
        !r.stdout.contains(" n "),
        "unchanged metrics wait for --all\n{r}"
    );
    assert!(!r.stdout.contains("bench.toml"), "{r}");
    r.out_has("unchanged (--all shows them)");

    let all = p.pipe(&["metrics", "diff", "--all", "--md"]).ok();
    // Unchanged numbers show a zero change, as `dvc metrics diff --all` does; text none.
    all.out_has("| reports/train.json | n | 40 | 40 | 0 | 0.0% |");
    all.out_has("| reports/bench.toml | device | cpu | cpu |  |  |");
    // The sweep's cells have their own metrics files, unchanged here.
    all.out_has("grid=4");

    let json: serde_json::Value = serde_json::from_str(
        &p.pipe(&[
            "metrics",
            "diff",
            "HEAD",
            "workspace",
            "--json",
            "-t",
            "train",
        ])
        .ok()
        .stdout,
    )
    .expect("json");
    let rows = json["rows"].as_array().expect("rows");
    let f1 = rows
        .iter()
        .find(|r| r["scope"] == "reports/train.json" && r["key"] == "f1")
        .expect("f1");
    assert!((f1["change"].as_f64().unwrap() - 0.4).abs() < 1e-9, "{f1}");

    // Without its cache object, HEAD's copy cannot be read: the error names the file, the
    // committed (git-tracked) metrics still show.
    p.remove(".pipe/cache");
    let r = p.pipe(&["metrics", "diff", "--all"]).code(2);
    r.err_has("metrics file reports/train.json (HEAD): not committed to git at HEAD");
    r.out_has("reports/bench.toml");
}

#[test]
fn metrics_show_flattens_and_names_a_broken_file_while_showing_the_rest() {
    let p = Project::new()
        .file("params.toml", "[train]\nlr = 0.1\n\n[model]\ngrid = 2\n")
        .file("pipe.toml", PIPELINE);
    p.pipe(&["repro"]).ok();
    let r = p.pipe(&["metrics", "show"]).ok();
    r.out_has("val.loss");
    r.out_has("latency_ms");
    let csv = p.pipe(&["metrics", "show", "--csv"]).ok();
    csv.out_has("train,reports/train.json,val.loss,0.9\n");
    csv.out_has("bench,reports/bench.toml,device,cpu\n");

    p.write("reports/bench.toml", "latency_ms = \n");
    let r = p.pipe(&["metrics", "show"]).code(2);
    r.err_has("metrics file reports/bench.toml (workspace):");
    r.out_has("reports/train.json");
    r.out_has("0.4200");

    p.pipe(&["metrics", "show", "nope"])
        .code(2)
        .err_has("`nope` names no stage, sweep or metrics file");
    // Outside git, diff says why it cannot work.
    p.pipe(&["metrics", "diff"])
        .code(2)
        .err_has("is not in a git repository");
}

/// Python's `json.dump` writes `NaN` and `Infinity` (a diverged training), and DVC reads
/// them: so does pipe, in `metrics show` and in a sweep's table, where a cell with a
/// diverged seed shows as NaN rather than losing the seed.
#[test]
fn metrics_of_a_diverged_training_are_read_as_python_writes_them() {
    let p = Project::new()
        .file("params.toml", "seed = 0\n")
        .file(
            "pipe.toml",
            "[stage.t]\ncmd = \"python3 -c \\\"import json; s = ${seed}; json.dump({'loss': float('nan') if s == 1 else 0.5, 'ppl': float('inf'), 'big': 1e308 * 10 if s == 2 else 1.0}, open('${metrics[0]}', 'w'))\\\"\"\nmetrics = [{ path = \"m.json\", cache = false }]\n\n[sweep.s]\nstages = [\"t\"]\nseeds = [0, 1]\nseed_key = \"seed\"\ncells = [{ name = \"only\" }]\nreport = [\"loss:min\", \"ppl:min\"]\n",
        );
    p.pipe(&["repro"]).ok();
    assert!(
        p.read("m.json").contains("Infinity"),
        "{}",
        p.read("m.json")
    );
    let r = p.pipe(&["metrics", "show", "--csv"]).ok();
    r.out_has("t,m.json,ppl,inf\n")
        .out_has("t,m.json,loss,0.5\n");
    let r = p.pipe(&["sweep", "s"]).ok();
    r.out_has("NaN ± NaN (n=2)").out_has("inf ± NaN (n=2)");
}
