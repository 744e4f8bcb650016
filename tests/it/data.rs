//! YAML params files and tracked data (`pipe add`).

use crate::support::Project;

#[test]
fn params_yaml_is_the_default_when_there_is_no_params_toml() {
    let p = Project::new()
        .file("params.yaml", "train:\n  lr: 0.001\n  name: base\n")
        .file(
            "pipe.toml",
            "[stage.a]\ncmd = \"echo ${train.lr} ${train.name} > a.txt\"\nouts = [\"a.txt\"]\n",
        );
    p.pipe(&["repro"]).ok();
    assert_eq!(p.read("a.txt"), "0.001 base\n");
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
    p.write("params.yaml", "train:\n  lr: 0.01\n  name: base\n");
    p.pipe(&["status"])
        .ok()
        .out_has("param train.lr 0.001 -> 0.01");
    // A params.toml, when there is one, stays the default.
    p.write("params.toml", "[train]\nlr = 1\nname = \"toml\"\n");
    p.pipe(&["repro"]).ok();
    assert_eq!(p.read("a.txt"), "1 toml\n");
}

#[test]
fn yaml_params_named_by_file_and_in_the_pipeline() {
    let p = Project::new()
        .file("conf/model.yml", "model:\n  layers: [1, 2]\n  kind: cnn\n")
        .file("base.yaml", "seed: 7\n")
        .file(
            "pipe.toml",
            r#"[pipeline]
params = ["base.yaml"]

[stage.a]
cmd = "echo ${seed} > a.txt"
params = [{ file = "conf/model.yml", keys = ["model.kind"] }]
outs = ["a.txt"]
"#,
        );
    p.pipe(&["repro"]).ok();
    assert_eq!(p.read("a.txt"), "7\n");
    p.write("conf/model.yml", "model:\n  layers: [1, 2]\n  kind: rnn\n");
    p.pipe(&["status"])
        .ok()
        .out_has("param model.kind \"cnn\" -> \"rnn\"");
}

/// A key present with a null value (YAML `~`, empty, JSON `null`) is a param whose value is
/// null: the stage runs, the lock records it, and a change to or from null is a change.
#[test]
fn a_null_param_is_a_value_like_any_other() {
    let p = Project::new()
        .file(
            "params.yaml",
            "train:\n  checkpoint:\n  layers: [8, ~, 4]\n",
        )
        .file("extra.json", "{\"resume\": null}")
        .file(
            "pipe.toml",
            r#"[stage.a]
cmd = "echo ${train.checkpoint} ${train.layers} > a.txt"
params = ["train.layers", { file = "extra.json", keys = ["resume"] }]
outs = ["a.txt"]
"#,
        );
    p.pipe(&["repro"]).ok();
    // As DVC interpolates a null.
    assert_eq!(p.read("a.txt"), "None 8 None 4\n");
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
    p.write(
        "params.yaml",
        "train:\n  checkpoint: last.ckpt\n  layers: [8, ~, 4]\n",
    );
    p.pipe(&["status"])
        .ok()
        .out_has("param train.checkpoint null -> \"last.ckpt\"");
    p.pipe(&["repro"]).ok();
    p.write("extra.json", "{\"resume\": true}");
    p.pipe(&["status"])
        .ok()
        .out_has("param resume null -> true");
    p.write("extra.json", "{\"resume\": null}");
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
}

#[test]
fn bad_yaml_params_point_at_file_line_and_column() {
    let p = Project::new()
        .file("params.yaml", "train:\n  lr: [0.1,\n  x: }\n")
        .file(
            "pipe.toml",
            "[stage.a]\ncmd = \"echo\"\nparams = [\"train.lr\"]\n",
        );
    let r = p.pipe(&["status"]).code(2);
    r.err_has("invalid YAML").err_has("params.yaml:3:");
    let p = Project::new()
        .file("params.yaml", "train:\n  lr: 1\n")
        .file(
            "pipe.toml",
            "[stage.a]\ncmd = \"echo\"\nparams = [\"train.lrr\"]\n",
        );
    p.pipe(&["status"])
        .code(2)
        .err_has("did you mean `train.lr`");
}

const WITH_DATA: &str = r#"[stage.count]
cmd = "ls raw | wc -l > count.txt && cat raw/a.txt encoder.bin > joined.txt"
deps = ["raw", "encoder.bin"]
outs = ["count.txt", "joined.txt"]
"#;

fn with_raw_data() -> Project {
    Project::new()
        .file("raw/a.txt", "alpha\n")
        .file("raw/sub/b.txt", "beta\n")
        .file("encoder.bin", "weights\n")
        .file("pipe.toml", WITH_DATA)
}

#[test]
fn add_counts_one_file_in_the_singular() {
    let p = with_raw_data();
    p.pipe(&["add", "raw/sub"])
        .ok()
        .err_has("raw/sub (1 file, 5 B)");
}

