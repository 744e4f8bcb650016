//! Issue 19, "a cache shared between workspaces or people loses nothing": `pipe gc` in one
//! workspace keeps what every other workspace registered in the cache refers to (item 6),
//! and a cache shared by a group works for its second user (item 7: real users, made here
//! with `groupadd`/`useradd`, running `pipe` through `setpriv`).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Project, Run, bin, count_files};

/// A workspace whose cache is `cache` (its `cache.dir`), with one stage `make` (`src.txt`
/// -> `made.txt`, stamped `who`).
fn workspace_on(cache: &Path, who: &str) -> Project {
    Project::new()
        .file(
            ".pipe/config.toml",
            &format!("[cache]\ndir = {:?}\n", cache.display().to_string()),
        )
        .file("src.txt", &format!("{who} source\n"))
        .file(
            "pipe.toml",
            &format!(
                "[stage.make]\ncmd = \"cat src.txt > made.txt && echo {who} >> made.txt\"\ndeps = [\"src.txt\"]\nouts = [\"made.txt\"]\n"
            ),
        )
}

/// The files of `dir` (recursively), relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).expect("under").display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

// Item 6: gc in one workspace deletes nothing another workspace that shares the cache
// refers to, whether added (`pipe add`: no run-cache record keeps it) or run (kept only by
// the lock with `gc --workspace`), in any of its pipelines' locks.
#[test]
fn gc_in_one_workspace_keeps_what_another_sharing_the_cache_uses() {
    let shared = tempfile::tempdir().expect("tmp");
    let cache = shared.path().join("cache");
    let a = workspace_on(&cache, "a");
    let b = workspace_on(&cache, "b")
        .file("raw/data.csv", "x,y\n1,2\n")
        .file(
            "other.toml",
            "[stage.more]\ncmd = \"cat src.txt src.txt > more.txt\"\ndeps = [\"src.txt\"]\nouts = [\"more.txt\"]\n",
        );
    a.pipe(&["repro"]).ok();
    b.pipe(&["repro"]).ok();
    b.pipe(&["-f", "other.toml", "repro"]).ok();
    b.pipe(&["add", "raw"]).ok();
    let objects = count_files(&cache.join("objects"));
    // A's gc, keeping only what locks refer to: B's added data, its run, its other
    // pipeline's run all stay; the output says two workspaces were considered.
    a.pipe(&["gc", "--workspace"])
        .ok()
        .err_has("Removed 0 object(s)")
        .err_has("kept for 2 workspace(s)");
    assert_eq!(count_files(&cache.join("objects")), objects);
    for out in ["raw", "made.txt", "more.txt"] {
        b.remove(out);
    }
    b.pipe(&["checkout"]).ok();
    b.pipe(&["-f", "other.toml", "checkout"]).ok();
    assert_eq!(b.read("raw/data.csv"), "x,y\n1,2\n");
    assert_eq!(b.read("made.txt"), "b source\nb\n");
    assert_eq!(b.read("more.txt"), "b source\nb source\n");

    // B deleted: its entry is dropped (said so), and then its objects go.
    let b_root = b.root().canonicalize().expect("canonical");
    drop(b);
    a.pipe(&["gc", "--workspace", "--dry"])
        .ok()
        .err_has(&format!("Would forget workspace {}", b_root.display()));
    assert_eq!(count_files(&cache.join("objects")), objects, "dry");
    assert_eq!(count_files(&cache.join("roots")), 2, "dry");
    let r = a.pipe(&["gc", "--workspace"]).ok();
    r.err_has(&format!(
        "Forgot workspace {} (it is no longer there)",
        b_root.display()
    ))
    .err_has("kept for 1 workspace(s)");
    assert!(
        count_files(&cache.join("objects")) < objects,
        "B's objects went\n{r}"
    );
    assert_eq!(
        count_files(&cache.join("roots")),
        1,
        "only A's entry is left"
    );
    a.remove("made.txt");
    a.pipe(&["checkout"]).ok();
    assert_eq!(a.read("made.txt"), "a source\na\n");
}

