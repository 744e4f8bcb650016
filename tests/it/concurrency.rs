//! Two pipe processes in one workspace.

use std::process::Stdio;

use crate::support::{Project, WAIT_FOR_GO};

#[test]
fn a_second_repro_waits_for_a_running_stage_then_finds_it_fresh() {
    let p = Project::new().file("v.txt", "1").file(
        "pipe.toml",
        &format!("[stage.slow]\ncmd = \"touch started; {WAIT_FOR_GO}; cat v.txt > out.txt; echo ran >> runs.log\"\ndeps = [\"v.txt\"]\nouts = [\"out.txt\"]\n"),
    );
    let first = p
        .cmd(&["repro"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The second process starts once the first holds the stage, and waits for it (the
    // stage waits for `go`) until it says what it waits for, after half a second.
    p.wait_for("started");
    let second = p.start(&["repro"]);
    second.wait_for_err("the second process to wait", "Waiting");
    p.write("go", "");
    let second = second.finish().ok();
    second
        .err_has("Waiting")
        .err_has("out.txt")
        .err_has("stage slow");
    let first = first.wait_with_output().expect("wait");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(p.read("runs.log"), "ran\n", "the stage ran once");
    assert!(second.ran().is_empty(), "{second}");
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (1 stages).\n");
    // Read-only commands never wait (the stage waits for `go` again).
    let spec = p.read("pipe.toml").replace("touch started", "touch bg");
    p.write("pipe.toml", &spec);
    p.remove("go");
    let bg = p
        .cmd(&["repro"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut bg = bg;
    p.wait_for("bg");
    p.pipe(&["status"])
        .ok()
        .out_is("slow: stale\n    command changed\n    out out.txt missing\n");
    p.pipe(&["dag"]).ok();
    // Both returned while the other process still holds the stage's locks.
    assert!(
        bg.try_wait().expect("poll").is_none(),
        "status waited for the running stage"
    );
    p.write("go", "");
    let _ = bg.wait_with_output();
}

#[test]
fn independent_stages_in_two_processes_do_not_wait() {
    let p = Project::new().file(
        "pipe.toml",
        &format!("[stage.a]\ncmd = \"touch started; {WAIT_FOR_GO}; echo a > a.txt\"\nouts = [\"a.txt\"]\n\n[stage.b]\ncmd = \"echo b > b.txt\"\nouts = [\"b.txt\"]\n"),
    );
    let mut first = p
        .cmd(&["repro", "a"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    p.wait_for("started");
    p.pipe(&["repro", "b"]).ok().err_lacks("Waiting");
    assert!(p.exists("b.txt"));
    assert!(first.try_wait().expect("poll").is_none(), "b waited for a");
    p.write("go", "");
    assert!(first.wait_with_output().expect("wait").status.success());
    // Both processes' lock entries survived each other.
    let lock = p.read("pipe.lock");
    assert!(
        lock.contains("[stage.a]") && lock.contains("[stage.b]"),
        "{lock}"
    );
}