#[test]
fn add_records_data_in_the_pipeline_and_the_lock() {
    let p = with_raw_data();
    let r = p.pipe(&["add", "raw", "encoder.bin"]).ok();
    r.err_has("Added").err_has("raw (2 files");
    let toml = p.read("pipe.toml");
    assert!(toml.starts_with(WITH_DATA), "{toml}");
    assert!(
        toml.contains("[data]\nraw = {}\n\"encoder.bin\" = {}\n"),
        "{toml}"
    );
    let lock = p.read("pipe.lock");
    assert!(
        lock.contains("[stage.\"data:raw\"]\ncmd = \"pipe add\"\n"),
        "{lock}"
    );
    assert!(lock.contains("outs.raw = { digest"), "{lock}");
    let r = p.pipe(&["status"]).ok();
    r.out_has("count: stale");
    assert!(
        !r.stdout.contains("data:raw"),
        "recorded data is up to date\n{r}"
    );
    p.pipe(&["repro"]).ok();
    assert_eq!(p.read("count.txt").trim(), "2");
    p.pipe(&["status"]).ok().out_has("Everything is up to date");

    // An edit shows in status (the data, and the stage reading it), and add records it.
    p.write("raw/a.txt", "ALPHA\n");
    let r = p.pipe(&["status"]).ok();
    r.out_has("data:raw: stale").out_has("out raw modified");
    r.out_has("count: stale").out_has("dep raw changed");
    p.pipe(&["add", "raw"]).ok();
    let r = p.pipe(&["status"]).ok();
    assert!(!r.stdout.contains("data:raw"), "{r}");
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), vec!["count"]);
    assert_eq!(p.read("joined.txt"), "ALPHA\nweights\n");

    // Deleted: status says so, checkout brings it back from the cache.
    p.remove("raw");
    p.pipe(&["status"]).ok().out_has("out raw missing");
    p.pipe(&["checkout"]).ok().err_has("Restored raw");
    assert_eq!(p.read("raw/sub/b.txt"), "beta\n");
    let r = p.pipe(&["repro"]).ok();
    assert!(r.ran().is_empty(), "{r}");

    // gc keeps the data (it is in the lock).
    p.pipe(&["gc", "--workspace"]).ok();
    p.remove("raw");
    p.pipe(&["checkout"]).ok();
    assert_eq!(p.read("raw/a.txt"), "ALPHA\n");
}

#[test]
fn add_refuses_outs_missing_paths_and_paths_outside() {
    let p = with_raw_data();
    p.pipe(&["add", "raw", "encoder.bin"]).ok();
    p.pipe(&["repro"]).ok();
    let before = p.read("pipe.toml");
    let lock = p.read("pipe.lock");
    p.pipe(&["add", "count.txt"])
        .code(2)
        .err_has("stage `count` writes it");
    p.pipe(&["add", "nope"]).code(2).err_has("does not exist");
    p.pipe(&["add", "/tmp"])
        .code(2)
        .err_has("outside the workspace");
    p.pipe(&["add", ".pipe"])
        .code(2)
        .err_has("belongs to the workspace");
    assert_eq!(p.read("pipe.toml"), before, "nothing changed");
    assert_eq!(p.read("pipe.lock"), lock, "nothing changed");
}

#[test]
fn added_data_goes_to_a_directory_remote_and_comes_back_in_a_fresh_clone() {
    let p = with_raw_data();
    let store = tempfile::tempdir().expect("tmp");
    p.pipe(&["add", "raw", "encoder.bin"]).ok();
    p.pipe(&["repro"]).ok();
    p.pipe(&[
        "remote",
        "add",
        "team",
        store.path().to_str().expect("utf-8"),
        "--default",
    ])
    .ok();
    p.pipe(&["push"]).ok().err_has("Pushed");

    // A teammate's clone: the committed files, none of the data.
    let q = teammate_of(&p);
    // Unpulled data says where it comes back from, as does the stage reading it.
    q.pipe(&["status"])
        .ok()
        .out_has("out raw missing: pull it from remote `team` (`pipe pull raw`)")
        .out_has("dep raw missing: pull it from remote `team` (`pipe pull raw`)");
    let json: serde_json::Value =
        serde_json::from_str(&q.pipe(&["status", "--json"]).ok().stdout).expect("JSON");
    assert_eq!(
        json["missing"]["raw"], "pull it from remote `team` (`pipe pull raw`)",
        "{json}"
    );
    q.pipe(&["pull"]).ok().err_has("Restored raw");
    for f in [
        "raw/a.txt",
        "raw/sub/b.txt",
        "encoder.bin",
        "count.txt",
        "joined.txt",
    ] {
        assert_eq!(q.read(f), p.read(f), "{f}");
    }
    q.pipe(&["status"]).ok().out_has("Everything is up to date");
    let r = q.pipe(&["repro"]).ok();
    assert!(r.ran().is_empty(), "{r}");

    // fetch alone brings only objects; checkout then places them.
    let c = teammate_of(&p);
    c.pipe(&["fetch", "raw"]).ok();
    assert!(!c.exists("raw"));
    c.pipe(&["status"])
        .ok()
        .out_has("out raw missing: in the cache: `pipe checkout raw` restores it");
    c.pipe(&["checkout", "raw"]).ok();
    assert_eq!(c.read("raw/a.txt"), "alpha\n");
}

