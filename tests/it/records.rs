//! Records no command loses, keys carried rather than recomputed, and names and paths
//! taken from records (run-cache records, experiment records, a DVC project) that cannot
//! leave the workspace (issue 19, items 3, 4, 5, 11, 12, 14 and the smaller ones).

use std::time::Duration;

use crate::support::Project;

/// A pipeline whose one stage starts (`started`), then blocks until the test creates `go`.
fn blocking_stage() -> Project {
    Project::new().file("raw/a.txt", "raw data\n").file(
        "pipe.toml",
        "[stage.slow]\ncmd = \"touch started; while [ ! -e go ]; do sleep 0.02; done; echo slow > slow.txt\"\nouts = [\"slow.txt\"]\n",
    )
}

#[test]
fn a_repro_keeps_what_another_terminal_added_and_ran_meanwhile() {
    let p = blocking_stage();
    p.git(&["init", "-q"]);
    p.pipe(&["init"]).ok();
    let repro = p.start_until(
        &["repro"],
        "the stage to start",
        Duration::from_secs(60),
        || p.exists("started"),
    );
    // Meanwhile, in a second terminal: track a path, then add a stage and run it.
    p.pipe(&["add", "raw"]).ok().err_has("Added raw");
    let spec = p.read("pipe.toml");
    p.write(
        "pipe.toml",
        &format!(
            "{spec}\n[stage.other]\ncmd = \"echo other > other.txt\"\nouts = [\"other.txt\"]\n"
        ),
    );
    p.pipe(&["repro", "other"]).ok();
    let lock = p.read("pipe.lock");
    assert!(lock.contains("[stage.\"data:raw\"]"), "{lock}");
    assert!(lock.contains("[stage.other]"), "{lock}");
    // The first repro ends now.
    p.write("go", "");
    repro.finish().ok();
    let lock = p.read("pipe.lock");
    assert!(lock.contains("[stage.slow]"), "{lock}");
    assert!(
        lock.contains("[stage.\"data:raw\"]"),
        "the repro dropped what `pipe add` recorded:\n{lock}"
    );
    assert!(
        lock.contains("[stage.other]"),
        "the repro dropped the other terminal's stage:\n{lock}"
    );
    let ignore = p.read(".gitignore");
    assert!(ignore.contains("/raw"), "{ignore}");
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (3 stages).\n");
    // A stage really removed from the pipeline is still dropped at the next fold.
    p.write("pipe.toml", &spec);
    p.pipe(&["repro"]).ok();
    assert!(!p.read("pipe.lock").contains("[stage.other]"));
}

/// A stage that prints, one that prints and fails with code 5 (when `FAIL` exists).
fn printing_stages() -> Project {
    Project::new().file(
        "pipe.toml",
        "[stage.a]\ncmd = \"echo hello; echo a > a.txt\"\nouts = [\"a.txt\"]\n\n[stage.b]\ncmd = \"echo b; if [ -e FAIL ]; then exit 5; fi; echo b > b.txt\"\nouts = [\"b.txt\"]\n",
    )
}

#[test]
fn output_that_cannot_be_written_stops_the_printing_not_the_commit() {
    use std::process::Stdio;
    let full = || std::fs::File::create("/dev/full").expect("/dev/full");
    // stderr on a full disk.
    let p = printing_stages();
    let run = crate::support::Run::from(
        p.cmd(&["repro"])
            .stdout(Stdio::null())
            .stderr(full())
            .output()
            .expect("run pipe"),
    );
    assert_eq!(run.code, 3, "{run}");
    let lock = p.read("pipe.lock");
    assert!(
        lock.contains("[stage.a]") && lock.contains("[stage.b]"),
        "{lock}"
    );
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (2 stages).\n");
    // stdout and stderr into a pipe nobody reads (`pipe repro 2>&1 | head -0`).
    let p = printing_stages();
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let status = p
        .cmd(&["repro"])
        .stdout(writer.try_clone().expect("dup"))
        .stderr(writer)
        .status()
        .expect("run pipe");
    assert_eq!(status.code(), Some(3), "{status:?}");
    let lock = p.read("pipe.lock");
    assert!(
        lock.contains("[stage.a]") && lock.contains("[stage.b]"),
        "{lock}"
    );
    // Only stdout closed: pipe says so on stderr, which works.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let run = crate::support::Run::from(
        p.cmd(&["status", "--json"])
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run pipe"),
    );
    assert_eq!(run.code, 3, "{run}");
    run.err_has("output was cut short (standard output: Broken pipe");
    // A stage's own failure keeps its exit code.
    p.write("FAIL", "");
    p.write(
        "pipe.toml",
        &p.read("pipe.toml").replace("echo b;", "echo b2;"),
    );
    let run = crate::support::Run::from(
        p.cmd(&["repro"])
            .stdout(Stdio::null())
            .stderr(full())
            .output()
            .expect("run pipe"),
    );
    assert_eq!(run.code, 5, "{run}");
}