// Item 6: a workspace whose lock gc cannot read makes gc refuse, naming it, and delete
// nothing; one that moved registers again at its next command; a copy is a workspace of
// its own.
#[test]
fn gc_refuses_an_unreadable_workspace_and_follows_moved_and_copied_ones() {
    let shared = tempfile::tempdir().expect("tmp");
    let cache = shared.path().join("cache");
    let a = workspace_on(&cache, "a");
    let b = workspace_on(&cache, "b").file("raw.txt", "raw\n");
    a.pipe(&["repro"]).ok();
    b.pipe(&["add", "raw.txt"]).ok();
    // An orphan for gc to remove, were it to run: a's older run.
    a.write("src.txt", "a2\n");
    a.pipe(&["repro"]).ok();
    let objects = count_files(&cache.join("objects"));
    let lock = b.read("pipe.lock");
    b.write("pipe.lock", "this is not a lock\n");
    let b_root = b.root().canonicalize().expect("canonical");
    a.pipe(&["gc", "--workspace"])
        .code(3)
        .err_has(&format!("cannot read the workspace {}", b_root.display()))
        .err_has("pipe.lock")
        .err_has("gc would delete what it needs");
    assert_eq!(
        count_files(&cache.join("objects")),
        objects,
        "nothing deleted"
    );
    b.write("pipe.lock", &lock);

    // Moved: until it runs a command it is gone; after, it is found where it is.
    let moved = shared.path().join("b-moved");
    std::fs::rename(b.root(), &moved).expect("mv");
    let run = |dir: &Path, args: &[&str]| {
        Run::from(
            Command::new(bin())
                .args(args)
                .current_dir(dir)
                .env("NO_COLOR", "1")
                .output()
                .expect("run pipe"),
        )
    };
    run(&moved, &["status"]).ok();
    a.pipe(&["gc", "--workspace"])
        .ok()
        .err_has("kept for 2 workspace(s)")
        .err_lacks("Forgot");
    std::fs::remove_file(moved.join("raw.txt")).expect("rm");
    run(&moved, &["checkout"]).ok();
    assert_eq!(
        std::fs::read_to_string(moved.join("raw.txt")).expect("read"),
        "raw\n"
    );

    // Copied (`cp -r`, the id file with it): the copy takes an id of its own.
    let copy = shared.path().join("b-copy");
    let st = Command::new("cp")
        .args(["-r"])
        .arg(&moved)
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(st.success());
    run(&copy, &["status"]).ok();
    let id = |ws: &Path| std::fs::read_to_string(ws.join(".pipe/id")).expect("id");
    assert_ne!(id(&moved), id(&copy));
    assert_eq!(count_files(&cache.join("roots")), 3);
    a.pipe(&["gc", "--workspace"])
        .ok()
        .err_has("kept for 3 workspace(s)");
    std::fs::remove_dir_all(&moved).expect("rm -r");
    std::fs::remove_dir_all(&copy).expect("rm -r");
    let _ = b;
}

// ---- item 7: a cache shared by a group, used by two real users ----

const GROUP: &str = "pipe-it-share";
const ALICE: &str = "pipe-it-alice";
const BOB: &str = "pipe-it-bob";

