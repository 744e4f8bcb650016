//! Staleness of each kind, with the reasons pipe gives, and only-what-changed reruns.

use crate::support::{Project, count_files, three_stages};

#[test]
fn second_run_runs_nothing() {
    let p = three_stages();
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["a", "b", "c"]);
    assert_eq!(p.read("b.txt"), "alpha\nlr=0.001\nepochs=3\n");
    let r = p.pipe(&["repro"]).ok();
    assert!(r.ran().is_empty(), "{r}");
    r.err_has("everything is up to date");
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (3 stages).\n");
}

#[test]
fn a_changed_dep_reruns_only_what_reads_it() {
    let p = three_stages();
    p.pipe(&["repro"]).ok();
    p.write("src/c.txt", "gamma 2\n");
    p.pipe(&["status"])
        .ok()
        .out_is("c: stale\n    dep src/c.txt changed\n");
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["c"]);
    assert_eq!(p.read("c.txt"), "gamma 2\n");
}

#[test]
fn a_param_change_names_the_key_and_values() {
    let p = three_stages();
    p.pipe(&["repro"]).ok();
    p.write("params.toml", "[train]\nlr = 0.01\nepochs = 3\n");
    p.pipe(&["status"]).ok().out_is(
        "a: stale\n    param train.lr 0.001 -> 0.01\nb: stale\n    upstream stage a will run\n",
    );
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["a", "b"]);
    r.err_has("Running a: param train.lr 0.001 -> 0.01");
    // An unrelated key changing does not touch a stage that reads only another key.
    p.write("params.toml", "[train]\nlr = 0.01\nepochs = 4\n");
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["b"]);
}

#[test]
fn a_reverted_param_is_restored_from_the_run_cache() {
    let p = three_stages();
    p.pipe(&["repro"]).ok();
    let first = p.read("b.txt");
    p.write("params.toml", "[train]\nlr = 0.5\nepochs = 3\n");
    p.pipe(&["repro"]).ok();
    assert_ne!(p.read("b.txt"), first);
    p.write("params.toml", "[train]\nlr = 0.001\nepochs = 3\n");
    p.pipe(&["status"]).ok().out_is(
        "a: stale (restorable from the run cache)\n    param train.lr 0.5 -> 0.001\nb: stale\n    upstream stage a will run\n",
    );
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.restored(), ["a", "b"], "{r}");
    assert!(r.ran().is_empty(), "{r}");
    assert_eq!(p.read("b.txt"), first);
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (3 stages).\n");
}

#[test]
fn a_deleted_or_edited_out_is_reported_and_restored() {
    let p = three_stages();
    p.pipe(&["repro"]).ok();
    p.remove("c.txt");
    p.pipe(&["status"])
        .ok()
        .out_is("c: stale (restorable from the run cache)\n    out c.txt missing\n");
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.restored(), ["c"]);
    assert_eq!(p.read("c.txt"), "gamma\n");
    p.write("c.txt", "edited by hand\n");
    p.pipe(&["status"])
        .ok()
        .out_is("c: stale (restorable from the run cache)\n    out c.txt modified\n");
}

#[test]
fn a_command_change_is_a_reason() {
    let p = three_stages();
    p.pipe(&["repro"]).ok();
    let spec = p
        .read("pipe.toml")
        .replace("cp src/c.txt c.txt", "cat src/c.txt > c.txt");
    p.write("pipe.toml", &spec);
    p.pipe(&["status"])
        .ok()
        .out_is("c: stale\n    command changed\n");
    let r = p.pipe(&["repro", "--no-run-cache"]).ok();
    assert_eq!(r.ran(), ["c"]);
}

#[test]
fn identical_upstream_output_stops_the_cascade() {
    // b reads data/a.txt; when a reruns but writes the same bytes, b stays fresh.
    let p = three_stages();
    p.pipe(&["repro"]).ok();
    let spec = p.read("pipe.toml").replace(
        "echo lr=${train.lr} >> data/a.txt",
        "echo lr=${train.lr} >> data/a.txt; true",
    );
    p.write("pipe.toml", &spec);
    let r = p.pipe(&["repro", "--no-run-cache"]).ok();
    assert_eq!(r.ran(), ["a"], "{r}");
}

