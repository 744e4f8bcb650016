//! The cache: checkout, gc, configuration, a full disk, and the lock's merge driver.

use std::process::Command;

use crate::support::{Project, count_files};

fn two_stage() -> Project {
    Project::new().file("v.txt", "1").file(
        "pipe.toml",
        "[stage.a]\ncmd = \"mkdir -p d && cp v.txt d/one && cp v.txt d/two\"\ndeps = [\"v.txt\"]\nouts = [\"d\"]\n\n[stage.b]\ncmd = \"cat d/one > b.txt\"\ndeps = [\"d\"]\nouts = [\"b.txt\"]\n",
    )
}

#[test]
fn checkout_restores_deleted_outs_from_the_cache() {
    let p = two_stage();
    p.pipe(&["repro"]).ok();
    p.remove("d");
    p.remove("b.txt");
    let r = p.pipe(&["checkout"]).ok();
    r.err_has("Restored d").err_has("Restored b.txt");
    assert_eq!(p.read("d/two"), "1");
    assert_eq!(p.read("b.txt"), "1");
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
    p.pipe(&["checkout"])
        .ok()
        .err_has("every out already matches the lock");
}

#[test]
fn gc_drops_only_what_nothing_refers_to() {
    let p = two_stage();
    p.pipe(&["repro"]).ok();
    let before = p.cache_objects();
    p.write("v.txt", "2");
    p.pipe(&["repro"]).ok();
    let after = p.cache_objects();
    assert!(after > before);
    // Both versions are kept: the run cache still refers to the first.
    p.pipe(&["gc"]).ok().err_has("Removed 0 object(s)");
    // Keeping only the workspace drops the first version's objects.
    p.pipe(&["gc", "-w", "--dry"]).ok().err_has("Would remove");
    assert_eq!(p.cache_objects(), after);
    p.pipe(&["gc", "-w"]).ok();
    assert!(p.cache_objects() < after);
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
    p.remove("d");
    p.pipe(&["checkout"]).ok();
    assert_eq!(p.read("d/one"), "2");
}

#[test]
fn a_shared_cache_dir_and_copy_links_from_config() {
    let shared = tempfile::tempdir().expect("tmp");
    let p = two_stage().file(
        ".pipe/config.toml",
        &format!(
            "[cache]\ndir = \"{}\"\nlink = [\"copy\"]\n",
            shared.path().display()
        ),
    );
    p.pipe(&["repro"]).ok();
    assert_eq!(
        count_files(&shared.path().join("objects")),
        2,
        "d/one, d/two, b.txt share one content; plus d's manifest"
    );
    assert_eq!(p.cache_objects(), 0);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(p.path("b.txt")).expect("stat").nlink(),
        1,
        "a copy, not a link"
    );
    // A second workspace using the same cache restores instead of running.
    let q = two_stage().file(
        ".pipe/config.toml",
        &format!("[cache]\ndir = \"{}\"\n", shared.path().display()),
    );
    let r = q.pipe(&["repro"]).ok();
    assert_eq!(r.restored(), ["a", "b"], "{r}");
}

#[test]
fn a_bad_config_is_located() {
    let p = two_stage().file(".pipe/config.toml", "[cache]\nlink = [\"teleport\"]\n");
    p.pipe(&["status"])
        .code(2)
        .err_has("unknown link kind `teleport`")
        .err_has("config.toml:2:9");
}

#[test]
fn a_full_disk_while_caching_keeps_everything_as_it_was() {
    // A real full filesystem: a 256 KiB tmpfs in a private mount namespace holds the cache.
    let p = Project::new()
        .file("v.txt", "1")
        .file(".pipe/config.toml", "[cache]\ndir = \"/mnt/pipe-full-cache\"\n")
        .file(
            "pipe.toml",
            "[stage.big]\ncmd = \"head -c ${size} /dev/urandom > big.bin; cat v.txt >> big.bin\"\ndeps = [\"v.txt\"]\nouts = [\"big.bin\"]\n\n[vars]\nsize = 1000\n",
        );
    let script = format!(
        "mkdir -p /mnt/pipe-full-cache && mount -t tmpfs -o size=256k none /mnt/pipe-full-cache && cd {} && {} repro && cp big.bin first.bin && cp pipe.lock first.lock && sed -i 's/size = 1000/size = 600000/' pipe.toml && echo 2 > v.txt && {} repro; echo rc=$?",
        p.root().display(),
        crate::support::bin().display(),
        crate::support::bin().display()
    );
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
        .env("NO_COLOR", "1")
        .output()
        .expect("unshare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("rc=3"),
        "exit code 3 for a full disk\n{stdout}\n{stderr}"
    );
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains("/mnt/pipe-full-cache"),
        "the error names the cache path\n{stderr}"
    );
    let bytes = |f: &str| std::fs::read(p.path(f)).expect("read");
    assert_eq!(
        bytes("big.bin"),
        bytes("first.bin"),
        "the previous out is back"
    );
    assert_eq!(
        p.read("pipe.lock"),
        p.read("first.lock"),
        "the lock is unchanged"
    );
}

#[test]
fn the_merge_driver_merges_locks_by_stage() {
    let p = Project::new()
        .file("x.txt", "x")
        .file(
            "pipe.toml",
            "[stage.a]\ncmd = \"cp x.txt a.txt\"\ndeps = [\"x.txt\"]\nouts = [\"a.txt\"]\n\n[stage.b]\ncmd = \"cp x.txt b.txt\"\ndeps = [\"x.txt\"]\nouts = [\"b.txt\"]\n",
        );
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(p.root())
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    crate::support::bin().parent().expect("dir").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .output()
            .expect("git");
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    git(&["init", "-q"]);
    p.pipe(&["init"]).ok().err_has("lock merge driver");
    assert!(p.read(".gitattributes").contains("*.lock merge=pipe-lock"));
    git(&["add", "-A"]);
    git(&["commit", "-qm", "pipeline"]);
    git(&["checkout", "-qb", "one"]);
    p.pipe(&["repro", "a"]).ok();
    git(&["add", "pipe.lock"]);
    git(&["commit", "-qm", "ran a"]);
    git(&["checkout", "-q", "main"]);
    git(&["checkout", "-qb", "two"]);
    p.pipe(&["repro", "b"]).ok();
    git(&["add", "pipe.lock"]);
    git(&["commit", "-qm", "ran b"]);
    git(&["merge", "-q", "one", "-m", "merge"]);
    let lock = p.read("pipe.lock");
    assert!(
        lock.contains("[stage.a]") && lock.contains("[stage.b]"),
        "{lock}"
    );
    assert!(!lock.contains("<<<<<<<"));
    // The managed .gitignore block lists the outs.
    assert!(p.read(".gitignore").contains("/a.txt"));
}
