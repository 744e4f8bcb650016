//! Issue 19's I/O fault injection: `repro`, `checkout` and `pull` (from a directory
//! remote) of a small pipeline, each with one syscall made to fail by `strace -e
//! inject=SYSCALL:error=ERR:when=N` (Debian's strace; without it these tests fail, saying
//! so), for write, fsync, rename, openat and copy_file_range x ENOSPC and EIO.
//!
//! Every injected run must end, on its own, with exactly one `error:` line and a non-zero
//! exit, or with none and exit 0 (the failure was one pipe may shrug off: a best-effort
//! cache of hashes, a registration it warns about); never a panic, a hang or a signal.
//! Then, without injection, the same command must converge: it succeeds, `pipe cache
//! verify` is clean, the outs hold what the stages make, `pipe status` says all is up to
//! date, and nothing is left anywhere in the workspace and its cache: no `.pipe-tmp-*`, no
//! backups, no temp journals, no file besides the pipeline's own.
//!
//! The cases (`CASES`): a syscall set, and the `when=N` values, chosen to land in pipe's
//! own I/O. Counters are per thread (strace keeps one per tracee):
//!
//! | syscalls | traced | N | lands on |
//! |---|---|---|---|
//! | `openat` | all threads and children (`-f`) | 12, 30, 60 | the workspace's and cache's files, after the loader's own opens; a stage's shell opens fewer |
//! | `copy_file_range` | `-f` | 1, 2 | a copy into the cache or out of it, or a stage's `cp` |
//! | `rename`, `renameat`, `renameat2` | `-f` | 1, 2, 4 | a temp put in place: the mark, the id, an object, a record, the lock, a checkout |
//! | `fsync`, `fdatasync` | `-f` | 1, 2, 3 | the flush before such a rename |
//! | `write` | the main thread only | three of its writes to files, found by a dry run | the mark, the id, the registration, the temp journal, a path lock, the lock journal |
//!
//! `write` is the exception: the async runtime wakes its threads by writing to an eventfd,
//! and a failed wake-up (which no disk can cause) panics or hangs the runtime itself. So
//! `write` is injected into the main thread only (`strace` without `-f`), at the indices of
//! its writes to real files, listed by a run of the same command on the same state traced
//! without injection (`-y` names each descriptor's file), up to its first write to
//! anything else (how many eventfd writes come after that depends on timing).
//!
//! Every injected run is traced with `-y` to a file, so a case also knows where its
//! failure landed: at least half of the cases must have made one (else the N values no
//! longer reach pipe's I/O and the table needs new ones).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Project, Run, bin};

const PIPELINE: &str = r#"[stage.gen]
cmd = "mkdir -p data && cp src.txt data/a && echo b > data/b"
deps = ["src.txt"]
outs = ["data"]

[stage.sum]
cmd = "cat data/a data/b > sum.txt"
deps = ["data"]
outs = ["sum.txt"]
"#;

/// What a workspace holds once a command converged, outside `.pipe/` (pull's config is
/// inside it).
const FILES: [&str; 6] = [
    "data/a",
    "data/b",
    "pipe.lock",
    "pipe.toml",
    "src.txt",
    "sum.txt",
];

/// (syscalls, follow threads and children, N values); `write`'s N are found per command.
const CASES: &[(&str, bool, &[u32])] = &[
    ("openat", true, &[12, 30, 60]),
    ("copy_file_range", true, &[1, 2]),
    ("rename,renameat,renameat2", true, &[1, 2, 4]),
    ("fsync,fdatasync", true, &[1, 2, 3]),
    ("write", false, &[]),
];

const ERRORS: [&str; 2] = ["ENOSPC", "EIO"];

/// The longest an injected run may take: far beyond the second it needs.
const LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
enum Cmd {
    Repro,
    Checkout,
    Pull,
}

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Cmd::Repro => "repro",
            Cmd::Checkout => "checkout",
            Cmd::Pull => "pull",
        }
    }
}