#[test]
fn force_single_and_downstream_select_stages() {
    let p = three_stages();
    p.pipe(&["repro"]).ok();
    assert_eq!(p.pipe(&["repro", "-f", "b"]).ok().ran(), ["a", "b"]);
    assert_eq!(p.pipe(&["repro", "-f", "-s", "b"]).ok().ran(), ["b"]);
    assert_eq!(
        p.pipe(&["repro", "-f", "--downstream", "a"]).ok().ran(),
        ["a", "b"]
    );
    // An out path names its stage.
    assert_eq!(p.pipe(&["repro", "-f", "-s", "c.txt"]).ok().ran(), ["c"]);
    p.pipe(&["repro", "nope"])
        .code(2)
        .err_has("no stage `nope`");
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let p = three_stages();
    p.pipe(&["repro", "--dry"])
        .ok()
        .out_is("Would run a: never run\nWould run b: never run\nWould run c: never run\n");
    assert!(!p.exists("b.txt"));
    assert!(!p.exists("pipe.lock"));
}

#[test]
fn status_json_carries_tagged_reasons() {
    let p = three_stages();
    p.pipe(&["repro"]).ok();
    p.write("params.toml", "[train]\nlr = 0.02\nepochs = 3\n");
    let r = p.pipe(&["status", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let stale = v["stale"].as_array().expect("stale");
    assert_eq!(stale[0]["stage"], "a");
    assert_eq!(stale[0]["state"], "dirty");
    let reason = &stale[0]["reasons"][0];
    assert_eq!(reason["reason"], "param_changed");
    assert_eq!(reason["key"], "train.lr");
    assert_eq!(reason["old"], "0.001");
    assert_eq!(reason["new"], "0.02");
    assert_eq!(v["fresh"], 1);
}

#[test]
fn a_dep_modified_while_its_stage_runs_leaves_it_stale() {
    // The stage rewrites in.txt (same size) once the filesystem's clock has ticked past
    // its mtime (a fresh file, `tick`, is newer), so the rewrite gets a later mtime.
    let p = Project::new().file("in.txt", "one\n").file(
        "pipe.toml",
        r#"
[stage.s]
cmd = "cat in.txt > out.txt; touch tick; until find tick -newer in.txt | grep -q .; do touch tick; done; echo two > in.txt"
deps = ["in.txt"]
outs = ["out.txt"]
"#,
    );
    p.pipe(&["repro"])
        .ok()
        .err_has("dep in.txt changed while stage s ran");
    p.pipe(&["status"]).ok().out_is(
        "s: stale\n    dep in.txt changed\n    dep in.txt changed while the stage last ran\n",
    );
}

/// Defect 4: d.txt goes from version1 to version2 while the stage runs, then back. The
/// run's outs hold version2, so they must never be recorded as what version1 gives: no
/// run-cache record, a lock entry that keeps the stage stale, and the next repro runs it.
#[test]
fn a_dep_changed_and_put_back_during_the_run_is_never_locked_as_its_input() {
    let p = Project::new().file("d.txt", "version1\n").file(
        "pipe.toml",
        r#"
[stage.s]
cmd = "touch started; while [ ! -e go ]; do sleep 0.02; done; cat d.txt > r.txt"
deps = ["d.txt"]
outs = ["r.txt"]
"#,
    );
    let child = p
        .cmd(&["repro"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pipe");
    p.wait_for("started");
    p.write("d.txt", "version2\n");
    p.write("go", "");
    let out = child.wait_with_output().expect("wait for pipe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("dep d.txt changed while stage s ran"),
        "{stderr}"
    );
    assert_eq!(p.read("r.txt"), "version2\n");
    assert_eq!(
        count_files(&p.path(".pipe/cache/runs")),
        0,
        "a run on changing inputs wrote a run-cache record"
    );
    assert!(
        p.read("pipe.lock")
            .contains("changed_during_run = [\"d.txt\"]"),
        "{}",
        p.read("pipe.lock")
    );

    p.write("d.txt", "version1\n");
    p.pipe(&["status"])
        .ok()
        .out_is("s: stale\n    dep d.txt changed while the stage last ran\n");
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["s"], "{r}");
    assert_eq!(p.read("r.txt"), "version1\n");
    assert!(!p.read("pipe.lock").contains("changed_during_run"));
    assert_eq!(count_files(&p.path(".pipe/cache/runs")), 1);
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (1 stage).\n");
}

#[test]
fn frozen_and_always_changed() {
    let p = Project::new().file(
        "pipe.toml",
        r#"
[stage.f]
cmd = "date +%N > f.txt"
outs = ["f.txt"]
frozen = true

[stage.a]
cmd = "date +%N > a.txt"
outs = ["a.txt"]
always_changed = true
"#,
    );
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["a"]);
    assert!(!p.exists("f.txt"), "a frozen stage never runs");
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(
        r.ran(),
        ["a"],
        "always_changed runs every time, never restored"
    );
}

/// A frozen stage whose outs are missing is shown by status (as DVC shows it), with where
/// they come back from; the stage reading them fails naming the frozen stage, not "no stage
/// makes it".
#[test]
fn a_frozen_stage_with_missing_outs_is_shown() {
    let pipeline = |frozen: bool| {
        format!(
            "[stage.a]\ncmd = \"echo a > a.txt\"\nouts = [\"a.txt\"]\nfrozen = {frozen}\n\n[stage.b]\ncmd = \"cat a.txt > b.txt\"\ndeps = [\"a.txt\"]\nouts = [\"b.txt\"]\n"
        )
    };
    let p = Project::new().file("pipe.toml", &pipeline(true));
    p.pipe(&["status"]).ok().out_has(
        "a: frozen, outs missing\n    out a.txt missing: stage `a` is frozen and has never run",
    );
    p.write("pipe.toml", &pipeline(false));
    p.pipe(&["repro"]).ok();
    p.write("pipe.toml", &pipeline(true));
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
    p.remove("a.txt");
    p.remove("b.txt");
    let r = p.pipe(&["status"]).ok();
    r.out_has("a: frozen, outs missing\n    out a.txt missing: in the cache: `pipe checkout a.txt` restores it")
        .out_has("dep a.txt missing: in the cache");
    let json: serde_json::Value =
        serde_json::from_str(&p.pipe(&["status", "--json"]).ok().stdout).expect("JSON");
    assert_eq!(json["frozen_missing"][0]["stage"], "a", "{json}");
    assert_eq!(json["frozen_missing"][0]["missing"][0], "a.txt", "{json}");
    p.pipe(&["repro"])
        .code(3)
        .err_has("dep `a.txt` of stage `b` does not exist: it is an out of frozen stage `a`");
    p.pipe(&["checkout", "a.txt"]).ok();
    let r = p.pipe(&["repro"]).ok();
    assert!(r.ran().is_empty() && p.exists("b.txt"), "{r}");
}

#[test]
fn directory_deps_and_pipeignore() {
    let p = Project::new()
        .file("data/x.txt", "x")
        .file("data/sub/y.txt", "y")
        .file("data/.pipeignore", "*.tmp\n")
        .file("pipe.toml", "[stage.s]\ncmd = \"ls -R data > listing.txt\"\ndeps = [\"data\"]\nouts = [\"listing.txt\"]\n");
    p.pipe(&["repro"]).ok();
    p.write("data/scratch.tmp", "ignored");
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (1 stage).\n");
    p.write("data/sub/y.txt", "y2");
    p.pipe(&["status"])
        .ok()
        .out_is("s: stale\n    dep data changed\n");
}

#[test]
fn wdir_runs_the_command_there_and_paths_stay_relative() {
    let p = Project::new().file("sub/in.txt", "hello").file(
        "pipe.toml",
        "[stage.s]\nwdir = \"sub\"\ncmd = \"pwd > where.txt && cat ${deps[0]} > ${outs[0]}\"\ndeps = [\"in.txt\"]\nouts = [\"out.txt\"]\n",
    );
    p.pipe(&["repro"]).ok();
    assert_eq!(p.read("sub/out.txt"), "hello");
    assert!(p.read("sub/where.txt").trim_end().ends_with("/sub"));
    p.pipe(&["dag"]).ok().out_is("s\n");
}

/// The `pipe::run::decide` debug lines of `stage` in a `PIPE_LOG=pipe=debug` stderr.
fn decision_lines<'a>(stderr: &'a str, stage: &str) -> Vec<&'a str> {
    let tag = format!("stage={stage} ");
    stderr
        .lines()
        .filter(|l| l.contains("pipe::run::decide") && l.contains(&tag))
        .collect()
}