/// A stage that reads a param, and a directory remote `team` as the default.
fn param_stage(remote: &std::path::Path) -> Project {
    let p = Project::new()
        .file("params.toml", "[train]\nlr = 1\n")
        .file(
            "pipe.toml",
            "[stage.train]\ncmd = \"echo lr=${train.lr} > model.txt\"\nouts = [\"model.txt\"]\n",
        );
    p.pipe(&[
        "remote",
        "add",
        "team",
        &remote.display().to_string(),
        "--default",
    ])
    .ok();
    p
}

fn remote_records(remote: &std::path::Path) -> usize {
    crate::support::count_files(&remote.join("runs"))
}

#[test]
fn push_sends_the_record_under_the_key_the_run_carried() {
    let remote = tempfile::tempdir().expect("tmp");
    let p = param_stage(remote.path());
    p.pipe(&["repro"]).ok();
    let lock = p.read("pipe.lock");
    assert!(
        lock.contains("\nkey = \""),
        "the entry carries its key:\n{lock}"
    );
    // A params edit not run yet: the entry still names the run it records.
    p.write("params.toml", "[train]\nlr = 2\n");
    p.pipe(&["push"]).ok().err_has("1 run-cache record(s)");
    assert_eq!(remote_records(remote.path()), 1);
    // A teammate with lr = 1 restores it rather than running.
    let q = param_stage(remote.path());
    let r = q.pipe(&["repro", "--pull"]).ok();
    assert_eq!(r.restored(), vec!["train"], "{r}");
    assert_eq!(q.read("model.txt"), "lr=1\n");
    // A lock written before pipe carried keys still loads; push says what it cannot send.
    let old: String = p
        .read("pipe.lock")
        .lines()
        .filter(|l| !l.starts_with("key = "))
        .map(|l| format!("{l}\n"))
        .collect();
    p.write("pipe.lock", &old);
    p.write("params.toml", "[train]\nlr = 1\n");
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (1 stages).\n");
    p.pipe(&["push"])
        .ok()
        .err_has("0 run-cache record(s)")
        .err_has("no run-cache record is pushed for stage(s) train: the lock names none");
}

/// `record` with `extra` outs added beside the ones it names (each a copy of the first).
fn with_extra_outs(record: &str, extra: &[&str]) -> String {
    let (head, rest) = record
        .split_once("\"outs\":{")
        .expect("a record names its outs");
    let value_at = rest.find(":{").expect("an out") + 1;
    let value = &rest[value_at..=value_at + rest[value_at..].find('}').expect("its end")];
    let added: String = extra.iter().map(|p| format!("\"{p}\":{value},")).collect();
    format!("{head}\"outs\":{{{added}{rest}")
}

/// Replaces the file at `path` (possibly read-only) with `text`.
fn replace(path: &std::path::Path, text: &str) {
    std::fs::remove_file(path).expect("rm");
    std::fs::write(path, text).expect("write");
}

/// The key the lock entry of the only stage carries, as `ab/cdef…` below `runs/`.
fn record_rel(p: &Project) -> String {
    let lock = p.read("pipe.lock");
    let key = lock
        .lines()
        .find_map(|l| l.strip_prefix("key = \""))
        .and_then(|k| k.strip_suffix('"'))
        .expect("a key in the lock");
    format!("runs/{}/{}", &key[..2], &key[2..])
}

