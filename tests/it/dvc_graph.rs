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
    crate::support::package_dir()
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

/// DVC's own graph of `p`, which must fail to load (`what` it would load otherwise): what
/// DVC said on stderr.
#[track_caller]
fn dvc_graph_refuses(p: &Project, what: &str) -> String {
    let script = corpus("dvc_graph.py");
    let dvc = Command::new(dvc_python())
        .args([script.to_str().expect("utf-8 path"), "."])
        .current_dir(p.root())
        .env("DVC_NO_ANALYTICS", "1")
        .output()
        .expect("run DVC's python");
    assert!(!dvc.status.success(), "DVC's graph loads {what}");
    String::from_utf8_lossy(&dvc.stderr).into_owned()
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
    assert_same_graph_of(&clone_of(name), name);
}

/// Imports project `p` and compares `pipe dag --json` with DVC's graph of it.
#[track_caller]
fn assert_same_graph_of(p: &Project, name: &str) {
    let script = corpus("dvc_graph.py");
    let dvc_json = run(
        p,
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

/// A DVC project from inline files, with git and `.dvc/` initialised.
fn dvc_project(files: &[(&str, &str)]) -> Project {
    let p = files
        .iter()
        .fold(Project::new(), |p, (path, text)| p.file(path, text));
    let git = Path::new("git");
    run(&p, git, &["init", "-q"]);
    run(&p, &dvc_python().with_file_name("dvc"), &["init", "-q"]);
    p
}

/// `--dry` runs every check the import runs and exits as it would, and the error points
/// into dvc.yaml (the pipe.toml it names was never written). DVC's graph refuses the same
/// project (overlapping outs).
#[test]
fn dry_fails_as_the_import_would_pointing_into_dvc_yaml() {
    let p = dvc_project(&[(
        "dvc.yaml",
        "stages:\n  a:\n    cmd: mkdir -p d && echo a > d/a.txt\n    outs:\n    - d\n  b:\n    cmd: echo b > d/b.txt\n    outs:\n    - d/b.txt\n",
    )]);
    assert!(dvc_graph_refuses(&p, "the overlap").contains("overlap"));
    for args in [&["import-dvc", "--dry"][..], &["import-dvc"]] {
        let r = p.pipe(args).code(2);
        r.err_has(
            "dvc.yaml:6: stage `b`: out `d/b.txt` of stage `b` lies inside out `d` of stage `a`",
        )
        .err_lacks("pipe.toml:");
        assert!(!p.exists("pipe.toml"), "{args:?} wrote pipe.toml");
    }
}

/// A param no params file holds (a key not written yet, a params file not in the clone)
/// does not stop the import, as DVC loads such a project: it is left out of the stage,
/// said once per stage definition with its dvc.yaml line, and the rest is carried.
#[test]
fn a_param_no_file_holds_is_named_and_the_rest_imports() {
    let p = dvc_project(&[
        ("params.yaml", "train:\n  lr: 1\n"),
        (
            "dvc.yaml",
            "stages:\n  a:\n    foreach: [x, y]\n    do:\n      cmd: echo ${item} > a-${item}.txt\n      params:\n      - train.lr\n      - train.missing\n      outs:\n      - a-${item}.txt\n  b:\n    cmd: echo b\n    params:\n    - other.yaml:\n      - x\n    deps:\n    - a-x.txt\n",
        ),
    ]);
    run(&p, &dvc_python().with_file_name("dvc"), &["status"]);
    let r = p.pipe(&["import-dvc"]).ok();
    let a = "dvc.yaml:2: stage `a` reads param `train.missing`, which params.yaml does not hold";
    assert_eq!(
        r.stderr.matches("reads param `train.missing`").count(),
        1,
        "{r}"
    );
    r.err_has(a)
        .err_has("dvc.yaml:11: stage `b` reads param `x`, which other.yaml does not hold");
    p.pipe(&["status"]).ok();
    let dag: Value = serde_json::from_str(&p.pipe(&["dag", "--json"]).ok().stdout).unwrap();
    let params = |id: &str| -> Vec<String> {
        dag["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no stage {id} in {dag}"))["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}:{}",
                    p["file"].as_str().unwrap(),
                    p["key"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(params("a.x"), ["params.yaml:train.lr"]);
    assert_eq!(params("a.y"), ["params.yaml:train.lr"]);
    assert!(params("b").is_empty());
}

/// What a foreach/matrix group cannot carry is said once per construct for the group (in
/// the warnings and pipe.toml's comment), not once per instance.
#[test]
fn a_groups_notes_are_said_once_per_construct() {
    let p = dvc_project(&[(
        "dvc.yaml",
        "stages:\n  m:\n    matrix:\n      x: [1, 2, 3]\n      y: [a, b]\n    cmd: echo ${item.x} > o-${item.x}-${item.y}.txt\n    meta: {owner: me}\n    outs:\n    - o-${item.x}-${item.y}.txt:\n        push: false\n",
    )]);
    let r = p.pipe(&["import-dvc"]).ok();
    for (what, line) in [
        (
            "`meta` is not carried",
            "dvc.yaml:7: stage `m` (6 instances, e.g. `m@1-a`): `meta`",
        ),
        (
            "has `push: false`",
            "dvc.yaml:8: stage `m` (6 instances, e.g. `m@1-a`): `o-1-a.txt`",
        ),
    ] {
        assert_eq!(r.stderr.matches(what).count(), 1, "{what}\n{r}");
        assert_eq!(p.read("pipe.toml").matches(what).count(), 1, "{what}");
        r.err_has(line);
    }
    let dag: Value = serde_json::from_str(&p.pipe(&["dag", "--json"]).ok().stdout).unwrap();
    assert_eq!(dag["stages"].as_array().map(Vec::len), Some(6));
}

/// What DVC does not read, pipe does not import, and says so: `.dvc` files and dvc.yaml
/// that git ignores, a nested DVC project (a subdirectory with its own `.dvc/`). What it
/// cannot carry from `.dvc/config` (`cache.type`) is named. A params key named twice is
/// read once, as DVC reads it.
#[test]
fn what_dvc_skips_is_skipped_and_said() {
    let p = dvc_project(&[
        ("params.yaml", "lr: 1\nepochs: 2\n"),
        ("keep/a.txt", "a\n"),
        ("skip/b.txt", "b\n"),
        (
            "dvc.yaml",
            "stages:\n  top:\n    cmd: cat keep/a.txt > t.txt\n    deps:\n    - keep/a.txt\n    params:\n    - lr\n    - lr\n    - params.yaml:\n      - lr\n      - epochs\n      - epochs\n    outs:\n    - t.txt\n",
        ),
        (
            "sub/dvc.yaml",
            "stages:\n  inner:\n    cmd: echo i > i.txt\n    outs:\n    - i.txt\n",
        ),
        (
            "ignored/dvc.yaml",
            "stages:\n  hidden:\n    cmd: echo h > h.txt\n    outs:\n    - h.txt\n",
        ),
    ]);
    let dvc = dvc_python().with_file_name("dvc");
    run(&p, &dvc, &["add", "-q", "keep/a.txt", "skip/b.txt"]);
    p.write(".gitignore", "skip/\nstray.dvc\nignored/\n");
    p.write(
        "stray.dvc",
        &p.read("keep/a.txt.dvc")
            .replace("path: a.txt", "path: keep/a.txt"),
    );
    std::fs::create_dir_all(p.path("sub/.dvc")).unwrap();
    p.write("sub/.dvc/config", "[cache]\n    type = symlink\n");
    p.write(".dvc/config", "[cache]\n    type = symlink\n");
    assert_same_graph_of(&p, "ignored and nested");
    let r = p.pipe(&["import-dvc", "--dry"]).ok();
    r.out_has("skip/b.txt.dvc: ignored by git: not imported")
        .out_has("stray.dvc: ignored by git: not imported")
        .out_has("ignored/dvc.yaml: ignored by git: not imported")
        .out_has("sub/.dvc: `sub/` is a DVC project of its own: not imported")
        .out_has(".dvc/config:2: cache `type = symlink` is not carried");
    let dag: Value = serde_json::from_str(&p.pipe(&["dag", "--json"]).ok().stdout).unwrap();
    let top = dag["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "top")
        .expect("stage top");
    assert_eq!(top["params"].as_array().map(Vec::len), Some(2), "{top}");
}

/// What a `.dvcignore` hides (a directory, an anchored path, a glob over `.dvc` files, and
/// a `!pattern` that brings one back, in a subdirectory's own `.dvcignore`) DVC never
/// reads, so pipe does not import it, and names each file once with the pattern's line.
#[test]
fn what_dvcignore_hides_is_skipped_and_said() {
    assert_same_graph("dvcignore");
    let p = clone_of("dvcignore");
    let r = p.pipe(&["import-dvc"]).ok();
    for (path, pattern) in [
        ("scratch/dvc.yaml", "`.dvcignore:2` (`scratch/`)"),
        ("vendor/lib/dvc.yaml", "`.dvcignore:3` (`/vendor`)"),
        ("old-raw.dvc", "`.dvcignore:4` (`old-*.dvc`)"),
        ("sub/drop.txt.dvc", "`sub/.dvcignore:1` (`*.dvc`)"),
    ] {
        let line = format!("{path}: ignored by {pattern}: not imported");
        assert_eq!(r.stderr.matches(&line).count(), 1, "{line}\n{r}");
    }
    r.err_lacks("sub/keep.txt.dvc: ignored");
    // Its patterns inside directory outs are not carried: each file is named once.
    for f in [".dvcignore", "sub/.dvcignore"] {
        let line = format!("warning: {f}: what it hides inside a directory out is not carried");
        assert_eq!(r.stderr.matches(&line).count(), 1, "{line}\n{r}");
    }
}

/// A URL dep (`https://...`, DVC's external dep) is not a project path: it is named once,
/// not carried (it used to become the local path `https:/...`); a dep with a trailing `/`,
/// a space in an out and floats/booleans in a cmd are DVC's.
#[test]
fn a_url_dep_is_named_not_made_a_path() {
    assert_same_graph("url-deps");
    let p = clone_of("url-deps");
    let r = p.pipe(&["import-dvc"]).ok();
    let line = "dvc.yaml:14: stage `ext`: dep `https://example.com/file.csv` is not carried";
    assert_eq!(r.stderr.matches(line).count(), 1, "{r}");
    assert!(
        !p.read("pipe.toml").contains("https:/e"),
        "{}",
        p.read("pipe.toml")
    );
}

/// A DVC 3 plot definition (an id whose `y` names the files) is named once as a
/// definition drawn from its files, not as a path no stage writes.
#[test]
fn a_plot_definition_is_named_with_its_files() {
    assert_same_graph("plot-defs");
    let p = clone_of("plot-defs");
    let r = p.pipe(&["import-dvc"]).ok();
    r.err_has("dvc.yaml:36: top-level plot `confusion` is a plot definition drawn from `preds.csv`: not carried")
        .err_has("dvc.yaml:44: top-level plot `Precision recall` is a plot definition drawn from `preds.csv`")
        .err_lacks("top-level plot `confusion`: no stage writes it");
}

/// foreach/matrix items that are booleans, floats and null are keyed as DVC keys them
/// (`true`, `0.001`, `None`), and `vars` inside a foreach's `do` are read (they were
/// refused as undefined).
#[test]
fn item_values_and_vars_in_do_are_dvcs() {
    assert_same_graph("item-values");
    let p = clone_of("item-values");
    let r = p.pipe(&["import-dvc"]).ok();
    assert_eq!(
        r.stderr.matches("its own vars are written").count(),
        1,
        "{r}"
    );
    let dag: Value = serde_json::from_str(&p.pipe(&["dag", "--json"]).ok().stdout).unwrap();
    let cmd = |id: &str| {
        dag["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no stage {id} in {dag}"))["cmd"]
            .clone()
    };
    assert_eq!(cmd("grid.true-2.5-None"), "echo true 2.5 None");
    assert_eq!(cmd("cfg.large"), "echo v2 9 > cfg-large.txt");
    assert_eq!(cmd("lr.0.001"), "echo 0.001 > lr-0.001.txt");
}

/// foreach over an indexed expression and over a mapping of scalars, folded and literal
/// multi-line commands, and a `.dvc` file's extra fields.
#[test]
fn indexed_foreach_and_multiline_cmds_are_dvcs() {
    assert_same_graph("indexed-foreach");
    // What the `.dvc` file holds beyond its data is named, each once (its top-level
    // `meta` was dropped without a word).
    let p = clone_of("indexed-foreach");
    let r = p.pipe(&["import-dvc"]).ok();
    for line in [
        "data.dvc:2: `data`: `type` is not carried",
        "data.dvc:2: `data`: `labels` is not carried",
        "data.dvc:2: `data`: `meta` is not carried",
        "data.dvc:12: `meta` is not carried",
    ] {
        assert_eq!(r.stderr.matches(line).count(), 1, "{line}\n{r}");
    }
}

/// `./`, `../` and trailing `/` in paths under a `wdir`, and params read from the wdir.
#[test]
fn wdir_relative_paths_are_dvcs() {
    assert_same_graph("wdir-paths");
}

/// DVC stages pipe would give one name are kept apart (the import used to refuse the
/// project: "both become pipe stage `train.a`"), each renamed one said once.
#[test]
fn stages_pipe_would_give_one_name_are_kept_apart() {
    assert_same_graph("name-clash");
    let p = clone_of("name-clash");
    let r = p.pipe(&["import-dvc"]).ok();
    for line in [
        "dvc.yaml:14: stage `train@a` is `train.a_2` in pipe: `train.a` is taken by stage `train.a`",
        "sub/dvc.yaml:2: stage `sub/dvc.yaml:train` is `sub.train_2` in pipe: `sub.train` is taken by stage `sub.train`",
    ] {
        assert_eq!(r.stderr.matches(line).count(), 1, "{line}\n{r}");
    }
}

/// `frozen` and a cmd list inside `do`, a dep named twice, a dep inside tracked data,
/// per-out `remote`/`push` (named once per group), params of a whole sub-dict and file.
#[test]
fn flags_inside_do_and_repeated_deps_are_dvcs() {
    assert_same_graph("flags-in-do");
}

/// `\${...}` is a literal `${`, shell `$VAR`s are left alone, an anchored deps list is
/// shared, and a quoted stage name with a space is renamed once.
#[test]
fn escapes_and_anchored_lists_are_dvcs() {
    assert_same_graph("escapes-anchors");
}

/// Items that are lists (foreach and a matrix axis: keyed by index), `wdir` from an item,
/// and a plain stage's own vars.
#[test]
fn composite_items_are_keyed_as_dvc_keys_them() {
    assert_same_graph("composite-items");
}

/// A dvc.yaml two levels down reading vars from above, a dep on a directory that holds
/// another dvc.yaml's outs, and a dep on a file inside a directory out.
#[test]
fn deep_dvc_yamls_and_directory_deps_are_dvcs() {
    assert_same_graph("deep-dirs");
}

/// A list interpolated into a string (`echo ${shape}`, an item that is a list) is refused,
/// as DVC refuses it, at its dvc.yaml line, and nothing is written (pipe used to write the
/// list out joined by spaces, for a project DVC does not load).
#[test]
fn a_list_in_a_string_is_refused_as_dvc_refuses_it() {
    let p = dvc_project(&[
        ("params.yaml", "shape: [1, 2]\n"),
        (
            "dvc.yaml",
            "stages:\n  a:\n    cmd: echo ${shape} > a.txt\n    outs:\n    - a.txt\n",
        ),
    ]);
    assert!(
        dvc_graph_refuses(&p, "a list in a cmd").contains("Cannot interpolate data of type 'list'")
    );
    let r = p.pipe(&["import-dvc"]).code(2);
    r.err_has("`${shape}` is a list, which DVC does not interpolate into a string")
        .err_has("dvc.yaml:3");
    assert!(!p.exists("pipe.toml"));
}

/// Thousands of git-ignored `.dvc` files (a registry's scratch copies): git is asked about
/// all of them at once and answers path by path, so the import must read its answers
/// while it still writes the questions, or both wait on each other for ever.
#[test]
fn thousands_of_ignored_dvc_files_are_skipped() {
    let p = Project::new().file(
        "dvc.yaml",
        "stages:\n  top:\n    cmd: echo t > t.txt\n    outs:\n    - t.txt\n",
    );
    let n = 4000;
    for i in 0..n {
        p.write(
            &format!("scratch/a-rather-long-directory-name-for-scratch/copy-{i:05}.txt.dvc"),
            &format!(
                "outs:\n- md5: {:032x}\n  size: 1\n  path: copy-{i:05}.txt\n",
                i
            ),
        );
    }
    p.write(".gitignore", "scratch/\n");
    run(&p, Path::new("git"), &["init", "-q"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let root = p.root().to_path_buf();
    std::thread::spawn(move || {
        let o = Command::new(crate::support::bin())
            .args(["import-dvc", "--dry"])
            .current_dir(root)
            .output();
        let _ = tx.send(o);
    });
    let o = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("import-dvc --dry did not finish within 120 s (git check-ignore deadlocked?)")
        .expect("run pipe");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.matches("ignored by git: not imported").count(),
        2 * n,
        "each named once in the comment and once in the list"
    );
    assert!(out.contains("[stage.top]"));
}

/// Python params files (`params.py`, `sub/params.py`): module constants, class attributes
/// (nested classes too), `self.` assignments of `__init__`, a whole file; what DVC skips
/// (an expression, two targets, an `if` body, another method) skipped alike. After
/// `dvc repro`, every stage imports up to date, so each value pipe read equals the one
/// DVC locked; an edit of the file is read as the change of one param.
#[test]
fn python_params_files_are_read_as_dvc_reads_them() {
    assert_same_graph("python-params");
    let p = clone_of("python-params");
    let dvc = dvc_python().with_file_name("dvc");
    run(&p, &dvc, &["repro", "-q"]);
    p.pipe(&["import-dvc"])
        .ok()
        .err_has("Imported 3 of 3 stages up to date from dvc.lock");
    p.pipe(&["status"])
        .ok()
        .out_has("Everything is up to date (3 stages)");
    p.write(
        "params.py",
        &p.read("params.py").replace("LR = 0.01", "LR = 0.02"),
    );
    p.pipe(&["status", "train"])
        .ok()
        .out_has("param LR 0.01 -> 0.02");
}