/// A teammate's clone of `p`: its committed files, none of its data.
fn teammate_of(p: &Project) -> Project {
    let q = Project::new();
    for f in ["pipe.toml", "pipe.lock", ".pipe/config.toml"] {
        q.write(f, &p.read(f));
    }
    q
}

/// A stage counting the files of all of `raw`.
const COUNT_RAW: &str = "[stage.count]\ncmd = \"find raw -type f | wc -l > count.txt\"\ndeps = [\"raw\"]\nouts = [\"count.txt\"]\n";

/// Two cameras' sequences tracked as `raw`, `pipeline` run and pushed to a directory
/// remote; the remote (kept alive) and a teammate's clone.
fn cameras_pushed(pipeline: &str) -> (tempfile::TempDir, Project) {
    let p = Project::new()
        .file("raw/cam07/a.txt", "a1\n")
        .file("raw/cam07/b.txt", "a2\n")
        .file("raw/cam08/a.txt", "b1\n")
        .file("raw/cam08/b.txt", "b2\n")
        .file("raw/cam08/c.txt", "b3\n")
        .file("pipe.toml", pipeline);
    let store = tempfile::tempdir().expect("tmp");
    p.pipe(&["add", "raw"]).ok();
    p.pipe(&["repro"]).ok();
    p.pipe(&[
        "remote",
        "add",
        "team",
        store.path().to_str().expect("utf-8"),
        "--default",
    ])
    .ok();
    p.pipe(&["push"]).ok();
    (store, teammate_of(&p))
}

/// A stage that reads only the part that was pulled runs; one that reads the whole
/// directory waits for the rest.
#[test]
fn a_stage_reading_only_the_pulled_part_runs() {
    let (_store, q) = cameras_pushed(&format!(
        "{COUNT_RAW}\n[stage.one]\ncmd = \"cat raw/cam07/a.txt > one.txt\"\ndeps = [\"raw/cam07\"]\nouts = [\"one.txt\"]\n"
    ));
    q.pipe(&["pull", "raw/cam07"]).ok();
    q.pipe(&["repro", "one"]).ok();
    assert_eq!(q.read("one.txt"), "a1\n");
    q.pipe(&["repro", "count"])
        .code(3)
        .err_has("dep `raw` of stage `count` is partially present");
}

/// `pipe pull` of a path inside a tracked directory brings that part alone (the manifest
/// and the files under it); status says the directory is partially present, a stage
/// reading it does not run on the part, and pulling the directory brings only the rest.
#[test]
fn a_part_of_a_directory_is_pulled_alone() {
    let (_store, q) = cameras_pushed(COUNT_RAW);
    // The manifest and cam07's two files: three objects.
    q.pipe(&["pull", "raw/cam07"])
        .ok()
        .err_has("Fetched 3 object(s)")
        .err_has("Restored raw/cam07 (2 file(s) of raw)");
    assert_eq!(q.read("raw/cam07/a.txt"), "a1\n");
    assert!(!q.exists("raw/cam08"), "only the part comes");
    // An editor's swap file that `.pipeignore` keeps out of the out's digest is no more
    // a file of the part than of the whole.
    q.write(".pipeignore", "*.swp\n");
    q.write("raw/cam07/.a.txt.swp", "scratch");
    q.pipe(&["status"])
        .ok()
        .out_has("out raw partially present (2 of 5 files): `pipe pull raw` brings the rest");
    assert!(!q.pipe(&["status"]).ok().stdout.contains("modified"));
    std::fs::remove_file(q.path("raw/cam07/.a.txt.swp")).expect("remove the swap file");
    q.pipe(&["repro"])
        .code(3)
        .err_has("dep `raw` of stage `count` is partially present (2 of 5 files)");
    assert!(!q.exists("count.txt"), "the stage did not run on the part");
    // One file, then the rest: only what is missing moves.
    q.pipe(&["fetch", "raw/cam08/c.txt"])
        .ok()
        .err_has("Fetched 1 object(s)");
    q.pipe(&["pull", "raw"]).ok().err_has("Fetched 2 object(s)");
    assert_eq!(q.read("raw/cam08/c.txt"), "b3\n");
    // Whole again: the stage reading it runs (or is restored) on all of it.
    q.pipe(&["repro"]).ok();
    assert_eq!(q.read("count.txt").trim(), "5");
    q.pipe(&["pull", "raw/cam99"])
        .code(2)
        .err_has("`raw/cam99` names no file of out `raw`");
}

/// With only a part of a directory in the cache (a `pipe fetch` of it), status does not
/// send the user to `pipe checkout`, which cannot restore the rest, but to the remote.
#[test]
fn a_directory_cached_in_part_is_pulled_not_checked_out() {
    let (_store, q) = cameras_pushed(COUNT_RAW);
    q.pipe(&["fetch", "raw/cam07"])
        .ok()
        .err_has("Fetched 3 object(s)");
    q.pipe(&["status"])
        .ok()
        .out_has("out raw missing: pull it from remote `team` (`pipe pull raw`)");
    q.pipe(&["fetch", "raw"]).ok();
    q.pipe(&["status"])
        .ok()
        .out_has("out raw missing: in the cache: `pipe checkout raw` restores it");
}