#[test]
fn a_record_naming_outs_the_stage_does_not_declare_is_ignored() {
    let remote = tempfile::tempdir().expect("tmp");
    let p = param_stage(remote.path());
    p.pipe(&["repro"]).ok();
    p.pipe(&["push"]).ok().err_has("1 run-cache record(s)");
    let rel = record_rel(&p);
    let on_remote = remote.path().join(&rel);
    let text = std::fs::read_to_string(&on_remote).expect("the pushed record");
    replace(&on_remote, &with_extra_outs(&text, &["../../x", "/tmp/y"]));
    // A teammate's `repro --pull` ignores it, says so, and runs the stage.
    let q = param_stage(remote.path());
    let r = q.pipe(&["repro", "--pull"]).ok();
    r.err_has("is corrupt and ignored: it names out `../../x`, which stage train does not declare");
    assert_eq!(r.ran(), vec!["train"], "{r}");
    let lock = q.read("pipe.lock");
    assert!(
        !lock.contains("../../x") && !lock.contains("/tmp/y"),
        "{lock}"
    );
    let kept = std::fs::read_to_string(q.path(".pipe/cache").join(&rel)).unwrap_or_default();
    assert!(
        !kept.contains("../../x"),
        "the corrupt record was kept: {kept}"
    );
    let again = q.pipe(&["repro", "--pull"]).ok();
    assert!(
        again.ran().is_empty() && again.restored().is_empty(),
        "{again}"
    );
    // The same record in the local run cache.
    let local = p.path(".pipe/cache").join(&rel);
    let text = std::fs::read_to_string(&local).expect("the local record");
    replace(&local, &with_extra_outs(&text, &["../../x"]));
    p.remove("model.txt");
    let r = p.pipe(&["repro"]).ok();
    r.err_has("is corrupt and ignored: it names out `../../x`");
    assert_eq!(r.ran(), vec!["train"], "{r}");
    assert!(!p.read("pipe.lock").contains("../../x"));
}

#[test]
fn experiment_names_from_records_remotes_or_the_command_line_stay_inside() {
    // The workspace is `ws/`; `victim/` beside it is outside, where a name climbing out of
    // `ws/.pipe/exps/` lands.
    let p = Project::new()
        .file("victim/keep.txt", "mine\n")
        .file("ws/params.toml", "[train]\nlr = 1\n")
        .file(
            "ws/pipe.toml",
            "[stage.train]\ncmd = \"echo lr=${train.lr} > ${outs[0]}\"\nouts = [\"model.txt\"]\n",
        );
    let remote = tempfile::tempdir().expect("tmp");
    let url = remote.path().display().to_string();
    let ws = |args: &[&str]| {
        let mut a = vec!["-C", "ws"];
        a.extend(args);
        p.pipe(&a)
    };
    ws(&["remote", "add", "team", &url, "--default"]).ok();
    // A local record whose name climbs out.
    p.write(
        "ws/.pipe/exps/evil.json",
        r#"{"name": "../../../victim", "overrides": {}, "state": "failed", "queued_at": 1}"#,
    );
    ws(&["exp", "gc"]).ok();
    assert!(
        p.exists("victim/keep.txt"),
        "exp gc removed a directory outside"
    );
    ws(&["exp", "show"])
        .ok()
        .out_has("evil")
        .out_has("unreadable (")
        .out_has("experiment name `../../../victim`");
    ws(&["exp", "remove", "../../../victim"])
        .code(2)
        .err_has("experiment name `../../../victim`");
    ws(&["exp", "remove", "evil"])
        .ok()
        .err_has("Removed experiment evil (its record was unreadable)");
    assert!(!p.exists("ws/.pipe/exps/evil.json"));
    assert!(p.exists("victim/keep.txt"));
    // Names from the command line.
    ws(&["exp", "pull", "../../../x"]).code(2);
    ws(&["exp", "run", "-S", "train.lr=2", "-n", "../y"]).code(2);
    // A remote record whose name climbs out, under a good name's key.
    ws(&["exp", "run", "-S", "train.lr=2", "-n", "good"]).ok();
    ws(&["exp", "push", "good"]).ok();
    ws(&["exp", "remove", "good"]).ok();
    let exps = remote.path().join("exps");
    let fan = std::fs::read_dir(&exps)
        .expect("exps/")
        .next()
        .expect("a fan-out")
        .expect("entry");
    let file = std::fs::read_dir(fan.path())
        .expect("fan-out")
        .next()
        .expect("a record")
        .expect("entry");
    let text = std::fs::read_to_string(file.path()).expect("record");
    assert!(text.contains("\"name\": \"good\""), "{text}");
    replace(
        &file.path(),
        &text.replace("\"name\": \"good\"", "\"name\": \"../../../x\""),
    );
    ws(&["exp", "pull", "good"])
        .code(3)
        .err_has("experiment name `../../../x`");
    assert!(!p.exists("x.json") && !p.exists("ws/.pipe/exps/good.json"));
    ws(&["exp", "show", "--remote"])
        .ok()
        .err_has("1 experiment record(s) on `team` are unreadable");
}

