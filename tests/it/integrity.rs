//! What pipe restores is what a stage computed: copies by default, persisted outs never
//! linked, every restored object checked (a corrupt one quarantined), no symbolic link
//! followed out of the workspace, ctime in the state key, and what killed processes leave
//! removed by the next command.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{Project, WAIT_FOR_GO, count_files, wait_until};

const HARDLINKS: &str = "[cache]\nlink = [\"hardlink\", \"copy\"]\n";

fn one_stage() -> Project {
    Project::new().file("v.txt", "hello").file(
        "pipe.toml",
        "[stage.s]\ncmd = \"cat v.txt > out.txt\"\ndeps = [\"v.txt\"]\nouts = [\"out.txt\"]\n",
    )
}

/// Every object file under the cache whose bytes are `content`.
fn objects_holding(p: &Project, content: &[u8]) -> Vec<PathBuf> {
    fn walk(dir: &Path, content: &[u8], out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, content, out);
            } else if std::fs::read(&path).is_ok_and(|b| b == content) {
                out.push(path);
            }
        }
    }
    let mut v = Vec::new();
    walk(&p.path(".pipe/cache/objects"), content, &mut v);
    v
}

/// Rewrites a file in place (same inode, as an editor or a stray write would), whatever
/// its mode.
fn write_in_place(path: &Path, bytes: &[u8]) {
    let mode = std::fs::metadata(path).expect("stat").permissions().mode();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o200)).expect("chmod");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open");
    std::io::Write::write_all(&mut f, bytes).expect("write");
}

fn workspace_temps(p: &Project) -> Vec<String> {
    std::fs::read_dir(p.root())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pipe-tmp-"))
        .collect()
}

// Defect 1: the default checkout shares no inode with the cache.
#[test]
fn by_default_an_out_is_a_copy_and_editing_it_never_reaches_the_cache() {
    let p = one_stage();
    p.pipe(&["repro"]).ok();
    let obj = objects_holding(&p, b"hello");
    assert_eq!(obj.len(), 1, "the out's object");
    assert_eq!(
        std::fs::metadata(p.path("out.txt")).expect("stat").nlink(),
        1
    );
    assert_ne!(
        std::fs::metadata(p.path("out.txt")).expect("stat").ino(),
        std::fs::metadata(&obj[0]).expect("stat").ino()
    );
    // What a careless user does to an out.
    write_in_place(&p.path("out.txt"), b"edited");
    p.pipe(&["cache", "verify"]).ok();
    p.pipe(&["checkout"]).ok().err_has("Restored out.txt");
    assert_eq!(p.read("out.txt"), "hello");
    assert!(workspace_temps(&p).is_empty());
}

// Defect 1: hard links only by choice, and never for a persisted out.
#[test]
fn a_persisted_out_is_never_linked_into_the_cache() {
    let p = Project::new().file(".pipe/config.toml", HARDLINKS).file(
        "pipe.toml",
        "[vars]\nn = 1\n\n[stage.log]\ncmd = \"echo run-${n} >> log.txt\"\nouts = [{ path = \"log.txt\", persist = true }]\n\n[stage.plain]\ncmd = \"echo plain > plain.txt\"\nouts = [\"plain.txt\"]\n",
    );
    p.pipe(&["repro"]).ok();
    assert_eq!(
        std::fs::metadata(p.path("plain.txt"))
            .expect("stat")
            .nlink(),
        2,
        "hard links when chosen"
    );
    assert_eq!(
        std::fs::metadata(p.path("log.txt")).expect("stat").nlink(),
        1,
        "but not for a persisted out"
    );
    p.write("pipe.toml", &p.read("pipe.toml").replace("n = 1", "n = 2"));
    p.pipe(&["repro"]).ok();
    assert_eq!(p.read("log.txt"), "run-1\nrun-2\n");
    p.pipe(&["cache", "verify"]).ok();
    assert_eq!(
        objects_holding(&p, b"run-1\n").len(),
        1,
        "the first run's log is whole"
    );
}