#[test]
fn debug_log_explains_every_decision() {
    let p = Project::new().file("x.txt", "1").file(
        "pipe.toml",
        "[stage.a]\ncmd = \"cp x.txt a.txt\"\ndeps = [\"x.txt\"]\nouts = [\"a.txt\"]\n\n\
         [stage.b]\ncmd = \"cp a.txt b.txt\"\ndeps = [\"a.txt\"]\nouts = [\"b.txt\"]\n\n\
         [stage.c]\ncmd = \"echo c > c.txt\"\nouts = [\"c.txt\"]\n\n\
         [stage.f]\ncmd = \"echo f > f.txt\"\nouts = [\"f.txt\"]\nfrozen = true\n",
    );
    p.pipe(&["repro"]).ok();
    p.write("x.txt", "2");
    p.pipe(&["repro"]).ok();
    // Back to the first input: a is a run-cache hit, b waits for it, c is fresh.
    p.write("x.txt", "1");
    let debug = |args: &[&str]| {
        let out = p
            .cmd(args)
            .env("PIPE_LOG", "pipe=debug")
            .output()
            .expect("run pipe");
        assert!(out.status.success(), "{args:?} failed");
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    };
    let err = debug(&["status"]);
    let one = |stage: &str| -> String {
        let lines = decision_lines(&err, stage);
        assert_eq!(lines.len(), 1, "one decision for {stage} in:\n{err}");
        lines[0].to_string()
    };
    let a = one("a");
    assert!(a.contains("decision=restore"), "{a}");
    assert!(a.contains("reasons=dep x.txt changed"), "{a}");
    assert!(a.contains("run_cache=hit"), "{a}");
    let key = a
        .split("key=")
        .nth(1)
        .expect("a key")
        .split(' ')
        .next()
        .expect("key");
    assert_eq!(key.len(), 64, "a full digest: {a}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
    let b = one("b");
    assert!(b.contains("decision=run"), "{b}");
    assert!(b.contains("reasons=upstream stage a will run"), "{b}");
    assert!(b.contains("run_cache=an upstream stage runs first"), "{b}");
    assert!(one("c").contains("decision=fresh"));
    assert!(one("f").contains("decision=frozen"));

    // The scheduler asks the same function: a and b restored, with the key a was found under.
    let err = debug(&["repro"]);
    let a = decision_lines(&err, "a");
    assert!(
        a.iter()
            .any(|l| l.contains("decision=restore") && l.contains(key)),
        "{err}"
    );
    let b = decision_lines(&err, "b");
    assert!(
        b.iter()
            .any(|l| l.contains("decision=restore") && l.contains("reasons=dep a.txt changed")),
        "{err}"
    );
    assert!(
        decision_lines(&err, "c")
            .iter()
            .any(|l| l.contains("decision=fresh")),
        "{err}"
    );
    assert!(
        decision_lines(&err, "f")
            .iter()
            .any(|l| l.contains("decision=frozen")),
        "{err}"
    );
    assert_eq!(p.read("b.txt"), "1");
    // Without PIPE_LOG there is no debug line.
    p.pipe(&["status"]).ok().err_lacks("pipe::run::decide");
}
