//! A run reuses what its earlier stages observed (`run::observe::Seen`): these try to make
//! a later stage decide on a digest that no longer holds: another pipe process writing
//! (checkout, a forced stage, a stage writing inside a directory this run reads), or a
//! stage's command writing what it does not declare. Each later stage must decide on what
//! is there when it starts, as before the memo.
//!
//! Stages that must stay busy while the other process acts wait for a file the test
//! creates (`go`), so nothing depends on how fast the machine is.

use std::time::Duration;

use crate::support::{Background, Project};

/// Until `go` exists, a stage running this waits.
const GATE: &str = "touch c.started; while [ ! -e go ]; do sleep 0.05; done";

fn started(p: &Project, args: &[&str]) -> crate::support::Background {
    p.start_until(args, "stage c to start", Duration::from_secs(60), || {
        p.exists("c.started")
    })
}

/// Stage `c` (always rerun by editing `cin.txt`) waits for `go` and writes the same
/// `c.txt` every time; `b` reads `c.txt` and `read`, so it starts after `c` and is stale
/// only if `read` changed.
fn gated_pipeline(first: &str, read: &str) -> String {
    format!(
        r#"{first}
[stage.c]
cmd = "{GATE}; echo c > c.txt"
deps = ["cin.txt"]
outs = ["c.txt"]

[stage.b]
cmd = "cat {read} > b.txt"
deps = ["{read}", "c.txt"]
outs = ["b.txt"]
"#
    )
}

/// Reruns `c` (its dep edited) with the gate closed.
fn close_gate(p: &Project, round: &str) {
    p.remove("go");
    p.remove("c.started");
    p.write("cin.txt", round);
}

#[test]
fn a_checkout_by_another_process_is_seen_by_stages_that_start_after_it() {
    let p = Project::new()
        .file("raw.txt", "orig\n")
        .file("cin.txt", "1\n")
        .file("go", "")
        .file(
            "pipe.toml",
            &gated_pipeline(
                "[stage.d]\ncmd = \"cat raw.txt > d.txt\"\ndeps = [\"raw.txt\"]\nouts = [\"d.txt\"]\n",
                "raw.txt",
            ),
        );
    p.pipe(&["add", "raw.txt"]).ok();
    p.pipe(&["repro"]).ok();
    // Edited without `pipe add`: the stages reading it run on the edit, the tracked
    // content stays what was added.
    p.write("raw.txt", "edited\n");
    p.pipe(&["repro"]).ok();
    assert_eq!(p.read("b.txt"), "edited\n");

    // `d` observes raw.txt first; while `c` runs, another process checks the tracked
    // content out again; `b` starts after that.
    close_gate(&p, "2\n");
    let run = started(&p, &["repro"]);
    let journal =
        || std::fs::metadata(p.path(".pipe/journal/pipe.lock.jsonl")).map_or(0, |m| m.len());
    let before = journal();
    // `d` may still hold raw.txt (observing it) on a loaded machine: checkout then leaves
    // it and says to run it again when the stage is done, which is what the test does.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let co = p.pipe(&["checkout", "raw.txt"]);
        if co.code == 0 {
            break;
        }
        co.err_has("a running stage reads or writes them");
        assert!(
            std::time::Instant::now() < deadline,
            "raw.txt still held after 60 s\n{co}"
        );
    }
    assert_eq!(p.read("raw.txt"), "orig\n");
    // It records nothing, but moves the lock's stamp for runs in progress (an empty
    // journal line): a stage deciding after it, with no command of this run ending in
    // between (a slow restore, say), drops what the run observed.
    assert!(
        journal() > before,
        "checkout left the lock's journal as it was"
    );
    p.write("go", "");
    let run = run.finish().ok();
    assert!(
        run.ran().contains(&"b".to_string()) || run.restored().contains(&"b".to_string()),
        "{run}"
    );
    assert_eq!(p.read("b.txt"), "orig\n", "{run}");
    let status = p.pipe(&["status"]).ok();
    assert!(!status.stdout.contains("b:"), "{status}");
}

