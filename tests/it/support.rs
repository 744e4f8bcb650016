//! A fixture builder for integration tests: a temporary workspace, files, and runs of the
//! real `pipe` binary.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// This package's directory, as `cargo test` says when it runs the tests
/// (`CARGO_MANIFEST_DIR` at run time), else where they were built. With a target directory
/// shared by several clones (CI's), cargo reuses a test binary built in another clone, whose
/// compile-time path may be gone.
pub fn package_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// A stage's command that waits until the test creates `go` in the workspace: at most a
/// minute, so that the stage of a test that failed before letting it go ends by itself.
pub const WAIT_FOR_GO: &str = "for i in $(seq 1200); do [ -e go ] && break; sleep 0.05; done";

pub struct Project {
    dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// A finished process's exit code (128 + the signal that killed it) and output.
    pub fn from(o: Output) -> Run {
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: o
                .status
                .code()
                .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0)),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success\n{self}");
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "expected exit {code}\n{self}");
        self
    }

    #[track_caller]
    pub fn err_has(&self, s: &str) -> &Run {
        assert!(self.stderr.contains(s), "stderr lacks {s:?}\n{self}");
        self
    }

    #[track_caller]
    pub fn out_has(&self, s: &str) -> &Run {
        assert!(self.stdout.contains(s), "stdout lacks {s:?}\n{self}");
        self
    }

    /// The whole of stdout is `s`: nothing more, nothing less.
    #[track_caller]
    pub fn out_is(&self, s: &str) -> &Run {
        assert_eq!(self.stdout, s, "stdout differs\n{self}");
        self
    }

    #[track_caller]
    pub fn err_lacks(&self, s: &str) -> &Run {
        assert!(!self.stderr.contains(s), "stderr has {s:?}\n{self}");
        self
    }

    /// Stage ids that ran (`Running <id>:` lines).
    pub fn ran(&self) -> Vec<String> {
        self.verb_ids("Running")
    }

    /// Stage ids restored from the run cache.
    pub fn restored(&self) -> Vec<String> {
        self.verb_ids("Restored")
    }

    fn verb_ids(&self, verb: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .stderr
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(verb).map(str::trim))
            .filter_map(|rest| rest.split([':', ' ']).next().map(String::from))
            .collect();
        v.sort();
        v
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The `pipe` binary under test: this build's, or the one `PIPE_TEST_BIN` names (to check
/// that a test fails on an older build, e.g. one from before a defect was fixed).
pub fn bin() -> PathBuf {
    std::env::var_os("PIPE_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pipe")))
}

