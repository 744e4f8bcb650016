//! `pipe dag --json` against DVC's own graph: each project under `tests/dvc-corpus/` is
//! imported with `pipe import-dvc`, and the stages pipe resolved (id, cmd, wdir, deps, outs
//! and their flags, params, frozen, always_changed) and its edges are compared with what
//! DVC's `Repo.index` gives for the same project (`tests/dvc-corpus/dvc_graph.py`, run with
//! the Python of the DVC that `PIPE_TEST_DVC` names). Without DVC these tests fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::dvc::copy_tree;
use crate::support::Project;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/dvc-corpus")
        .join(name)
}

/// The Python beside the `dvc` that `PIPE_TEST_DVC` names (DVC's own venv).
fn dvc_python() -> PathBuf {
    let dvc = std::env::var_os("PIPE_TEST_DVC").unwrap_or_else(|| {
        panic!("PIPE_TEST_DVC is not set: run scripts/setup-dvc.sh (scripts/test.sh does) and export its last line")
    });
    Path::new(&dvc)
        .parent()
        .expect("PIPE_TEST_DVC names a file in a bin directory")
        .join("python")
}

#[track_caller]
fn run(p: &Project, prog: &Path, args: &[&str]) -> String {
    let o = Command::new(prog)
        .args(args)
        .current_dir(p.root())
        .env("DVC_NO_ANALYTICS", "1")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", prog.display()));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "{} {args:?} failed:\n{}{err}",
        prog.display(),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh clone of corpus project `name`: its files committed to a new git repository,
/// `.dvc/` initialised, no data pulled.
fn clone_of(name: &str) -> Project {
    let p = Project::new();
    copy_tree(&corpus(name), p.root());
    let git = Path::new("git");
    run(&p, git, &["init", "-q"]);
    run(&p, git, &["add", "-A", "-f"]);
    run(
        &p,
        git,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "corpus",
        ],
    );
    if !p.root().join(".dvc").exists() {
        let dvc = dvc_python().with_file_name("dvc");
        run(&p, &dvc, &["init", "-q"]);
    }
    p
}

/// A graph as sets that can be compared: stage id to its normalised fields, and the edges.
type Graph = (
    BTreeMap<String, BTreeMap<String, Value>>,
    BTreeSet<(String, String)>,
);

fn normalise(json: &str, who: &str) -> Graph {
    let v: Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{who}'s graph is not JSON: {e}"));
    let mut stages = BTreeMap::new();
    for s in v["stages"].as_array().expect("stages") {
        let mut fields: BTreeMap<String, Value> = s
            .as_object()
            .expect("a stage is an object")
            .clone()
            .into_iter()
            .collect();
        let id = fields
            .remove("id")
            .and_then(|i| i.as_str().map(String::from));
        for key in ["deps", "outs", "params"] {
            if let Some(Value::Array(a)) = fields.get_mut(key) {
                a.sort_by_key(|x| x.to_string());
            }
        }
        stages.insert(id.expect("a stage has an id"), fields);
    }
    let edges = v["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e[0].as_str().expect("edge").to_string(),
                e[1].as_str().expect("edge").to_string(),
            )
        })
        .collect();
    (stages, edges)
}

/// A DVC params entry for a whole file (`key` `*`) stands for every key pipe declares from
/// that file: pipe imports a whole params file as the top-level keys it has at import (the
/// import says so in a warning).
fn whole_files_as_pipe_declares(dvc: &mut Value, pipe: &Value) {
    let (Some(d), Some(p)) = (dvc.as_array_mut(), pipe.as_array()) else {
        return;
    };
    let whole: Vec<Value> = d
        .iter()
        .filter(|x| x["key"] == "*")
        .map(|x| x["file"].clone())
        .collect();
    d.retain(|x| x["key"] != "*");
    d.extend(p.iter().filter(|x| whole.contains(&x["file"])).cloned());
    d.sort_by_key(|x| x.to_string());
}