#[test]
fn a_stage_of_another_process_writing_inside_a_directory_this_run_reads_is_waited_for() {
    // `a` writes data/x.txt; `d` (fresh, observed first) and `b` read all of data/. In
    // the other process `a` holds its lock (and has not recorded yet) when `b` starts.
    let p = Project::new()
        .file("cin.txt", "1\n")
        .file("go", "")
        .file("go.a", "")
        .file(
            "pipe.toml",
            &gated_pipeline(
                "[stage.a]\ncmd = \"mkdir -p data && date +%s%N > data/x.txt && touch a.wrote && while [ ! -e go.a ]; do sleep 0.05; done\"\nouts = [\"data/x.txt\"]\n\n[stage.d]\ncmd = \"ls data > d.txt\"\ndeps = [\"data\"]\nouts = [\"d.txt\"]\n",
                "data/x.txt",
            )
            .replace(
                "deps = [\"data/x.txt\", \"c.txt\"]",
                "deps = [\"data\", \"c.txt\"]",
            ),
        );
    p.pipe(&["repro"]).ok();
    close_gate(&p, "2\n");
    p.remove("go.a");
    p.remove("a.wrote");
    let run = started(&p, &["repro"]);
    let other = p.start_until(
        &["repro", "--force", "a"],
        "a to write data/x.txt",
        Duration::from_secs(60),
        || p.exists("a.wrote"),
    );
    p.write("go", "");
    // `b` starts and waits while `a` still holds data/x.txt: the run says so (after half a
    // second of waiting) before `a` may go on and record.
    run.wait_for_err("b to wait for the other process's a", "Waiting");
    p.write("go.a", "");
    other.finish().ok();
    let run = run.finish().ok();
    // `b` waited for the other process's `a` (rather than reading data/ while `a` wrote
    // into it), then ran on what `a` wrote.
    run.err_has("Waiting").err_has("data/x.txt");
    assert!(run.ran().contains(&"b".to_string()), "{run}");
    assert_eq!(p.read("b.txt"), p.read("data/x.txt"), "{run}");
}

#[test]
fn a_forced_stage_in_another_process_is_seen_by_stages_that_start_after_it() {
    let p = Project::new().file("cin.txt", "1\n").file("go", "").file(
        "pipe.toml",
        &gated_pipeline(
            "[stage.a]\ncmd = \"date +%s%N > a.txt\"\nouts = [\"a.txt\"]\n",
            "a.txt",
        ),
    );
    p.pipe(&["repro"]).ok();
    close_gate(&p, "2\n");
    let run = started(&p, &["repro"]);
    let before = p.read("a.txt");
    p.pipe(&["repro", "--force", "a"]).ok();
    assert_ne!(p.read("a.txt"), before);
    p.write("go", "");
    let run = run.finish().ok();
    assert!(run.ran().contains(&"b".to_string()), "{run}");
    assert_eq!(p.read("b.txt"), p.read("a.txt"), "{run}");
}

#[test]
fn a_stage_whose_command_edits_its_own_dep_makes_later_readers_look_again() {
    // `a` rewrites in.txt (which it reads) and makes the same a.txt; `b` reads both.
    let p = Project::new()
        .file("in.txt", "one\n")
        .file("ain.txt", "1\n")
        .file(
            "pipe.toml",
            r#"[stage.a]
cmd = "echo a > a.txt; if [ -e breach ]; then echo breach > in.txt; fi"
deps = ["in.txt", "ain.txt"]
outs = ["a.txt"]

[stage.b]
cmd = "cat in.txt > b.txt"
deps = ["in.txt", "a.txt"]
outs = ["b.txt"]
"#,
        );
    p.pipe(&["repro"]).ok();
    p.write("breach", "");
    p.write("ain.txt", "2\n");
    let run = p.pipe(&["repro"]).ok();
    run.err_has("dep in.txt changed while stage a ran");
    assert_eq!(run.ran(), ["a", "b"], "{run}");
    assert_eq!(p.read("b.txt"), "breach\n");
}

#[test]
fn a_stage_whose_command_edits_another_stages_out_makes_later_readers_look_again() {
    // `a` rewrites z.txt, the out of `z` (observed fresh before `a` ran), and makes the
    // same a.txt; `y` reads both.
    let p = Project::new().file("ain.txt", "1\n").file(
        "pipe.toml",
        r#"[stage.z]
cmd = "echo z > z.txt"
outs = ["z.txt"]

[stage.a]
cmd = "echo a > a.txt; if [ -e breach ]; then rm -f z.txt; echo breach > z.txt; fi"
deps = ["ain.txt"]
outs = ["a.txt"]

[stage.y]
cmd = "cat z.txt > y.txt"
deps = ["z.txt", "a.txt"]
outs = ["y.txt"]
"#,
    );
    p.pipe(&["repro"]).ok();
    p.write("breach", "");
    p.write("ain.txt", "2\n");
    let run = p.pipe(&["repro"]).ok();
    assert_eq!(run.ran(), ["a", "y"], "{run}");
    assert_eq!(p.read("y.txt"), "breach\n");
}

/// `q` (forced, in another process: `go` is missing) waits for `go.q`, writes raw.txt,
/// which it does not declare, touches q.wrote, waits for `go.end` and fails: nothing is
/// recorded. `d` and `b` read raw.txt, `b` after `q`.
fn breach_in_another_process() -> Project {
    Project::new()
        .file("raw.txt", "orig\n")
        .file("go", "")
        .file(
            "pipe.toml",
            r#"[stage.d]
cmd = "cat raw.txt > d.txt"
deps = ["raw.txt"]
outs = ["d.txt"]

[stage.q]
cmd = "echo q > q.txt; if [ ! -e go ]; then touch q.started; while [ ! -e go.q ]; do sleep 0.05; done; echo edited > raw.txt; touch q.wrote; while [ ! -e go.end ] && [ -e pipe.toml ]; do sleep 0.05; done; exit 1; fi"
outs = ["q.txt"]

[stage.b]
cmd = "cat raw.txt > b.txt"
deps = ["raw.txt", "q.txt"]
outs = ["b.txt"]
"#,
        )
}