impl Project {
    /// Runs git in the project (a fixed identity, `main` as the first branch, this build's
    /// `pipe` first on PATH for the lock merge driver); fails the test if git fails.
    pub fn git(&self, args: &[&str]) {
        let o = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(["-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(self.root())
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin().parent().expect("dir").display(),
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
    }

    pub fn new() -> Project {
        Project {
            dir: tempfile::Builder::new()
                .prefix("pipe-it-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn file(self, path: &str, content: &str) -> Project {
        self.write(path, content);
        self
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, path: &str, content: &str) {
        let p = self.path(path);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        // Outs may be read-only hard links into the cache: replace, don't write through.
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, content).expect("write");
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.path(path).exists()
    }

    /// Waits (up to a minute, for busy CI machines) until a stage has written `path`.
    #[track_caller]
    pub fn wait_for(&self, path: &str) {
        wait_until(
            &format!("{path} to appear"),
            Duration::from_secs(60),
            || self.exists(path),
        );
    }

    /// Waits (up to a minute) until `path` holds a whole line, and returns that line: a
    /// stage's `echo $$ > f` creates the file before it writes to it, so a reader that only
    /// waited for the file can find it empty.
    #[track_caller]
    pub fn wait_for_line(&self, path: &str) -> String {
        let mut line = String::new();
        wait_until(
            &format!("a whole line in {path}"),
            Duration::from_secs(60),
            || match std::fs::read_to_string(self.path(path)) {
                Ok(text) if text.contains('\n') => {
                    line = text.lines().next().unwrap_or_default().to_string();
                    true
                }
                _ => false,
            },
        );
        line
    }

    /// Starts `pipe ARGS` in the background, its output kept for `Background::finish`, and
    /// returns once `ready` holds (`what` it waits for: the test fails after `limit`).
    #[track_caller]
    pub fn start_until(
        &self,
        args: &[&str],
        what: &str,
        limit: Duration,
        ready: impl FnMut() -> bool,
    ) -> Background {
        let bg = self.start(args);
        wait_until(what, limit, ready);
        bg
    }

    /// Starts `pipe ARGS` in the background (see `Background`).
    #[track_caller]
    pub fn start(&self, args: &[&str]) -> Background {
        Background::spawn(self.cmd(args))
    }

    /// Waits until the filesystem's clock has ticked past the mtime and ctime of `paths`:
    /// what is written from now on gets a later time, and the state db trusts what it
    /// records of them (it distrusts a file changed in the tick of its hashing). Polls a
    /// fresh file's mtime, on the same filesystem, rather than sleeping for a tick.
    #[track_caller]
    pub fn wait_for_clock_past(&self, paths: &[&str]) {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| s * 1_000_000_000 + n;
        let newest = paths
            .iter()
            .map(|p| {
                let m = std::fs::metadata(self.path(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
                ns(m.mtime(), m.mtime_nsec()).max(ns(m.ctime(), m.ctime_nsec()))
            })
            .max()
            .unwrap_or(i64::MIN);
        let parent = self.root().parent().expect("a temp dir has a parent");
        let mut probe = tempfile::NamedTempFile::new_in(parent).expect("clock probe");
        wait_until(
            "the filesystem's clock to tick",
            Duration::from_secs(60),
            || {
                probe.write_all(b"t").expect("write the clock probe");
                let m = probe.as_file().metadata().expect("stat the clock probe");
                ns(m.mtime(), m.mtime_nsec()) > newest
            },
        );
    }

    /// Live processes working in the project (their working directory is its root) other
    /// than `pipe` itself and its stage watcher: the commands of stages. Zombies have no
    /// working directory and do not count.
    pub fn stage_processes(&self) -> Vec<i32> {
        let root = std::fs::canonicalize(self.root()).expect("canonical root");
        let pipe = std::fs::canonicalize(bin()).expect("canonical pipe binary");
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let is = |link: &str, p: &Path| {
                std::fs::read_link(e.path().join(link)).is_ok_and(|l| l == p)
            };
            if is("cwd", &root) && !is("exe", &pipe) {
                found.push(pid);
            }
        }
        found
    }

    pub fn remove(&self, path: &str) {
        let p = self.path(path);
        if p.is_dir() {
            std::fs::remove_dir_all(p).expect("rm -r");
        } else {
            std::fs::remove_file(p).expect("rm");
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.root())
            .env_remove("PIPE_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    pub fn pipe(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().expect("run pipe"))
    }

    /// Object files in the local cache.
    pub fn cache_objects(&self) -> usize {
        count_files(&self.path(".pipe/cache/objects"))
    }
}

/// The three-stage pipeline of the freshness suite and the status, `repro --dry` and
/// error snapshots: a: a param (`train.lr`) and src/a.txt -> data/a.txt; b: data/a.txt and
/// a param (`train.epochs`) -> b.txt; c: src/c.txt -> c.txt (a chain of two, and one
/// stage on its own). Only `a` has a `desc`.
pub fn three_stages() -> Project {
    Project::new()
        .file("params.toml", "[train]\nlr = 0.001\nepochs = 3\n")
        .file("src/a.txt", "alpha\n")
        .file("src/c.txt", "gamma\n")
        .file(
            "pipe.toml",
            r#"[stage.a]
desc = "Prepares the data"
cmd = "mkdir -p data && cat src/a.txt > data/a.txt && echo lr=${train.lr} >> data/a.txt"
deps = ["src/a.txt"]
outs = ["data/a.txt"]

[stage.b]
cmd = "cat ${deps[0]} > ${outs[0]} && echo epochs=${train.epochs} >> ${outs[0]}"
deps = ["data/a.txt"]
outs = ["b.txt"]

[stage.c]
cmd = "cp src/c.txt c.txt"
deps = ["src/c.txt"]
outs = ["c.txt"]
"#,
        )
}

/// Polls `done` until it holds; fails the test, naming `what` it waited for, after `limit`.
#[track_caller]
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `pipe` started by `Project::start` or `Project::start_until`, still running. Its
/// stdout and stderr are read as they come, so a test can wait for a line (`wait_for_err`)
/// and a chatty process never blocks on a full pipe.
pub struct Background {
    child: Child,
    stdout: Drain,
    stderr: Drain,
}

/// One output stream of a `Background`, read into `buf` by a thread until end-of-file.
struct Drain {
    buf: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

impl Drain {
    fn new(mut from: impl Read + Send + 'static) -> Drain {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let to = buf.clone();
        let thread = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match from.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => to
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
        Drain { buf, thread }
    }

    fn so_far(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }

    fn finish(self) -> Vec<u8> {
        self.thread.join().expect("output reader");
        std::mem::take(&mut *self.buf.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Background {
    /// Starts `cmd` (a `Project::cmd`, with whatever env the test adds) in the background.
    #[track_caller]
    pub fn spawn(mut cmd: Command) -> Background {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let stdout = Drain::new(child.stdout.take().expect("piped stdout"));
        let stderr = Drain::new(child.stderr.take().expect("piped stderr"));
        Background {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits (up to a minute, for busy CI machines) until a line of its stderr holds
    /// `text` (`what` it waits for names the event in the failure message).
    #[track_caller]
    pub fn wait_for_err(&self, what: &str, text: &str) {
        let t = Instant::now();
        while !self.stderr.so_far().lines().any(|l| l.contains(text)) {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what} ({text:?} on stderr); stderr so far:\n{}",
                self.stderr.so_far()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` to the process (SIGINT: as Ctrl-C would).
    pub fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32)
            .expect("a child's pid is positive");
        rustix::process::kill_process(pid, sig).expect("signal pipe");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for it to exit: its exit code and output.
    pub fn finish(mut self) -> Run {
        let status = self.child.wait().expect("wait for pipe");
        Run::from(Output {
            status,
            stdout: self.stdout.finish(),
            stderr: self.stderr.finish(),
        })
    }
}

pub fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}
