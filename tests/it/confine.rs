//! Issue 19, "nothing outside the workspace is written, moved, deleted, chmodded or
//! linked": a symlinked parent of an out, a hard-linked file from elsewhere, a failed or
//! killed directory checkout, and `cache.dir` naming a folder of the user's files.
//!
//! The checkout failures are real ones: `strace` (Debian's package) injects an error or a
//! SIGKILL into the rename syscalls of the `pipe` binary. Without `strace` on PATH those
//! tests fail.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Project, Run, bin};

/// A directory outside any workspace holding one file, `name`, with `content` and `mode`;
/// `untouched` checks that nothing in it changed.
struct Outside {
    dir: tempfile::TempDir,
    name: &'static str,
    content: &'static str,
    mode: u32,
}

impl Outside {
    fn new(name: &'static str, content: &'static str, mode: u32) -> Outside {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join(name);
        std::fs::write(&p, content).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        Outside {
            dir,
            name,
            content,
            mode,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join(self.name)
    }

    #[track_caller]
    fn untouched(&self, after: &str) {
        let names: Vec<String> = std::fs::read_dir(self.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        assert_eq!(names, [self.name], "after {after}: names outside");
        let f = self.file();
        assert_eq!(
            std::fs::read_to_string(&f).expect("read"),
            self.content,
            "after {after}: content outside"
        );
        let m = std::fs::symlink_metadata(&f).expect("stat");
        assert_eq!(m.mode() & 0o7777, self.mode, "after {after}: mode outside");
    }
}

/// Names in `dir` that start with pipe's temp prefix.
fn temps_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".pipe-tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

// Item 1: `sub` is a symbolic link to a directory elsewhere (a clone whose `sub` was
// replaced by `ln -s /elsewhere sub`): checkout, pull and repro of out `sub/out.txt` refuse
// with one error naming the out and the link, and the directory elsewhere is untouched
// (content, mode, names), also after the next command's sweep.
#[test]
fn a_symlinked_parent_of_an_out_is_never_written_through() {
    let outside = Outside::new("out.txt", "theirs\n", 0o600);
    let remote = tempfile::tempdir().expect("tmp");
    let p = Project::new().file(
        "pipe.toml",
        "[stage.s]\ncmd = \"mkdir -p sub && echo ours > sub/out.txt\"\nouts = [\"sub/out.txt\"]\n",
    );
    let url = remote.path().display().to_string();
    p.pipe(&["remote", "add", "team", &url, "--default"]).ok();
    p.pipe(&["repro"]).ok();
    p.pipe(&["push"]).ok();
    p.remove("sub");
    symlink(outside.path(), p.path("sub")).expect("symlink");
    let said = format!(
        "`sub/out.txt`: `sub` is a symbolic link to {}, which leads out of",
        outside.path().display()
    );
    for args in [
        &["checkout"][..],
        &["pull"],
        &["repro"],
        &["repro", "--force"],
    ] {
        let r = p.pipe(args);
        assert_ne!(r.code, 0, "pipe {args:?} must fail\n{r}");
        r.err_has(&said);
        outside.untouched(&format!("pipe {args:?}"));
        assert!(
            std::fs::read_dir(p.path(".pipe/tmp/backup"))
                .map(|mut rd| rd.next().is_none())
                .unwrap_or(true),
            "nothing was moved aside"
        );
    }
    // The next command sweeps what commands left: nothing outside is anyone's leftover.
    p.pipe(&["status"]).ok();
    outside.untouched("pipe status");
    // A link that stays inside the workspace is followed (decided: see `rootdir`).
    p.remove("sub");
    std::fs::create_dir(p.path("real")).expect("mkdir");
    symlink("real", p.path("sub")).expect("symlink");
    p.pipe(&["checkout"]).ok();
    assert_eq!(p.read("real/out.txt"), "ours\n");
}

// Item 2: with hard links, a stage that hard-links a file from elsewhere into its out
// (`ln /elsewhere/f outdir/f`): the file is not pipe's to link or chmod, so it is stored
// as a copy; the outside file keeps its mode and links, and an out checked out as a hard
// link shares its inode with the cache only.
#[test]
fn a_file_with_other_links_is_copied_never_linked_or_chmodded() {
    let outside = Outside::new("f", "outside\n", 0o644);
    let p = Project::new()
        .file(".pipe/config.toml", "[cache]\nlink = [\"hardlink\", \"copy\"]\n")
        .file(
            "pipe.toml",
            &format!(
                "[stage.s]\ncmd = \"mkdir -p outdir && ln {} outdir/f && echo own > outdir/own\"\nouts = [\"outdir\"]\n",
                outside.file().display()
            ),
        );
    p.pipe(&["repro"]).ok();
    outside.untouched("pipe repro");
    let ino = |path: &Path| std::fs::metadata(path).expect("stat").ino();
    let links = |path: &Path| std::fs::metadata(path).expect("stat").nlink();
    assert_eq!(
        links(&outside.file()),
        2,
        "itself and the stage's link only"
    );
    let objects = objects(&p);
    assert!(
        objects.iter().all(|o| ino(o) != ino(&outside.file())),
        "no object is the outside file's inode"
    );
    // The stage's own file (one link) is stored by a hard link, as configured.
    assert!(objects.iter().any(|o| ino(o) == ino(&p.path("outdir/own"))));
    // Checked out as a hard link: the object's inode, not the outside file's.
    p.remove("outdir");
    p.pipe(&["checkout"]).ok();
    let f = p.path("outdir/f");
    assert_ne!(ino(&f), ino(&outside.file()));
    assert!(
        objects.iter().any(|o| ino(o) == ino(&f)),
        "linked to the cache"
    );
    assert_eq!(links(&f), 2, "the object and the out, nothing else");
    assert_eq!(links(&outside.file()), 1);
    // Editing the out (as a user would: make it writable, write) cannot reach outside.
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(&f, "edited\n").expect("write");
    std::fs::set_permissions(outside.file(), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    assert_eq!(
        std::fs::read_to_string(outside.file()).expect("read"),
        "outside\n"
    );
}

fn objects(p: &Project) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let top = p.path(".pipe/cache/objects");
    for a in std::fs::read_dir(top).expect("objects").flatten() {
        for b in std::fs::read_dir(a.path()).expect("fan-out").flatten() {
            out.push(b.path());
        }
    }
    out
}

/// Runs `pipe ARGS` under `strace -f` with the given `-e inject=…` expressions.
fn pipe_under_strace(p: &Project, injects: &[&str], args: &[&str]) -> Run {
    let strace = ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .find(|s| Path::new(s).exists())
        .unwrap_or_else(|| panic!("strace is not installed (apt-get install strace): these tests inject syscall failures with it"));
    let mut c = Command::new(strace);
    c.args(["-f", "-qq", "-o", "/dev/null"]);
    for i in injects {
        c.args(["-e", &format!("inject={i}")]);
    }
    c.arg(bin())
        .args(args)
        .current_dir(p.root())
        .env_remove("PIPE_LOG")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    Run::from(c.output().expect("run strace"))
}

/// A stage with a directory out `data` (`a` and `b`), run; then `data` edited by hand
/// (the old content a checkout replaces).
fn edited_dir_out() -> Project {
    let p = Project::new().file("src.txt", "v1\n").file(
        "pipe.toml",
        "[stage.s]\ncmd = \"mkdir -p data && cp src.txt data/a && echo b > data/b\"\ndeps = [\"src.txt\"]\nouts = [\"data\"]\n",
    );
    p.pipe(&["repro"]).ok();
    p.remove("data/b");
    p.write("data/a", "mine\n");
    p
}

#[track_caller]
fn old_content_kept(p: &Project, after: &str) {
    assert_eq!(p.read("data/a"), "mine\n", "after {after}");
    assert!(!p.exists("data/b"), "after {after}");
    assert_eq!(temps_in(p.root()), Vec::<String>::new(), "after {after}");
}

// Item 13: a directory checkout whose rename fails (ENOSPC) leaves the out as it was, and
// no temp; one killed at its rename leaves a temp that the next command sweeps.
#[test]
fn a_failed_directory_checkout_rolls_back_and_a_killed_ones_temp_is_swept() {
    // The filesystem cannot exchange (EINVAL): the out moves aside, and the rename of the
    // new tree into place fails; the out is moved back.
    let p = edited_dir_out();
    let r = pipe_under_strace(
        &p,
        &[
            "renameat2:error=EINVAL:when=1",
            "rename,renameat:error=ENOSPC:when=2",
        ],
        &["checkout"],
    );
    assert_ne!(r.code, 0, "{r}");
    r.err_has("No space left on device");
    old_content_kept(&p, "a failed second rename");
    // The exchange itself fails.
    let r = pipe_under_strace(&p, &["renameat2:error=ENOSPC:when=1"], &["checkout"]);
    if r.code == 0 {
        // A pipe that does not exchange got no failure: the checkout must have worked.
        assert_eq!(p.read("data/a"), "v1\n", "{r}");
    } else {
        r.err_has("No space left on device");
        old_content_kept(&p, "a failed exchange");
    }

    // Killed at the rename that puts the tree in place: a temp is left, and the next
    // command (any) removes it.
    let p = edited_dir_out();
    let r = pipe_under_strace(
        &p,
        &["rename,renameat2:error=EIO:signal=KILL:when=1"],
        &["checkout"],
    );
    assert_eq!(r.code, 137, "killed\n{r}");
    assert!(
        !temps_in(p.root()).is_empty(),
        "the killed checkout left its temp"
    );
    p.pipe(&["status"]).ok();
    assert_eq!(temps_in(p.root()), Vec::<String>::new(), "swept");
    p.pipe(&["checkout"]).ok();
    assert_eq!(p.read("data/a"), "v1\n");
    assert_eq!(p.read("data/b"), "b\n");
}

// Item 8: `cache.dir` naming a folder that holds the user's files is refused (exit 2) by
// every command, and nothing in it is deleted; an older pipe's cache (no mark) is adopted.
#[test]
fn a_cache_dir_of_the_users_files_is_refused_and_an_older_pipe_cache_adopted() {
    let folder = tempfile::tempdir().expect("tmp");
    let f = folder.path();
    std::fs::create_dir_all(f.join("tmp/2024-results")).expect("mkdir");
    std::fs::write(f.join("tmp/2024-results/report.txt"), "report").expect("write");
    std::fs::write(f.join("tmp/12345-other.tmp"), "other").expect("write");
    std::fs::create_dir_all(f.join("quarantine")).expect("mkdir");
    std::fs::write(f.join("quarantine/keep.bin"), "keep").expect("write");
    let p = Project::new()
        .file(
            ".pipe/config.toml",
            &format!("[cache]\ndir = \"{}\"\n", f.display()),
        )
        .file(
            "pipe.toml",
            "[stage.s]\ncmd = \"echo x > o\"\nouts = [\"o\"]\n",
        );
    for args in [&["status"][..], &["gc", "--workspace"], &["repro"]] {
        p.pipe(args)
            .code(2)
            .err_has("config.toml: cache.dir: ")
            .err_has(&format!("{} is not a pipe cache", f.display()))
            .err_has("`quarantine/keep.bin`");
        for (file, content) in [
            ("tmp/2024-results/report.txt", "report"),
            ("tmp/12345-other.tmp", "other"),
            ("quarantine/keep.bin", "keep"),
        ] {
            assert_eq!(
                std::fs::read_to_string(f.join(file)).ok().as_deref(),
                Some(content),
                "after pipe {args:?}: {file}"
            );
        }
    }
    assert!(!f.join("pipe-cache-version").exists(), "not marked");

    // A cache as an older pipe left it: no mark. It is pipe's beyond doubt, so it is kept.
    let q = Project::new().file(
        "pipe.toml",
        "[stage.s]\ncmd = \"echo x > o\"\nouts = [\"o\"]\n",
    );
    q.pipe(&["repro"]).ok();
    let cache = q.path(".pipe/cache");
    for mark in ["pipe-cache-version", "CACHEDIR.TAG"] {
        std::fs::remove_file(cache.join(mark)).expect("a new cache is marked");
    }
    q.remove("o");
    q.pipe(&["checkout"]).ok();
    assert_eq!(q.read("o"), "x\n");
    assert_eq!(
        std::fs::read_to_string(cache.join("pipe-cache-version")).expect("marked again"),
        "1\n"
    );
    assert!(
        std::fs::read_to_string(cache.join("CACHEDIR.TAG"))
            .expect("tagged")
            .starts_with("Signature: 8a477f597d28d172789f06886806bc55")
    );
}

// The remaining writers, through the workspace's root too (issue 19, item 1's one
// mechanism): exp apply's params edit, a sweep's report file, plots written into the
// workspace, experiment records, and a checkout: each refuses a path whose directory is a
// link that leads out of the workspace, with exit 2 (the workspace is bad input), and
// nothing outside changes. A root `.gitignore` that is a link is replaced by the file
// pipe writes, never written through.
#[test]
fn the_remaining_writers_refuse_a_link_out_of_the_workspace_with_exit_2() {
    let said = |dir: &Path| {
        format!(
            "is a symbolic link to {}, which leads out of",
            dir.display()
        )
    };

    // A checkout: exit 2.
    let outside = Outside::new("out.txt", "theirs\n", 0o644);
    let p = Project::new().file(
        "pipe.toml",
        "[stage.s]\ncmd = \"mkdir -p sub && echo ours > sub/out.txt\"\nouts = [\"sub/out.txt\"]\n",
    );
    p.pipe(&["repro"]).ok();
    p.remove("sub");
    symlink(outside.path(), p.path("sub")).expect("symlink");
    p.pipe(&["checkout"]).code(2).err_has(&said(outside.path()));
    outside.untouched("pipe checkout");

    // exp apply: the params file lies in `conf`, a link out.
    let outside = Outside::new("params.toml", "[train]\nlr = 0.1\n", 0o644);
    let p = Project::new().file(
        "pipe.toml",
        "[pipeline]\nparams = [\"conf/params.toml\"]\n\n[stage.t]\ncmd = \"echo ${train.lr} > ${outs[0]}\"\nparams = [\"train.lr\"]\nouts = [\"model.txt\"]\n",
    );
    symlink(outside.path(), p.path("conf")).expect("symlink");
    p.pipe(&["exp", "run", "-S", "train.lr=0.01"]).ok();
    p.pipe(&["exp", "apply", "lr=0.01"])
        .code(2)
        .err_has(&said(outside.path()));
    outside.untouched("pipe exp apply");

    // A sweep's report file, in `reports`, a link out.
    let outside = Outside::new("keep.md", "mine\n", 0o644);
    let p = Project::new()
        .file("params.toml", "[m]\ng = 1\n")
        .file(
            "pipe.toml",
            "[stage.t]\ncmd = \"echo '{\\\"f1\\\": ${m.g}}' > ${metrics[0]}\"\nparams = [\"m.g\"]\nmetrics = [\"eval.json\"]\n\n[sweep.s]\nstages = [\"t\"]\nmatrix = { \"m.g\" = [1, 2] }\nreport = [\"f1\"]\nreport_file = \"reports/s.md\"\n",
        );
    symlink(outside.path(), p.path("reports")).expect("symlink");
    p.pipe(&["sweep", "s"])
        .code(2)
        .err_has(&said(outside.path()));
    outside.untouched("pipe sweep");

    // Plots written into the workspace, through `pl`, a link out.
    let outside = Outside::new("index.html", "mine\n", 0o644);
    let p = Project::new().file(
        "pipe.toml",
        "[stage.t]\ncmd = \"printf 'x,y\\\\n1,2\\\\n2,3\\\\n' > curve.csv\"\nplots = [\"curve.csv\"]\n",
    );
    p.pipe(&["repro"]).ok();
    symlink(outside.path(), p.path("pl")).expect("symlink");
    p.pipe(&["plots", "show", "-o", "pl"])
        .code(2)
        .err_has(&said(outside.path()));
    outside.untouched("pipe plots show");

    // Experiment records, under a `.pipe/exps` that is a link out.
    let outside = Outside::new("keep.json", "{}\n", 0o644);
    let p = Project::new()
        .file("params.toml", "[train]\nlr = 0.1\n")
        .file(
            "pipe.toml",
            "[stage.t]\ncmd = \"echo ${train.lr} > ${outs[0]}\"\nparams = [\"train.lr\"]\nouts = [\"model.txt\"]\n",
        );
    p.pipe(&["status"]).ok();
    symlink(outside.path(), p.path(".pipe/exps")).expect("symlink");
    let r = p.pipe(&["exp", "run", "-S", "train.lr=0.01"]);
    assert_eq!(r.code, 2, "{r}");
    r.err_has(&said(outside.path()));
    outside.untouched("pipe exp run");

    // The root .gitignore, a link to a file elsewhere: replaced, never written through.
    let outside = Outside::new("gitignore", "# theirs\n", 0o644);
    let p = Project::new().file(
        "pipe.toml",
        "[stage.s]\ncmd = \"echo x > o.txt\"\nouts = [\"o.txt\"]\n",
    );
    p.git(&["init", "-q"]);
    symlink(outside.file(), p.path(".gitignore")).expect("symlink");
    p.pipe(&["init"]).ok();
    outside.untouched("pipe init");
    let gi = std::fs::symlink_metadata(p.path(".gitignore")).expect("stat");
    assert!(gi.is_file(), "a file of the workspace now");
    assert!(p.read(".gitignore").contains("/o.txt"));
}