/// Starts the other process, then `pipe repro` here; once this run's `d` observed
/// raw.txt (it decided `d` fresh: the decision is logged at debug level), lets the other
/// `q` write raw.txt. This run's `q` waits for the other process, then is fresh, and `b`
/// after it decides with no command of this run ending in between.
fn breach_under_a_run(p: &Project) -> (Background, Background) {
    p.pipe(&["repro"]).ok();
    p.remove("go");
    let other = p.start_until(
        &["repro", "--force", "q"],
        "q to start",
        Duration::from_secs(60),
        || p.exists("q.started"),
    );
    let mut repro = p.cmd(&["repro"]);
    repro.env("PIPE_LOG", "pipe::run::decide=debug");
    let run = Background::spawn(repro);
    run.wait_for_err("this run to decide d", "stage=d decision=fresh");
    p.write("go.q", "");
    p.wait_for("q.wrote");
    (other, run)
}

#[test]
fn a_failed_stage_of_another_process_that_wrote_a_path_this_run_observed_is_seen() {
    let p = breach_in_another_process();
    let (other, run) = breach_under_a_run(&p);
    p.write("go.end", "");
    let other = other.finish();
    assert_ne!(other.code, 0, "{other}");
    assert_eq!(p.read("raw.txt"), "edited\n");
    let run = run.finish().ok();
    assert!(run.ran().contains(&"b".to_string()), "{run}");
    assert_eq!(p.read("b.txt"), "edited\n", "{run}");
}

#[test]
fn a_killed_process_whose_stage_wrote_a_path_this_run_observed_is_seen() {
    // Killed, it neither records nor marks anything: this run's `q` waited for it.
    let p = breach_in_another_process();
    let (other, run) = breach_under_a_run(&p);
    other.signal(rustix::process::Signal::KILL);
    other.finish().code(137);
    let run = run.finish().ok();
    p.write("go.end", "");
    assert!(run.ran().contains(&"b".to_string()), "{run}");
    assert_eq!(p.read("b.txt"), "edited\n", "{run}");
}

#[test]
fn a_checkout_leaves_alone_the_out_a_running_stage_of_another_process_writes() {
    // Outs are hard links into the cache: a checkout of c.txt while `c` runs would hand
    // `c`'s command the cache's object to write into.
    let p = Project::new()
        .file("cin.txt", "1\n")
        .file("go", "")
        .file(".pipe/config.toml", "[cache]\nlink = [\"hardlink\"]\n")
        .file(
            "pipe.toml",
            &format!("[stage.c]\ncmd = \"{GATE}; cat cin.txt > c.txt\"\ndeps = [\"cin.txt\"]\nouts = [\"c.txt\"]\n"),
        );
    p.pipe(&["repro"]).ok();
    close_gate(&p, "2\n");
    let run = started(&p, &["repro"]);
    let checkout = p.pipe(&["checkout"]);
    assert_ne!(checkout.code, 0, "{checkout}");
    checkout.err_has("c.txt").err_has("stage c");
    assert!(!p.exists("c.txt"), "checked out under the running stage");
    p.write("go", "");
    run.finish().ok();
    assert_eq!(p.read("c.txt"), "2\n");
    p.pipe(&["cache", "verify"]).ok();
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (1 stages).\n");
}

#[test]
fn an_experiment_is_not_applied_under_a_running_stage_of_another_process() {
    let p = Project::new()
        .file("params.toml", "[train]\nlr = 0.1\n")
        .file("go", "")
        .file(
            "pipe.toml",
            &format!(
                "[stage.train]\ncmd = \"{GATE}; echo lr=${{train.lr}} > ${{outs[0]}}\"\nouts = [\"model.txt\"]\n"
            ),
        );
    p.pipe(&["repro"]).ok();
    p.pipe(&["exp", "run", "-S", "train.lr=0.01"]).ok();
    p.remove("go");
    p.remove("c.started");
    p.write("params.toml", "[train]\nlr = 0.2\n");
    let run = started(&p, &["repro"]);
    p.pipe(&["exp", "apply", "lr=0.01", "--force"])
        .code(3)
        .err_has("model.txt")
        .err_has("stage train");
    assert_eq!(
        p.read("params.toml"),
        "[train]\nlr = 0.2\n",
        "nothing written"
    );
    p.write("go", "");
    run.finish().ok();
    assert_eq!(p.read("model.txt"), "lr=0.2\n");
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (1 stages).\n");
    // Once the stage is done, the experiment applies.
    p.pipe(&["exp", "apply", "lr=0.01"]).ok();
    assert_eq!(p.read("model.txt"), "lr=0.01\n");
}
