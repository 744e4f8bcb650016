//! Issue 22: a stage's failure is typed (its command's, its contract's, or pipe's own
//! part), and pipe's exit code follows from that type, never from a flag or a message.

use std::os::unix::fs::symlink;

use crate::support::Project;

const OUT_IN_SUB: &str =
    "[stage.s]\ncmd = \"mkdir -p sub && echo ours > sub/out.txt\"\nouts = [\"sub/out.txt\"]\n";

/// Names in `dir`.
fn names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

// pipe's own part failing for a stage exits as its reason does anywhere else: an out whose
// directory leads out of the workspace is bad input (2), as `pipe checkout` says for it,
// whether the run restores the out from the run cache or moves it aside to run the stage.
#[test]
fn a_run_that_would_write_outside_the_workspace_exits_2_as_checkout_does() {
    let outside = tempfile::tempdir().expect("tmp");
    let p = Project::new().file("pipe.toml", OUT_IN_SUB);
    p.pipe(&["repro"]).ok();
    p.remove("sub");
    symlink(outside.path(), p.path("sub")).expect("symlink");
    let said = format!(
        "`sub` is a symbolic link to {}, which leads out of",
        outside.path().display()
    );
    p.pipe(&["checkout"]).code(2).err_has(&said);
    p.pipe(&["repro"])
        .code(2)
        .err_has(&format!("Failed cannot write `sub/out.txt`: {said}"));
    p.pipe(&["repro", "--force"])
        .code(2)
        .err_has(&format!("Failed cannot move aside `sub/out.txt`: {said}"));
    assert!(names(outside.path()).is_empty(), "nothing written outside");
}

// A stage whose command succeeded but left its out behind a link out of the workspace broke
// its contract (it did that, not the workspace): exit 1, the stage and the out named, why
// its outs could not be put back either (pipe removes nothing through the link), its log
// pointed to; nothing stored, nothing recorded.
#[test]
fn a_stage_that_leads_its_out_out_of_the_workspace_broke_its_contract() {
    let outside = tempfile::tempdir().expect("tmp");
    let p = Project::new().file(
        "pipe.toml",
        &format!(
            "[stage.s]\ncmd = \"rmdir sub && ln -s {} sub && echo ours > sub/out.txt\"\nouts = [\"sub/out.txt\"]\n",
            outside.path().display()
        ),
    );
    let r = p.pipe(&["repro"]).code(1);
    r.err_has("Failed stage `s`: cannot store `sub/out.txt`: `sub` is a symbolic link to ")
        .err_has(": declare an out inside the workspace; restoring the previous outs failed: cannot remove `sub/out.txt`: ")
        .err_has("anything outside it (log: .pipe/logs/s.log)");
    assert!(!p.exists("pipe.lock"), "nothing recorded");
    assert_eq!(p.cache_objects(), 0, "nothing stored");
}
