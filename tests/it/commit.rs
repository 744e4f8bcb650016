//! `pipe commit`: a stage's outs recorded as they are, without running it (DVC's
//! `dvc commit`), and never into the run cache.

use crate::support::Project;

/// train: data.txt -> model.txt (upper-cased); eval: model.txt -> score.txt.
fn project() -> Project {
    Project::new().file("data.txt", "x\n").file(
        "pipe.toml",
        "[stage.train]\ncmd = \"tr a-z A-Z < data.txt > model.txt\"\ndeps = [\"data.txt\"]\nouts = [\"model.txt\"]\n\n[stage.eval]\ncmd = \"wc -c < model.txt > score.txt\"\ndeps = [\"model.txt\"]\nouts = [\"score.txt\"]\n",
    )
}

#[test]
fn a_stage_run_by_hand_is_recorded_and_nothing_reruns() {
    let p = project();
    p.pipe(&["repro"]).ok();
    // Run by hand, with another recipe than the stage's.
    p.write("data.txt", "hand\n");
    p.write("model.txt", "made by hand\n");
    p.pipe(&["status"]).ok().out_has("train: stale");

    p.pipe(&["commit"])
        .code(2)
        .err_has("name the stages to commit (or `--all`)");
    let r = p.pipe(&["commit", "train"]).ok();
    r.err_has("Committed train (dep data.txt changed; out model.txt modified)");
    let st = p.pipe(&["status", "train"]).ok();
    st.out_has("up to date");
    // Downstream reads the committed out: it runs, train does not.
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["eval"]);
    assert_eq!(p.read("model.txt"), "made by hand\n");
    p.pipe(&["commit", "train"])
        .ok()
        .err_has("Nothing to commit: the lock matches the workspace");

    // No run-cache record: the same inputs later are run, not restored to the hand-made out.
    p.write("data.txt", "other\n");
    assert_eq!(p.pipe(&["repro"]).ok().ran(), ["eval", "train"]);
    p.write("data.txt", "hand\n");
    let r = p.pipe(&["repro"]).ok();
    assert!(r.ran().contains(&"train".to_string()), "{r}");
    assert!(r.restored().is_empty(), "{r}");
    assert_eq!(p.read("model.txt"), "HAND\n");
}

#[test]
fn a_missing_out_or_tracked_data_is_refused_and_nothing_is_recorded() {
    let p = project().file("raw.txt", "r\n");
    p.pipe(&["repro"]).ok();
    p.pipe(&["add", "raw.txt"]).ok();
    p.write("data.txt", "y\n");
    std::fs::remove_file(p.path("model.txt")).unwrap();
    let before = p.read("pipe.lock");
    p.pipe(&["commit", "eval", "train"])
        .code(2)
        .err_has("cannot commit `train`: its out `model.txt` does not exist");
    assert_eq!(p.read("pipe.lock"), before);
    p.pipe(&["commit", "data:raw.txt"])
        .code(2)
        .err_has("`data:raw.txt` is tracked data: record it anew with `pipe add`");
    p.pipe(&["commit", "nope"]).code(2).err_has("nope");

    // --all: every stale stage, tracked data left to `pipe add`.
    p.write("model.txt", "M\n");
    let r = p.pipe(&["commit", "--all"]).ok();
    r.err_has("Committed train").err_has("Committed eval");
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
}