#[track_caller]
fn assert_same_graph(name: &str) {
    let p = clone_of(name);
    let script = corpus("dvc_graph.py");
    let dvc_json = run(
        &p,
        &dvc_python(),
        &[script.to_str().expect("utf-8 path"), "."],
    );
    p.pipe(&["import-dvc"]).ok();
    let pipe_json = p.pipe(&["dag", "--json"]).ok().stdout;
    let (mut dvc, dvc_edges) = normalise(&dvc_json, "DVC");
    let (pipe, pipe_edges) = normalise(&pipe_json, "pipe");
    assert_eq!(
        dvc.keys().collect::<Vec<_>>(),
        pipe.keys().collect::<Vec<_>>(),
        "{name}: the stages differ"
    );
    for (id, d) in dvc.iter_mut() {
        let p = &pipe[id];
        if let (Some(dp), Some(pp)) = (d.get_mut("params"), p.get("params")) {
            whole_files_as_pipe_declares(dp, pp);
        }
        assert_eq!(
            d, p,
            "{name}: stage `{id}` differs (left: DVC, right: pipe)"
        );
    }
    assert_eq!(dvc_edges, pipe_edges, "{name}: the edges differ");
}

#[test]
fn dag_json_matches_dvc_on_the_full_corpus() {
    assert_same_graph("full");
}

#[test]
fn dag_json_matches_dvc_on_the_shapes_of_real_projects() {
    assert_same_graph("shapes");
}

/// A `.dvc` file's paths resolve against its `wdir` (`wdir: ..` in `sub/`), as DVC's do:
/// the stage reading `sub/table.csv` keeps its edge to the tracked data.
#[test]
fn a_dot_dvc_files_wdir_is_where_its_paths_start() {
    assert_same_graph("dotdvc-wdir");
}

/// A dataset registry (`.dvc` files, no stages) imports as a pipeline of tracked data alone.
#[test]
fn a_data_only_registry_imports_as_tracked_data() {
    assert_same_graph("data-only");
}

/// A fresh clone whose deps are absent and made by no stage (raw data not pulled, a
/// notebook kept elsewhere) imports whole, as DVC loads it.
#[test]
fn a_fresh_clone_with_missing_deps_imports_whole() {
    assert_same_graph("missing-deps");
}

/// Names pipe cannot keep (`/` in a stage name or a foreach item) are said once each, both
/// spellings, and the graph is DVC's under the new names.
#[test]
fn each_renamed_stage_is_said_once() {
    assert_same_graph("slash-names");
    let p = clone_of("slash-names");
    let r = p.pipe(&["import-dvc"]).ok();
    for (dvc, pipe) in [
        ("site/pages/build", "site_pages_build"),
        ("fetch@north/wells", "fetch.north_wells"),
        ("fetch@south/wells", "fetch.south_wells"),
    ] {
        let line = format!("stage `{dvc}` is `{pipe}` in pipe");
        assert_eq!(r.stderr.matches(&line).count(), 1, "{line}\n{r}");
    }
}

/// YAML merge keys (`<<: *anchor`, a list of anchors) in a stage, a matrix and vars merge
/// as DVC's YAML reader merges them: explicit keys win, anchors in order.
#[test]
fn yaml_merge_keys_merge_as_dvc_reads_them() {
    assert_same_graph("merge-keys");
}

/// A params key present with a null value is a param whose value is null, not a missing key.
#[test]
fn a_null_param_is_a_param() {
    assert_same_graph("null-params");
}

/// Top-level `metrics`/`plots` inside a stage's directory out are that stage's.
#[test]
fn toplevel_metrics_inside_a_directory_out_belong_to_its_stage() {
    assert_same_graph("toplevel-metrics");
    let p = Project::new()
        .file(
            "judge.sh",
            "mkdir -p verdict\necho '{\"auc\": 0.75}' > verdict/scores.json\necho '[{\"fpr\": 0, \"tpr\": 1}]' > verdict/roc.json\n",
        )
        .file(
            "dvc.yaml",
            "stages:\n  judge:\n    cmd: sh judge.sh\n    deps:\n    - judge.sh\n    outs:\n    - verdict\nmetrics:\n- verdict/scores.json\nplots:\n- verdict/roc.json\n",
        );
    let r = p.pipe(&["import-dvc"]).ok();
    r.err_lacks("nothing to attach it to");
    p.pipe(&["repro"]).ok();
    p.pipe(&["metrics", "show"])
        .ok()
        .out_has("verdict/scores.json")
        .out_has("0.75");
    p.pipe(&["status"]).ok().out_has("up to date");
    // The directory comes back whole, metric included.
    std::fs::remove_dir_all(p.path("verdict")).unwrap();
    p.pipe(&["checkout"]).ok();
    assert!(p.read("verdict/scores.json").contains("0.75"));
    assert!(p.exists("verdict/roc.json"));
}
