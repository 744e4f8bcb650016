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

    p.git(&["init", "-q"]);
    p.pipe(&["init"]).ok().err_has("lock merge driver");
    assert!(p.read(".gitattributes").contains("*.lock merge=pipe-lock"));
    p.git(&["add", "-A"]);
    p.git(&["commit", "-qm", "pipeline"]);
    p.git(&["checkout", "-qb", "one"]);
    p.pipe(&["repro", "a"]).ok();
    p.git(&["add", "pipe.lock"]);
    p.git(&["commit", "-qm", "ran a"]);
    p.git(&["checkout", "-q", "main"]);
    p.git(&["checkout", "-qb", "two"]);
    p.pipe(&["repro", "b"]).ok();
    p.git(&["add", "pipe.lock"]);
    p.git(&["commit", "-qm", "ran b"]);
    p.git(&["merge", "-q", "one", "-m", "merge"]);
    let lock = p.read("pipe.lock");
    assert!(
        lock.contains("[stage.a]") && lock.contains("[stage.b]"),
        "{lock}"
    );
    assert!(!lock.contains("<<<<<<<"));
    // The managed .gitignore block lists the outs.
    assert!(p.read(".gitignore").contains("/a.txt"));
}

// ---------------------------------------------------------------------------------------
// Crashes while committing

/// Every object file in the cache, hashed and compared with its name: a crash may leave
/// objects absent, never one whose bytes are not what its name says.
#[track_caller]
fn assert_every_object_whole(p: &Project, why: &str) -> usize {
    let objects = p.path(".pipe/cache/objects");
    let mut n = 0;
    let Ok(top) = std::fs::read_dir(&objects) else {
        return 0;
    };
    for a in top.flatten() {
        let prefix = a.file_name().to_string_lossy().into_owned();
        for b in std::fs::read_dir(a.path())
            .expect("list a fan-out dir")
            .flatten()
        {
            let name = format!("{prefix}{}", b.file_name().to_string_lossy());
            let bytes = std::fs::read(b.path()).expect("read an object");
            let actual = blake3::hash(&bytes).to_hex().to_string();
            assert_eq!(actual, name, "object {name} is not whole ({why})");
            n += 1;
        }
    }
    n
}

/// A small pseudo-random generator (xorshift), seeded from the clock and printed on
/// failure, so a failing schedule of kills can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn a_repro_killed_at_random_points_while_committing_leaves_only_whole_objects() {
    // 3,000 small files and 2 large ones a run, all new each round (the salt changes),
    // then `committing` is touched: what follows is pipe's commit of 3,003 objects.
    let p = Project::new().file("salt.txt", "0").file(
        "pipe.toml",
        "[stage.t]\ncmd = \"mkdir -p tree && awk -v s=$(cat salt.txt) 'BEGIN { for (i = 1; i <= 3000; i++) { f = \\\"tree/f\\\" i; printf \\\"%s-%d-%4000s\\\\n\\\", s, i, \\\"\\\" > f; close(f) } }' && head -c 6000000 /dev/urandom > tree/big1 && head -c 6000000 /dev/urandom > tree/big2 && touch committing\"\ndeps = [\"salt.txt\"]\nouts = [\"tree\"]\n",
    );
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = Rng(seed);
    let run_until_committing = |salt: usize| {
        p.write("salt.txt", &salt.to_string());
        let _ = std::fs::remove_file(p.path("committing"));
        let child = p
            .cmd(&["repro"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn pipe repro");
        p.wait_for("committing");
        (child, std::time::Instant::now())
    };
    // One whole run measures how long the commit takes here.
    let (mut child, t0) = run_until_committing(0);
    assert!(child.wait().expect("wait").success(), "seed {seed}");
    let commit = t0.elapsed().as_micros() as u64;
    let base = assert_every_object_whole(&p, "after a whole run");
    assert_eq!(base, 3003, "3,002 files and the manifest");
    let mut killed_midway = 0;
    for round in 1..=6 {
        let (mut child, _) = run_until_committing(round);
        // The first round is killed as soon as the commit begins, so that one kill lands
        // inside it however fast this machine commits next to the measured run (a loaded
        // machine measured a slow first commit, and six random points all fell after the
        // quicker ones ended); the others anywhere in it.
        let at = if round == 1 { 0 } else { rng.below(commit) };
        std::thread::sleep(std::time::Duration::from_micros(at));
        if child.try_wait().expect("try_wait").is_none() {
            killed_midway += 1;
        }
        // SIGKILL: no handler runs, as in a crash of the process.
        let _ = child.kill();
        let _ = child.wait();
        let why = format!("seed {seed}, round {round}, killed {at} us into a {commit} us commit");
        assert_every_object_whole(&p, &why);
    }
    assert!(
        killed_midway > 0,
        "no round killed pipe before it finished (seed {seed})"
    );
    // The next run completes what was cut, and everything in the cache checks.
    p.pipe(&["repro"]).ok();
    p.pipe(&["cache", "verify"]).ok();
    assert!(assert_every_object_whole(&p, "at the end") >= base + 3003);
    assert!(p.read("tree/f7").starts_with("6-7-"));
}

/// gc never deletes under a live process: while a run is in progress (what it stores may
/// be recorded by nothing yet) gc refuses, naming the process, and changes nothing; `--dry`
/// still shows what it would remove; once the run is over gc works.
#[test]
fn gc_refuses_while_another_pipe_process_uses_the_cache() {
    let p = two_stage();
    p.pipe(&["repro"]).ok();
    p.write("v.txt", "2");
    p.pipe(&["repro"]).ok();
    let objects = p.cache_objects();
    p.write(
        "pipe.toml",
        &format!(
            "{}\n[stage.slow]\ncmd = \"touch slow.started; while [ ! -e go ]; do sleep 0.05; done; echo s > s.txt\"\nouts = [\"s.txt\"]\n",
            p.read("pipe.toml")
        ),
    );
    let run = p.start_until(
        &["repro", "slow"],
        "stage slow to start",
        std::time::Duration::from_secs(60),
        || p.exists("slow.started"),
    );
    let r = p.pipe(&["gc", "-w"]).code(3);
    r.err_has("in use by pipe process")
        .err_has(&run.pid().to_string())
        .err_has("pipe gc --dry");
    assert_eq!(p.cache_objects(), objects, "gc removed nothing");
    p.pipe(&["gc", "-w", "--dry"]).ok().err_has("Would remove");
    p.write("go", "");
    run.finish().ok();
    p.pipe(&["gc", "-w"]).ok();
    assert!(p.cache_objects() < objects);
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
}