#[test]
fn import_dvc_refuses_a_path_that_leaves_the_project_with_its_line() {
    let yaml = |wdir: &str| {
        format!(
            "stages:\n  make:\n    cmd: echo x > x.txt\n    wdir: {wdir}\n    outs:\n    - x.txt\n"
        )
    };
    for (wdir, why) in [
        ("../..", "wdir `../..` leaves the project"),
        ("/tmp", "wdir `/tmp` is an absolute path"),
    ] {
        let p = Project::new().file("dvc.yaml", &yaml(wdir));
        p.pipe(&["import-dvc"])
            .code(2)
            .err_has(why)
            .err_has("dvc.yaml:4");
        assert!(!p.exists("pipe.toml"));
    }
    // An out of dvc.lock that climbs out, for a stage dvc.yaml declares in the project.
    let p = Project::new()
        .file("dvc.yaml", "stages:\n  make:\n    cmd: echo x > x.txt\n    outs:\n    - x.txt\n")
        .file(
            "dvc.lock",
            "schema: '2.0'\nstages:\n  make:\n    cmd: echo x > x.txt\n    outs:\n    - path: ../../x.txt\n      hash: md5\n      md5: 401b30e3b8b5d629635a5c613cdb7919\n",
        );
    p.pipe(&["import-dvc"])
        .code(2)
        .err_has("dvc.lock:6: `../../x.txt` leaves the project");
    assert!(!p.exists("pipe.toml") && !p.exists("x.txt"));
    // A stage's out, and a `.dvc` file's, that climb out.
    let p = Project::new().file(
        "sub/dvc.yaml",
        "stages:\n  make:\n    cmd: echo x > x.txt\n    outs:\n    - ../../x.txt\n",
    );
    p.pipe(&["import-dvc"])
        .code(2)
        .err_has("`../../x.txt` (from `sub`) leaves the project")
        .err_has("sub/dvc.yaml:5");
    let p = Project::new().file(
        "data.dvc",
        "outs:\n- md5: 401b30e3b8b5d629635a5c613cdb7919\n  path: ../data\n",
    );
    p.pipe(&["import-dvc"])
        .code(2)
        .err_has("`../data` leaves the project")
        .err_has("data.dvc:2");
}

#[test]
fn a_cmd_names_a_moved_path_only_as_a_whole_word() {
    let p = Project::new()
        .file("params.toml", "n = 1\n")
        .file("make_data.txt", "made\n")
        .file(
            "pipe.toml",
            "[stage.a]\ncmd = \"echo ${n} > ${outs[0]}\"\nouts = [\"o\"]\n\n[stage.b]\ncmd = \"cat make_data.txt > ${outs[0]}; echo ${n} >> ${outs[0]}\"\ndeps = [\"make_data.txt\"]\nouts = [\"data\"]\n",
        );
    p.pipe(&["exp", "run", "-S", "n=2", "-n", "two"]).ok();
    assert_eq!(p.read(".pipe/exps/two/o"), "2\n");
    assert_eq!(p.read(".pipe/exps/two/data"), "made\n2\n");
    // A literal use is still refused.
    p.write(
        "pipe.toml",
        "[stage.a]\ncmd = \"echo ${n} > o\"\nouts = [\"o\"]\n",
    );
    p.pipe(&["exp", "run", "-S", "n=3", "-n", "three"])
        .code(2)
        .err_has("its cmd names `o` literally");
}

#[test]
fn outs_naming_the_pipeline_its_lock_or_a_gitignore_are_refused_with_their_line() {
    for (file, out, what) in [
        ("pipe.toml", "pipe.toml", "the pipeline file"),
        ("pipe.toml", "pipe.lock", "the pipeline's lock"),
        ("pipe.toml", ".gitignore", "git's list of ignored files"),
        ("pipe.toml", "sub/.gitignore", "git's list of ignored files"),
        ("other.toml", "other.toml", "the pipeline file"),
        ("other.toml", "other.lock", "the pipeline's lock"),
        ("pipe.toml", ".git/hooks/x", "the workspace's own"),
        ("pipe.toml", "sub/.pipe/x", "the workspace's own"),
        ("pipe.toml", "sub/.git", "the workspace's own"),
    ] {
        let p = Project::new().file(
            file,
            &format!("[stage.a]\ncmd = \"true\"\nouts = [\"{out}\"]\n"),
        );
        p.pipe(&["-f", file, "status"])
            .code(2)
            .err_has(&format!("stage `a` cannot write `{out}`: it is {what}"))
            .err_has(&format!("{file}:3:9"));
    }
    let p = Project::new().file(
        "pipe.toml",
        "[stage.a]\ncmd = \"true\"\n\n[data]\n\"pipe.lock\" = {}\n",
    );
    p.pipe(&["status"])
        .code(2)
        .err_has("`pipe.lock` cannot be tracked data: it is the pipeline's lock")
        .err_has("pipe.toml:5:1");
}