fn strace() -> PathBuf {
    ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .map(PathBuf::from)
        .find(|s| s.exists())
        .unwrap_or_else(|| {
            panic!("strace is not installed (apt-get install strace; scripts/setup.sh does): the fault-injection tests inject syscall failures with it")
        })
}

/// A directory remote holding what the pipeline makes (pushed from a workspace of its
/// own), and the lock that workspace wrote.
fn remote() -> (tempfile::TempDir, String) {
    let remote = tempfile::tempdir().expect("tmp");
    let p = Project::new()
        .file("pipe.toml", PIPELINE)
        .file("src.txt", "v1\n");
    let url = remote.path().display().to_string();
    p.pipe(&["remote", "add", "team", &url, "--default"]).ok();
    p.pipe(&["repro"]).ok();
    p.pipe(&["push"]).ok();
    (remote, p.read("pipe.lock"))
}

/// A workspace in the state `cmd` starts from: never run (repro); run, then its outs
/// deleted (checkout); a clone with the lock and the remote, nothing pulled yet (pull).
fn prepare(cmd: Cmd, (remote, lock): (&Path, &str)) -> Project {
    let p = Project::new()
        .file("pipe.toml", PIPELINE)
        .file("src.txt", "v1\n");
    match cmd {
        Cmd::Repro => {}
        Cmd::Checkout => {
            p.pipe(&["repro"]).ok();
            p.remove("data");
            p.remove("sum.txt");
        }
        Cmd::Pull => {
            p.write("pipe.lock", lock);
            p.write(
                ".pipe/config.toml",
                &format!(
                    "[core]\nremote = \"team\"\n\n[remote.team]\nurl = {:?}\n",
                    remote.display().to_string()
                ),
            );
        }
    }
    p
}

/// `pipe -q CMD` under strace with `expr` (`-f` with `follow`), tracing the syscalls of
/// `expr` to `trace` with file names (`-y`); killed (with the test failing) past `LIMIT`.
fn traced(p: &Project, cmd: Cmd, follow: bool, exprs: &[String], trace: &Path) -> Run {
    let mut c = Command::new(strace());
    c.arg("-qq").arg("-y").arg("-o").arg(trace);
    if follow {
        c.arg("-f");
    }
    for e in exprs {
        c.args(["-e", e]);
    }
    c.arg(bin())
        .args(["-q", cmd.name()])
        .current_dir(p.root())
        .env_remove("PIPE_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let child = c.spawn().expect("run strace");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = tx.send(());
        out
    });
    let started = Instant::now();
    if rx.recv_timeout(LIMIT).is_err() {
        // The whole group: strace and every process it traces.
        let _ = Command::new("kill")
            .args(["-KILL", &format!("-{pid}")])
            .status();
        let _ = waiter.join();
        panic!(
            "pipe {} under strace {exprs:?} hung ({:?}); trace in {}",
            cmd.name(),
            started.elapsed(),
            trace.display()
        );
    }
    Run::from(waiter.join().expect("waiter").expect("strace output"))
}

/// The 1-based indices of the main thread's writes to files in a run of `cmd` on a
/// workspace prepared as the injected run's is: those before its first write to anything
/// else (the runtime's eventfd, stderr), whose number depends on timing: up to there the
/// main thread's writes come in the same order every run.
fn file_writes(cmd: Cmd, remote: (&Path, &str), trace: &Path) -> Vec<u32> {
    let dry = prepare(cmd, remote);
    traced(&dry, cmd, false, &["trace=write".to_string()], trace).ok();
    let text = std::fs::read_to_string(trace).expect("trace");
    let to_file = |l: &&str| {
        l.strip_prefix("write(")
            .and_then(|r| r.split_once('<'))
            .is_some_and(|(_, r)| r.starts_with('/'))
    };
    let n = text
        .lines()
        .filter(|l| l.starts_with("write("))
        .take_while(to_file)
        .count();
    (1..=n as u32).collect()
}

/// Three of `v`: the first, one in the middle, the last.
fn spread(v: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = [0, v.len() / 2, v.len().saturating_sub(1)]
        .iter()
        .filter_map(|&i| v.get(i).copied())
        .collect();
    out.dedup();
    out
}