// Defects 1 and 2: an edit through a hard link corrupts the object; checkout sees it.
#[test]
fn an_out_edited_through_a_hard_link_is_not_restored_from_its_corrupt_object() {
    let p = one_stage().file(".pipe/config.toml", HARDLINKS);
    p.pipe(&["repro"]).ok();
    assert_eq!(
        std::fs::metadata(p.path("out.txt")).expect("stat").nlink(),
        2
    );
    write_in_place(&p.path("out.txt"), b"edited");
    let r = p.pipe(&["checkout"]).code(3);
    r.err_has("out.txt")
        .err_has("corrupt")
        .err_has("quarantine")
        .err_has("pipe repro s")
        .err_lacks("Restored");
    assert_eq!(count_files(&p.path(".pipe/cache/quarantine")), 1);
    assert!(workspace_temps(&p).is_empty(), "{:?}", workspace_temps(&p));
    // The stage runs again and the out is what it computes.
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["s"], "{r}");
    assert_eq!(p.read("out.txt"), "hello");
    p.pipe(&["cache", "verify"]).ok();
}

// Defect 2: a flipped byte in the cache is never checked out, even with its mtime put back.
#[test]
fn a_corrupt_object_is_quarantined_and_never_checked_out() {
    let p = one_stage();
    p.pipe(&["repro"]).ok();
    p.remove("out.txt");
    p.pipe(&["checkout"]).ok();
    // Checked once: trusted by its stat from now on, so only the stat can give a change away.
    let obj = objects_holding(&p, b"hello").remove(0);
    let before = std::fs::metadata(&obj).expect("stat");
    write_in_place(&obj, b"jello");
    let mtime = format!("@{}.{:09}", before.mtime(), before.mtime_nsec());
    let st = Command::new("touch")
        .args(["-d", &mtime])
        .arg(&obj)
        .status()
        .expect("touch");
    assert!(st.success());
    std::fs::set_permissions(&obj, before.permissions()).expect("chmod");
    p.remove("out.txt");
    let r = p.pipe(&["checkout"]).code(3);
    r.err_has("out.txt")
        .err_has("corrupt")
        .err_has("quarantine");
    assert!(!p.exists("out.txt"), "nothing was checked out");
    assert!(!obj.exists());
    assert_eq!(count_files(&p.path(".pipe/cache/quarantine")), 1);
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["s"], "{r}");
    assert_eq!(p.read("out.txt"), "hello");
}

/// Two stages, `a` (v.txt -> a.txt) and `b` (a.txt -> b.txt), run on v.txt = one, then
/// two, then v.txt set back to one with the run cache's copy of a.txt = one corrupted.
fn corrupt_run_cache_hit() -> Project {
    let p = Project::new().file("v.txt", "one").file(
        "pipe.toml",
        "[stage.a]\ncmd = \"cat v.txt > a.txt\"\ndeps = [\"v.txt\"]\nouts = [\"a.txt\"]\n\n[stage.b]\ncmd = \"cat a.txt > b.txt\"\ndeps = [\"a.txt\"]\nouts = [\"b.txt\"]\n",
    );
    p.pipe(&["repro"]).ok();
    p.write("v.txt", "two");
    p.pipe(&["repro"]).ok();
    let obj = objects_holding(&p, b"one");
    assert_eq!(obj.len(), 1);
    write_in_place(&obj[0], b"bad");
    p.write("v.txt", "one");
    p
}

// Defect 2: a run-cache hit whose object is corrupt is no hit.
#[test]
fn a_run_cache_restore_with_a_corrupt_object_runs_the_stage_instead() {
    let p = corrupt_run_cache_hit();
    let r = p.pipe(&["repro"]).ok();
    r.err_has("a.txt")
        .err_has("corrupt")
        .err_has("the local run cache cannot restore stage a");
    assert_eq!(
        r.ran(),
        ["a"],
        "a reruns; b is restored from a's good output\n{r}"
    );
    assert_eq!(p.read("a.txt"), "one");
    assert_eq!(p.read("b.txt"), "one");
    p.pipe(&["cache", "verify"]).ok();
}

// Defect 2: status and --dry find the corrupt object too, say so, and plan a run.
#[test]
fn status_and_dry_run_say_a_run_cache_object_is_corrupt_and_plan_a_run() {
    let p = corrupt_run_cache_hit();
    let r = p.pipe(&["repro", "--dry"]).ok();
    r.err_has("a.txt").err_has("corrupt").err_has("quarantine");
    assert!(
        r.stdout.lines().any(|l| l.starts_with("Would run a:")),
        "{r}"
    );
    assert_eq!(count_files(&p.path(".pipe/cache/quarantine")), 1);
    // Quarantined now: a missing object, no longer a warning; a still runs.
    let r = p.pipe(&["status"]).ok();
    r.err_lacks("corrupt").out_has("a: stale\n");
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["a"], "{r}");
    assert_eq!(p.read("b.txt"), "one");
}

