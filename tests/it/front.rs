//! What the everyday commands say: `pipe init`'s verb, and what `-v` adds to `status` and
//! `repro --dry` (the fresh and frozen stages; see docs/src/reference/commands.md).

use crate::support::{Project, three_stages};

#[test]
fn init_says_reinitialized_only_where_pipe_was_there() {
    // A pipeline file but no .pipe/: opening the pipeline must not count as a first init.
    let p = three_stages();
    let r = p.pipe(&["init"]).ok();
    r.err_has("Initialized pipe workspace");
    r.err_lacks("Reinitialized");
    p.pipe(&["init"])
        .ok()
        .err_has("Reinitialized pipe workspace");

    let bare = Project::new();
    bare.pipe(&["init"])
        .ok()
        .err_has("Initialized pipe workspace");
    bare.pipe(&["init"])
        .ok()
        .err_has("Reinitialized pipe workspace");
}

#[test]
fn verbose_status_and_dry_run_list_the_fresh_and_frozen_stages() {
    let p = three_stages();
    p.pipe(&["repro", "-q"]).ok();
    p.write("src/c.txt", "changed\n");
    p.pipe(&["status"])
        .ok()
        .out_is("c: stale\n    dep src/c.txt changed\n");
    p.pipe(&["-v", "status"])
        .ok()
        .out_is("a: up to date\nb: up to date\nc: stale\n    dep src/c.txt changed\n");
    p.pipe(&["repro", "--dry"])
        .ok()
        .out_is("Would run c: dep src/c.txt changed\n");
    p.pipe(&["repro", "--dry", "-v"]).ok().out_is(
        "Would skip a: up to date\nWould skip b: up to date\nWould run c: dep src/c.txt changed\n",
    );
    p.pipe(&["status", "-v", "a"])
        .ok()
        .out_is("a: up to date\nEverything is up to date (1 stage).\n");

    let spec = std::fs::read_to_string(p.path("pipe.toml")).expect("read");
    p.write(
        "pipe.toml",
        &spec.replace("[stage.c]\n", "[stage.c]\nfrozen = true\n"),
    );
    p.pipe(&["-v", "status", "c"])
        .ok()
        .out_is("c: frozen\nEverything is up to date (1 stage).\n");
    p.pipe(&["-v", "repro", "--dry", "c"])
        .ok()
        .out_is("Would skip c: frozen\nEverything is up to date.\n");
}