/// Every path under `dir` (relative, `/`-separated, directories with a trailing `/`).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).expect("under").display().to_string();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(format!("{rel}/"));
                walk(base, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The run with an injected failure ended as it must (see the module docs).
#[track_caller]
fn ended_cleanly(r: &Run, case: &str) {
    assert!(
        r.code != 101 && r.code < 128 && !r.stderr.contains("panicked"),
        "{case}: a panic or a signal\n{r}"
    );
    let errors = r.stderr.lines().filter(|l| l.starts_with("error")).count();
    if r.code == 0 {
        assert_eq!(errors, 0, "{case}: success with an error line\n{r}");
    } else {
        assert_eq!(errors, 1, "{case}: not exactly one error line\n{r}");
    }
}

/// Without injection, `cmd` converges (see the module docs).
#[track_caller]
fn converges(p: &Project, cmd: Cmd, case: &str) {
    let again = p.pipe(&[cmd.name()]);
    assert_eq!(
        again.code,
        0,
        "{case}: the next {} failed\n{again}",
        cmd.name()
    );
    let v = p.pipe(&["cache", "verify"]);
    assert_eq!(v.code, 0, "{case}: cache verify\n{v}");
    let st = p.pipe(&["status"]);
    assert_eq!(st.code, 0, "{case}: status\n{st}");
    st.out_has("Everything is up to date");
    assert_eq!(p.read("data/a"), "v1\n", "{case}");
    assert_eq!(p.read("data/b"), "b\n", "{case}");
    assert_eq!(p.read("sum.txt"), "v1\nb\n", "{case}");
    let all = tree(p.root());
    let outside: Vec<&String> = all
        .iter()
        .filter(|n| !n.starts_with(".pipe/") && !n.ends_with('/'))
        .collect();
    assert_eq!(outside, FILES, "{case}: files in the workspace");
    let left: Vec<&String> = all
        .iter()
        .filter(|n| {
            let name = n.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            name.starts_with(".pipe-tmp-")
                || name.starts_with("temps-")
                || (n.starts_with(".pipe/tmp/backup/") && n.len() > ".pipe/tmp/backup/".len())
        })
        .collect();
    assert!(left.is_empty(), "{case}: left behind: {left:?}");
}

/// Runs every case of the table for `cmd`.
fn inject_into(cmd: Cmd) {
    let (dir, lock) = remote();
    let remote = (dir.path(), lock.as_str());
    let traces = tempfile::tempdir().expect("tmp");
    let trace = traces.path().join("trace");
    let (mut cases, mut landed) = (0, 0);
    for &(syscalls, follow, ns) in CASES {
        let ns: Vec<u32> = if ns.is_empty() {
            let writes = file_writes(cmd, remote, &trace);
            assert!(
                writes.len() >= 3,
                "{}: the main thread writes {} file(s)",
                cmd.name(),
                writes.len()
            );
            spread(&writes)
        } else {
            ns.to_vec()
        };
        for err in ERRORS {
            for &n in &ns {
                let case = format!("{} with {syscalls}:error={err}:when={n}", cmd.name());
                let p = prepare(cmd, remote);
                let expr = format!("inject={syscalls}:error={err}:when={n}");
                let r = traced(&p, cmd, follow, &[expr], &trace);
                let text = std::fs::read_to_string(&trace).unwrap_or_default();
                cases += 1;
                if text.contains("(INJECTED)") {
                    landed += 1;
                }
                ended_cleanly(&r, &case);
                converges(&p, cmd, &case);
            }
        }
    }
    assert!(
        landed * 2 >= cases,
        "{}: only {landed} of {cases} injections reached a syscall: the N values of CASES no longer land in pipe's I/O",
        cmd.name()
    );
}

#[test]
fn faults_in_repro_end_in_one_error_and_converge() {
    inject_into(Cmd::Repro);
}

#[test]
fn faults_in_checkout_end_in_one_error_and_converge() {
    inject_into(Cmd::Checkout);
}

#[test]
fn faults_in_pull_end_in_one_error_and_converge() {
    inject_into(Cmd::Pull);
}