// Defect 2: pull fetches again what the local cache holds corrupt.
#[test]
fn pull_replaces_a_corrupt_local_object() {
    let remote = tempfile::tempdir().expect("tmp");
    let p = one_stage();
    p.pipe(&[
        "remote",
        "add",
        "team",
        &remote.path().display().to_string(),
        "--default",
    ])
    .ok();
    p.pipe(&["repro"]).ok();
    p.pipe(&["push"]).ok();
    let obj = objects_holding(&p, b"hello").remove(0);
    write_in_place(&obj, b"jello");
    p.remove("out.txt");
    p.pipe(&["pull"]).ok();
    assert_eq!(p.read("out.txt"), "hello");
    p.pipe(&["cache", "verify"]).ok();
}

// Defect 3: a link in an out directory is refused; nothing outside the workspace changes.
#[test]
fn a_symlink_in_an_out_is_refused_and_nothing_outside_is_touched() {
    let outside = tempfile::tempdir().expect("tmp");
    let victim = outside.path().join("precious.txt");
    std::fs::write(&victim, "mine").expect("write");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for links in ["", HARDLINKS] {
        let p = Project::new().file(".pipe/config.toml", links).file(
            "pipe.toml",
            &format!(
                "[stage.d]\ncmd = \"mkdir -p outdir && echo a > outdir/a && ln -s {} outdir/link\"\nouts = [\"outdir\"]\n\n[stage.f]\ncmd = \"ln -s {} out.txt\"\nouts = [\"out.txt\"]\n",
                outside.path().display(),
                victim.display()
            ),
        );
        let r = p.pipe(&["repro", "d"]).code(1);
        r.err_has("out `outdir` holds a symbolic link, `outdir/link`")
            .err_has(&outside.path().display().to_string());
        let r = p.pipe(&["repro", "f"]).code(1);
        r.err_has("out `out.txt` is a symbolic link")
            .err_lacks("os error");
        let m = std::fs::metadata(&victim).expect("stat");
        assert_eq!(m.permissions().mode() & 0o777, 0o644, "not chmodded");
        assert_eq!(m.nlink(), 1, "not linked into the cache");
        assert_eq!(p.cache_objects(), 0, "nothing stored");
        assert!(!p.exists("pipe.lock") || !p.read("pipe.lock").contains("outdir"));
    }
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "mine");
}

// Defect 5: a same-size rewrite with its mtime put back is still seen.
#[test]
fn a_same_size_rewrite_with_its_mtime_put_back_is_seen() {
    let p = Project::new()
        .file("d.txt", "version1")
        .file("dir/x.txt", "version1")
        .file(
            "pipe.toml",
            "[stage.r]\ncmd = \"cat d.txt dir/x.txt > r.txt\"\ndeps = [\"d.txt\", \"dir\"]\nouts = [\"r.txt\"]\n",
        );
    // Past the filesystem clock's tick, so the state db trusts what it recorded.
    p.wait_for_clock_past(&["d.txt", "dir/x.txt"]);
    p.pipe(&["repro"]).ok();
    p.pipe(&["status"])
        .ok()
        .out_is("Everything is up to date (1 stages).\n");
    for (f, dep) in [("d.txt", "d.txt"), ("dir/x.txt", "dir")] {
        let m = std::fs::metadata(p.path(f)).expect("stat");
        write_in_place(&p.path(f), b"version2");
        let st = Command::new("touch")
            .args(["-d", &format!("@{}.{:09}", m.mtime(), m.mtime_nsec())])
            .arg(p.path(f))
            .status()
            .expect("touch");
        assert!(st.success());
        assert_eq!(
            std::fs::metadata(p.path(f)).expect("stat").mtime(),
            m.mtime()
        );
        p.pipe(&["status"])
            .ok()
            .out_is(&format!("r: stale\n    dep {dep} changed\n"));
        assert_eq!(p.pipe(&["repro"]).ok().ran(), ["r"]);
    }
    assert_eq!(p.read("r.txt"), "version2version2");
}