/// Runs a command (an account tool) and says whether it succeeded.
fn tool(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The group and its two members, made when missing (the tests run as root). Account
/// tools of parallel test processes may hold the password file's lock: wait until the
/// account is there.
fn group_and_users() {
    let exists = |db: &str, name: &str| tool("getent", &[db, name]);
    for _ in 0..100 {
        if !exists("group", GROUP) {
            tool("groupadd", &[GROUP]);
        }
        for u in [ALICE, BOB] {
            if !exists("passwd", u) {
                tool(
                    "useradd",
                    &["-M", "-N", "-g", GROUP, "-s", "/usr/sbin/nologin", u],
                );
            }
        }
        if exists("group", GROUP) && exists("passwd", ALICE) && exists("passwd", BOB) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "cannot create the group {GROUP} and the users {ALICE}, {BOB} (groupadd/useradd, as root): this test needs two real users"
    );
}

/// The `pipe` the two users run, installed where they can reach it: a copy, in `base`, of the
/// binary under test (`bin()`), whose own directory may be one other users cannot enter (CI
/// builds under root's home, mode 0700). Fails the test, saying why, if `ALICE` cannot run it.
fn install_for_users(base: &Path) -> PathBuf {
    let from = bin();
    let dir = base.join("bin");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let to = dir.join("pipe");
    std::fs::copy(&from, &to).expect("copy the pipe binary");
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let r = pipe_as(&to, ALICE, base, &["--version"]);
    assert_eq!(
        r.code,
        0,
        "{ALICE} cannot run {} (copied from {}): is the temporary directory mounted noexec, \
         or does the binary load a file other users cannot read?\n{r}",
        to.display(),
        from.display()
    );
    to
}

/// `pipe ARGS` (the binary `pipe`) run as `user` (of `GROUP`) in `dir`, with umask 022.
fn pipe_as(pipe: &Path, user: &str, dir: &Path, args: &[&str]) -> Run {
    let o = Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            &format!("--regid={GROUP}"),
            "--init-groups",
            "--",
            "sh",
            "-c",
            "umask 022 && exec \"$@\"",
            "sh",
        ])
        .arg(pipe)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env_remove("PIPE_LOG")
        .output()
        .unwrap_or_else(|e| panic!("setpriv (util-linux) is needed to run pipe as {user}: {e}"));
    Run::from(o)
}

fn chown(path: &Path, user: &str) {
    let st = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:{GROUP}"))
        .arg(path)
        .status()
        .expect("chown");
    assert!(st.success(), "chown {}", path.display());
}

/// A workspace of `user` under `base` (as `workspace_on`, the cache shared by the group).
fn users_workspace(base: &Path, user: &str, cache: &Path) -> PathBuf {
    let ws = base.join(user);
    let files = [
        (
            ".pipe/config.toml",
            format!(
                "[cache]\ndir = {:?}\nshared = \"group\"\n",
                cache.display().to_string()
            ),
        ),
        ("src.txt", "shared source\n".to_string()),
        (
            "pipe.toml",
            "[stage.make]\ncmd = \"cat src.txt > made.txt\"\ndeps = [\"src.txt\"]\nouts = [\"made.txt\"]\n"
                .to_string(),
        ),
        ("raw.txt", format!("{user}'s raw data\n")),
    ];
    for (rel, text) in files {
        let p = ws.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
    }
    chown(&ws, user);
    ws
}

/// Every directory in the cache is setgid and group-writable (2775), every object
/// read-only and readable by all (0444/0555), every other file group-read-writable; all of
/// it belongs to the group.
#[track_caller]
fn shared_modes(cache: &Path, gid: u32) {
    fn walk(p: &Path, gid: u32, bad: &mut Vec<String>) {
        let m = std::fs::symlink_metadata(p).expect("stat");
        let mode = m.mode() & 0o7777;
        let s = p.display().to_string();
        if m.gid() != gid {
            bad.push(format!("{s}: group {}", m.gid()));
        }
        if m.is_dir() {
            if mode != 0o2775 {
                bad.push(format!("{s}: {mode:o}, not 2775"));
            }
            for e in std::fs::read_dir(p).expect("list").flatten() {
                walk(&e.path(), gid, bad);
            }
        } else if s.contains("/objects/") {
            if mode != 0o444 && mode != 0o555 {
                bad.push(format!("{s}: {mode:o}, not 0444/0555"));
            }
        } else if mode & 0o660 != 0o660 {
            bad.push(format!("{s}: {mode:o}, not group read-writable"));
        }
    }
    let mut bad = Vec::new();
    walk(cache, gid, &mut bad);
    assert!(
        bad.is_empty(),
        "modes in the shared cache:\n{}",
        bad.join("\n")
    );
}

// Item 7: with `shared = "group"`, a second user of the group reads the first one's
// run-cache records, stores objects beside theirs, and collects the cache; neither loses
// anything, and every directory and file pipe made there is the group's.
#[test]
fn a_group_shared_cache_works_for_a_second_user() {
    group_and_users();
    let gid = {
        let o = Command::new("getent")
            .args(["group", GROUP])
            .output()
            .expect("getent");
        let line = String::from_utf8_lossy(&o.stdout).into_owned();
        line.split(':')
            .nth(2)
            .and_then(|g| g.trim().parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no gid in {line:?}"))
    };
    let base = tempfile::Builder::new()
        .prefix("pipe-it-group-")
        .tempdir()
        .expect("tmp");
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // The team's directory, as an administrator makes it: the group's, setgid.
    let team = base.path().join("team");
    std::fs::create_dir(&team).expect("mkdir");
    let st = Command::new("chown")
        .arg(format!("root:{GROUP}"))
        .arg(&team)
        .status()
        .expect("chown");
    assert!(st.success());
    std::fs::set_permissions(&team, std::fs::Permissions::from_mode(0o2775)).expect("chmod");
    let cache = team.join("cache");
    let pipe = install_for_users(base.path());
    let alice = users_workspace(base.path(), ALICE, &cache);
    let bob = users_workspace(base.path(), BOB, &cache);

    pipe_as(&pipe, ALICE, &alice, &["repro"]).ok();
    pipe_as(&pipe, ALICE, &alice, &["add", "raw.txt"]).ok();
    // An object only gc can free: Alice's first raw data, replaced.
    std::fs::write(alice.join("raw.txt"), "alice's raw data, v2\n").expect("write");
    pipe_as(&pipe, ALICE, &alice, &["add", "raw.txt"]).ok();

    // Bob reads Alice's run-cache record (and her objects): restored, not run.
    let r = pipe_as(&pipe, BOB, &bob, &["repro"]).ok();
    assert_eq!(r.restored(), ["make"], "{r}");
    assert_eq!(
        std::fs::read_to_string(bob.join("made.txt")).expect("read"),
        "shared source\n"
    );
    // Bob stores objects and a record of his own.
    std::fs::write(bob.join("src.txt"), "bob's source\n").expect("write");
    let r = pipe_as(&pipe, BOB, &bob, &["repro"]).ok();
    assert_eq!(r.ran(), ["make"], "{r}");
    pipe_as(&pipe, BOB, &bob, &["add", "raw.txt"]).ok();
    shared_modes(&cache, gid);

    // Bob collects: Alice's replaced raw data goes (an object she made), everything
    // either of them uses stays.
    let before = count_files(&cache.join("objects"));
    pipe_as(&pipe, BOB, &bob, &["gc", "--workspace"])
        .ok()
        .err_has("Removed 1 object(s)")
        .err_has("kept for 2 workspace(s)");
    assert_eq!(count_files(&cache.join("objects")), before - 1);
    shared_modes(&cache, gid);
    for (user, ws, raw) in [
        (ALICE, &alice, "alice's raw data, v2\n"),
        (BOB, &bob, "pipe-it-bob's raw data\n"),
    ] {
        std::fs::remove_file(ws.join("raw.txt")).expect("rm");
        std::fs::remove_file(ws.join("made.txt")).expect("rm");
        pipe_as(&pipe, user, ws, &["checkout"]).ok();
        assert_eq!(
            std::fs::read_to_string(ws.join("raw.txt")).expect("read"),
            raw
        );
        pipe_as(&pipe, user, ws, &["cache", "verify"]).ok();
    }

    // A workspace Bob cannot read: his gc refuses, naming it, and deletes nothing.
    std::fs::set_permissions(&alice, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let objects = files_under(&cache.join("objects"));
    pipe_as(&pipe, BOB, &bob, &["gc", "--workspace"])
        .code(3)
        .err_has(&format!("cannot read the workspace {}", alice.display()))
        .err_has("Permission denied");
    assert_eq!(files_under(&cache.join("objects")), objects);
}