/// Entries of a directory (empty when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// Defect 7: what a killed pipe leaves is removed by the next command; a live one's is not.
#[test]
fn leftovers_of_a_killed_pipe_are_removed_by_the_next_command() {
    let p = Project::new().file("v.txt", "1").file(
        "pipe.toml",
        "[stage.slow]\ncmd = \"touch started; sleep ${t}; cat v.txt > out.txt\"\ndeps = [\"v.txt\"]\nouts = [\"out.txt\"]\n\n[vars]\nt = 0\n",
    );
    p.pipe(&["repro"]).ok();
    p.remove("started");
    p.write("pipe.toml", &p.read("pipe.toml").replace("t = 0", "t = 2"));
    p.write("v.txt", "2");
    let mut first = p
        .cmd(&["repro"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    p.wait_for("started");
    let pid = first.id();
    first.kill().expect("kill -9");
    first.wait().expect("wait");
    // What it left: the out moved aside, the locks of its stage; and what a kill during a
    // cache write or a clock probe leaves (made here, as the process would have).
    assert_eq!(entries(&p.path(".pipe/tmp/backup")), [format!("{pid}-0")]);
    assert!(!entries(&p.path(".pipe/locks")).is_empty());
    let tmp = p.path(".pipe/cache/tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir");
    std::fs::write(tmp.join(format!(".pipe-tmp-{pid}-0-abcd")), vec![0u8; 4096]).expect("w");
    std::fs::write(p.path(format!(".pipe/tmp/clock-{pid}").as_str()), "c").expect("w");
    // The orphaned stage ends (its watcher ends it, or its sleep does: defect 6 is not this
    // test's).
    wait_until(
        "the killed run's stage to end",
        std::time::Duration::from_secs(60),
        || p.stage_processes().is_empty(),
    );
    // A live process's files are spared. (The killed run's stage ended with it, before
    // writing its out, and its backup was swept: give the live run an out to move aside.)
    // Its stage waits for `go`, so it is still running when `status` sweeps.
    p.remove("started");
    p.write("out.txt", "previous");
    p.write(
        "pipe.toml",
        &p.read("pipe.toml").replace("sleep ${t}", WAIT_FOR_GO),
    );
    let mut live = p
        .cmd(&["repro"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    p.wait_for("started");
    let live_backup = format!("{}-0", live.id());
    p.pipe(&["status"]).ok();
    assert_eq!(entries(&p.path(".pipe/tmp/backup")), [live_backup]);
    assert!(
        entries(&tmp).iter().all(|n| !n.starts_with(".pipe-tmp-")),
        "{:?}",
        entries(&tmp)
    );
    assert!(
        entries(&p.path(".pipe/tmp"))
            .iter()
            .all(|n| !n.starts_with("clock-")),
        "{:?}",
        entries(&p.path(".pipe/tmp"))
    );
    p.write("go", "");
    assert!(live.wait().expect("wait").success());
    assert_eq!(p.read("out.txt"), "2");
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
    assert_eq!(entries(&p.path(".pipe/tmp/backup")), Vec::<String>::new());
    assert_eq!(entries(&p.path(".pipe/locks")), Vec::<String>::new());
}

// Defect 7: gc counts and frees the leftovers of dead processes and quarantined objects.
#[test]
fn gc_counts_what_it_frees() {
    let p = one_stage();
    p.pipe(&["repro"]).ok();
    // What a dead process left: a cache temp file and a backup.
    let mut dead = Command::new("true").spawn().expect("spawn");
    let pid = dead.id();
    dead.wait().expect("wait");
    let tmp = p.path(".pipe/cache/tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir");
    std::fs::write(tmp.join(format!(".pipe-tmp-{pid}-0-x")), vec![7u8; 300_000]).expect("w");
    let backup = p.path(&format!(".pipe/tmp/backup/{pid}-0"));
    std::fs::create_dir_all(&backup).expect("mkdir");
    std::fs::write(backup.join("0"), vec![7u8; 200_000]).expect("w");
    let r = p.pipe(&["gc"]).ok();
    r.err_has(": 500.0 KB;").err_has("2 leftover(s)");
    assert_eq!(count_files(&tmp), 0);
    assert!(!backup.exists());
    // A quarantined object.
    write_in_place(&objects_holding(&p, b"hello").remove(0), b"jello");
    p.remove("out.txt");
    p.pipe(&["checkout"]).code(3);
    assert_eq!(count_files(&p.path(".pipe/cache/quarantine")), 1);
    let r = p.pipe(&["gc"]).ok();
    r.err_has("1 leftover(s)").err_has(": 5 B;");
    assert_eq!(count_files(&p.path(".pipe/cache/quarantine")), 0);
    let r = p.pipe(&["gc"]).ok();
    r.err_has("0 leftover(s)").err_has(": 0 B;");
}

// Defect 7: no lock file per path piles up.
#[test]
fn a_stage_with_many_deps_leaves_no_lock_files() {
    let mut p = Project::new();
    let mut deps = Vec::new();
    for i in 0..300 {
        p = p.file(&format!("in/{i}.txt"), "x");
        deps.push(format!("\"in/{i}.txt\""));
    }
    let p = p.file(
        "pipe.toml",
        &format!(
            "[stage.s]\ncmd = \"cat in/*.txt > out.txt\"\ndeps = [{}]\nouts = [\"out.txt\"]\n",
            deps.join(", ")
        ),
    );
    p.pipe(&["repro"]).ok();
    assert_eq!(p.read("out.txt"), "x".repeat(300));
    assert_eq!(entries(&p.path(".pipe/locks")), Vec::<String>::new());
    // Wherever pipe keeps them: nothing under .pipe grows with the number of deps (the
    // run leaves its out's object, a run-cache record, the state db, a log).
    let mut files = Vec::new();
    walk_files(&p.path(".pipe"), &mut files);
    assert!(
        (1..30).contains(&files.len()),
        "{} files under .pipe: {files:#?}",
        files.len()
    );
}

fn walk_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("ls").flatten() {
        if e.file_type().expect("type").is_dir() {
            walk_files(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

// Defect 7: restoring onto an out that already is its object's inode (hard links, the lock
// lost) leaves no temp file in the workspace: renaming a link over another link of the same
// inode does nothing, so the temp link stays unless pipe removes it.
#[test]
fn a_restore_onto_an_out_that_already_is_its_object_leaves_no_temp_file() {
    let p = one_stage().file(".pipe/config.toml", HARDLINKS);
    p.pipe(&["repro"]).ok();
    let obj = objects_holding(&p, b"hello");
    assert_eq!(obj.len(), 1, "the out's object");
    let ino = std::fs::metadata(&obj[0]).expect("stat").ino();
    assert_eq!(
        std::fs::metadata(p.path("out.txt")).expect("stat").ino(),
        ino
    );
    p.remove("pipe.lock");
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.restored(), ["s"], "{r}");
    assert_eq!(workspace_temps(&p), Vec::<String>::new());
    assert_eq!(p.read("out.txt"), "hello");
    p.pipe(&["checkout"]).ok();
    assert_eq!(workspace_temps(&p), Vec::<String>::new());
    p.pipe(&["cache", "verify"]).ok();
}

// Defect 7: a write that fails for want of space removes its partial file, so the next
// smaller write succeeds.
#[test]
fn a_full_disk_leaves_no_partial_temp_file() {
    let p = Project::new()
        .file(".pipe/config.toml", "[cache]\ndir = \"/mnt/pipe-full-cache\"\n")
        .file(
            "pipe.toml",
            "[stage.big]\ncmd = \"head -c ${size} /dev/urandom > big.bin\"\nouts = [\"big.bin\"]\n\n[vars]\nsize = 600000\n",
        );
    let bin = crate::support::bin();
    let script = format!(
        "mkdir -p /mnt/pipe-full-cache && mount -t tmpfs -o size=256k none /mnt/pipe-full-cache && cd {} && {} repro; echo rc1=$?; ls -A /mnt/pipe-full-cache/tmp; sed -i 's/size = 600000/size = 100000/' pipe.toml && {} repro; echo rc2=$?",
        p.root().display(),
        bin.display(),
        bin.display()
    );
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
        .env("NO_COLOR", "1")
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("rc1=3"), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(".pipe-tmp-"),
        "a partial temp file\n{stdout}"
    );
    assert!(stdout.contains("rc2=0"), "{stdout}\n{stderr}");
}
