//! Remotes, against a directory and a real S3 server (moto, on 127.0.0.1 only).
//!
//! One table of round-trip cases (`round_trips!` at the bottom) runs against both backends;
//! then the errors (bad credentials, a dead endpoint, a wrong bucket, a missing directory),
//! an interrupted push, concurrent writers of one directory remote, and the config commands.
//!
//! The S3 server is `PIPE_TEST_S3_ENDPOINT` when set (scripts/test.sh starts one); else one
//! started here from `.venv/bin/moto_server` or `moto_server` on PATH, on a free loopback
//! port, killed when the test binary exits. With neither, the S3 tests fail saying so: they
//! are never skipped silently. The bad-credentials test needs a server that checks
//! credentials: `PIPE_TEST_S3_AUTH_ENDPOINT`, else a second moto started here with
//! `INITIAL_NO_AUTH_ACTION_COUNT=0`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Project, Run, count_files};

// ---------------------------------------------------------------------------------------
// The S3 server

fn moto_binary() -> Option<PathBuf> {
    let local = crate::support::package_dir().join(".venv/bin/moto_server");
    if local.is_file() {
        return Some(local);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("moto_server"))
        .find(|c| c.is_file())
}

/// Starts moto on a free loopback port; returns its endpoint once it answers.
fn start_moto(check_credentials: bool) -> String {
    let Some(bin) = moto_binary() else {
        panic!(
            "no S3 server for the remote tests: set PIPE_TEST_S3_ENDPOINT, or install \
             moto[server] (scripts/setup.sh puts it in .venv; or put moto_server on PATH)"
        );
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port");
    let (tx, rx) = std::sync::mpsc::channel();
    // The server's parent is a thread that lives as long as the test binary: it waits on
    // the child, and the child is told to die with it (PR_SET_PDEATHSIG, set by util-linux's
    // `setpriv` before it execs the server: no pre_exec hook, no unsafe code).
    std::thread::spawn(move || {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "TERM", "--"])
            .arg(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if check_credentials {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(()));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = tx.send(Err(format!(
                    "cannot start {} through setpriv (util-linux): {e}",
                    bin.display()
                )));
            }
        }
    });
    if let Ok(Err(e)) = rx.recv() {
        panic!("{e}");
    }
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http(&endpoint, "GET", "/", b"").is_some() {
            return endpoint;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto_server did not answer on {endpoint} within 30 s");
}

pub(crate) fn s3_endpoint() -> &'static str {
    static S3: OnceLock<String> = OnceLock::new();
    S3.get_or_init(|| match std::env::var("PIPE_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => {
            assert!(
                pipe_cache_is_loopback(&e),
                "PIPE_TEST_S3_ENDPOINT must be a loopback address, not {e}"
            );
            e
        }
        _ => start_moto(false),
    })
}

fn s3_auth_endpoint() -> &'static str {
    static S3: OnceLock<String> = OnceLock::new();
    S3.get_or_init(|| match std::env::var("PIPE_TEST_S3_AUTH_ENDPOINT") {
        Ok(e) if !e.is_empty() => {
            assert!(pipe_cache_is_loopback(&e), "loopback only, not {e}");
            e
        }
        _ => start_moto(true),
    })
}

fn pipe_cache_is_loopback(e: &str) -> bool {
    ["http://127.", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|p| e.starts_with(p))
}

/// One plain HTTP/1.1 request (moto without auth takes unsigned requests); the status.
fn http(endpoint: &str, method: &str, path: &str, body: &[u8]) -> Option<u16> {
    http_with(endpoint, method, path, body, "")
}

/// Deletes `key` (`/bucket/key`) on the moto server without auth checks: moto refuses an
/// anonymous DELETE, but takes any signature.
pub(crate) fn s3_delete(endpoint: &str, key: &str) -> Option<u16> {
    let auth = "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n";
    http_with(endpoint, "DELETE", key, b"", auth)
}

fn http_with(endpoint: &str, method: &str, path: &str, body: &[u8], headers: &str) -> Option<u16> {
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp);
    text.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) fn new_bucket(endpoint: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "pipe-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    assert_eq!(
        http(endpoint, "PUT", &format!("/{name}"), b""),
        Some(200),
        "create bucket {name} on {endpoint}"
    );
    name
}

// ---------------------------------------------------------------------------------------
// Running pipe with a clean AWS environment

/// Runs `pipe` with no AWS_* variables, profiles or metadata service from the developer's
/// environment: only what the test configures.
pub(crate) fn pipe_clean(p: &Project, args: &[&str]) -> Run {
    pipe_with(p, args, &[])
}

fn clean_cmd(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = p.cmd(args);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("AWS_")) {
            c.env_remove(k);
        }
    }
    c.env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/pipe-test-aws")
        .env("AWS_CONFIG_FILE", "/nonexistent/pipe-test-aws")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

pub(crate) fn pipe_with(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    to_run(clean_cmd(p, args, env).output().expect("run pipe"))
}

fn to_run(o: std::process::Output) -> Run {
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

// ---------------------------------------------------------------------------------------
// Remotes and workspaces

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Dir,
    S3,
}

pub(crate) struct Remote {
    backend: Backend,
    url: String,
    endpoint: Option<String>,
    dir: Option<tempfile::TempDir>,
}

impl Remote {
    pub(crate) fn new(backend: Backend) -> Remote {
        match backend {
            Backend::Dir => {
                let dir = tempfile::Builder::new()
                    .prefix("pipe-remote-")
                    .tempdir()
                    .expect("tmp");
                Remote {
                    backend,
                    url: dir.path().display().to_string(),
                    endpoint: None,
                    dir: Some(dir),
                }
            }
            Backend::S3 => {
                let endpoint = s3_endpoint().to_string();
                let bucket = new_bucket(&endpoint);
                Remote {
                    backend,
                    url: format!("s3://{bucket}/team/cache"),
                    endpoint: Some(endpoint),
                    dir: None,
                }
            }
        }
    }

    /// Makes this the default remote `team` of `p`: committed config through `pipe remote
    /// add`, test credentials in the git-ignored local config.
    pub(crate) fn configure(&self, p: &Project) {
        let mut args = vec!["remote", "add", "team", self.url.as_str(), "--default"];
        let ep;
        if let Some(e) = &self.endpoint {
            ep = format!("endpoint={e}");
            args.extend(["-o", ep.as_str()]);
        }
        pipe_clean(p, &args).ok();
        if self.backend == Backend::S3 {
            p.write(
                ".pipe/config.local.toml",
                "[remote.team]\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\n",
            );
        }
    }

    /// Replaces an object's bytes on the remote.
    fn corrupt(&self, digest: &str, body: &[u8]) {
        let rel = format!("objects/{}/{}", &digest[..2], &digest[2..]);
        match self.backend {
            Backend::Dir => {
                let p = self.dir.as_ref().expect("dir").path().join(&rel);
                assert!(p.is_file(), "{} is on the remote", p.display());
                std::fs::remove_file(&p).expect("rm");
                std::fs::write(&p, body).expect("write");
            }
            Backend::S3 => {
                // Through the object-store client (a signed PUT, as a teammate's broken
                // tool would do it): moto refuses anonymous overwrites.
                use pipe_cache::remote::{Credentials, Kind, RemoteSpec, cloud::CloudRemote};
                let mut spec = RemoteSpec::new("t", &self.url, Path::new("/")).expect("spec");
                spec.endpoint = self.endpoint.clone();
                spec.credentials = Some(Credentials {
                    access_key_id: "testing".into(),
                    secret_access_key: "testing".into(),
                    session_token: None,
                });
                let c = CloudRemote::open(&spec, 1).expect("client");
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let d = digest.parse().expect("digest");
                rt.block_on(c.put_bytes(Kind::Object, &d, bytes::Bytes::from(body.to_vec())))
                    .expect("overwrite the object");
            }
        }
    }
}

const PIPELINE: &str = r#"[stage.prepare]
cmd = "mkdir -p data/sub && cp raw.txt data/a.txt && seq 1 2000 > data/sub/b.txt && printf '#!/bin/sh\necho hi\n' > data/run.sh && chmod +x data/run.sh"
deps = ["raw.txt"]
outs = ["data"]

[stage.train]
cmd = "cat data/a.txt data/sub/b.txt $PIPE_PARAMS > ${outs[0]}"
deps = ["data"]
params = ["train"]
outs = ["model.txt"]

[stage.report]
cmd = "wc -l model.txt > report.txt"
deps = ["model.txt"]
outs = ["report.txt"]

[sweep.lr]
stages = ["train"]
matrix = { "train.lr" = [0.2, 0.3] }
"#;

const CELLS: [&str; 2] = ["train@lr=0.2", "train@lr=0.3"];

/// A workspace that has run everything, sweep cells included, with `remote` as `team`.
fn built(remote: &Remote) -> Project {
    let p = Project::new()
        .file("raw.txt", "raw data\n")
        .file("params.toml", "[train]\nlr = 0.1\n")
        .file("pipe.toml", PIPELINE);
    pipe_clean(&p, &["repro"]).ok();
    let mut args = vec!["repro"];
    args.extend(CELLS);
    pipe_clean(&p, &args).ok();
    remote.configure(&p);
    p
}

/// What a teammate has after `git clone`: the committed files and their local config.
fn clone_of(p: &Project) -> Project {
    let q = Project::new();
    for f in [
        "raw.txt",
        "params.toml",
        "pipe.toml",
        "pipe.lock",
        ".pipe/config.toml",
        ".pipe/config.local.toml",
    ] {
        if p.exists(f) {
            q.write(f, &p.read(f));
        }
    }
    q
}

fn digest_of(p: &Project, path: &str) -> String {
    let lock = p.read("pipe.lock");
    let (quoted, bare) = (format!("outs.\"{path}\" ="), format!("outs.{path} ="));
    let line = lock
        .lines()
        .find(|l| l.starts_with(&quoted) || l.starts_with(&bare))
        .unwrap_or_else(|| panic!("no {path} in the lock:\n{lock}"));
    let at = line.find("digest").expect("digest");
    line[at..]
        .split('"')
        .find(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no digest in {line}"))
        .to_string()
}

fn bytes(p: &Project, path: &str) -> Vec<u8> {
    std::fs::read(p.path(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn assert_same_outs(a: &Project, b: &Project) {
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "data/a.txt",
        "data/sub/b.txt",
        "data/run.sh",
        "model.txt",
        "report.txt",
    ] {
        assert_eq!(bytes(a, f), bytes(b, f), "{f} is byte-identical");
    }
    let mode = std::fs::metadata(b.path("data/run.sh"))
        .expect("stat")
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, "the exec bit survives the round trip");
}

// ---------------------------------------------------------------------------------------
// The round-trip cases, run against every backend

fn push_then_pull_in_a_fresh_clone(b: Backend) {
    let remote = Remote::new(b);
    let p = built(&remote);
    let r = pipe_clean(&p, &["push"]).ok();
    r.err_has("Pushed").err_has("0 already there");
    let again = pipe_clean(&p, &["push"]).ok();
    again.err_has("Pushed 0 object(s)");
    let q = clone_of(&p);
    let r = pipe_clean(&q, &["pull"]).ok();
    r.err_has("Fetched").err_has("Restored data");
    assert_same_outs(&p, &q);
    for c in CELLS {
        let cell = c.split('@').nth(1).expect("cell");
        let f = format!("sweeps/lr/{cell}/model.txt");
        assert_eq!(bytes(&p, &f), bytes(&q, &f), "{f}");
    }
    pipe_clean(&q, &["status"])
        .ok()
        .out_has("Everything is up to date");
    pipe_clean(&q, &["cache", "verify"]).ok();
}

fn repro_pull_runs_nothing_a_teammate_pushed(b: Backend) {
    let remote = Remote::new(b);
    let p = built(&remote);
    pipe_clean(&p, &["push"]).ok();
    // Without the lock: only the run cache on the remote can say what the outs are.
    let q = clone_of(&p);
    std::fs::remove_file(q.path("pipe.lock")).expect("rm lock");
    let mut args = vec!["repro", "--pull", "prepare", "train", "report"];
    args.extend(CELLS);
    let r = pipe_clean(&q, &args).ok();
    assert!(r.ran().is_empty(), "nothing runs\n{r}");
    let mut want = vec!["prepare", "report", "train"];
    want.extend(CELLS);
    want.sort();
    assert_eq!(r.restored(), want, "{r}");
    r.err_has("Pulled");
    assert_same_outs(&p, &q);
    // The pulled objects and records are local now: a plain repro has nothing to do.
    let again = pipe_clean(&q, &args).ok();
    assert!(
        again.ran().is_empty() && again.restored().is_empty(),
        "{again}"
    );
}

fn sweep_pull_restores_a_teammates_cells(b: Backend) {
    let remote = Remote::new(b);
    let p = built(&remote);
    pipe_clean(&p, &["push"]).ok();
    let q = clone_of(&p);
    std::fs::remove_file(q.path("pipe.lock")).expect("rm lock");
    let r = pipe_clean(&q, &["sweep", "lr", "--pull"]).ok();
    assert!(r.ran().is_empty(), "nothing runs\n{r}");
    let mut want = vec!["prepare"];
    want.extend(CELLS);
    assert_eq!(r.restored(), want, "{r}");
    for cell in ["lr=0.2", "lr=0.3"] {
        let f = format!("sweeps/lr/{cell}/model.txt");
        assert_eq!(bytes(&p, &f), bytes(&q, &f), "{f}");
        r.out_has(cell);
    }
    // Without --pull a fresh clone has to run the cells itself.
    let fresh = clone_of(&p);
    std::fs::remove_file(fresh.path("pipe.lock")).expect("rm lock");
    let ran = pipe_clean(&fresh, &["sweep", "lr"]).ok();
    assert_eq!(ran.ran().len(), 3, "{ran}");
}

fn fetch_fills_only_the_cache(b: Backend) {
    let remote = Remote::new(b);
    let p = built(&remote);
    pipe_clean(&p, &["push", "prepare"]).ok();
    let q = clone_of(&p);
    let r = pipe_clean(&q, &["fetch", "prepare"]).ok();
    r.err_has("Fetched 4 object(s)");
    assert!(!q.exists("data"), "fetch checks nothing out");
    pipe_clean(&q, &["checkout", "prepare"]).ok();
    assert_eq!(bytes(&p, "data/sub/b.txt"), bytes(&q, "data/sub/b.txt"));
    // What was never pushed is reported by path, and the command fails.
    let r = pipe_clean(&q, &["fetch", "train"]).code(3);
    r.err_has("model.txt: not on remote `team`");
}

fn a_second_push_sends_only_what_is_missing(b: Backend) {
    let remote = Remote::new(b);
    let p = built(&remote);
    // A first push that got only part of the way (as an interrupted one would).
    pipe_clean(&p, &["push", "prepare"])
        .ok()
        .err_has("Pushed 4 object(s)");
    let r = pipe_clean(&p, &["push"]).ok();
    // model.txt, report.txt and the two cells' models; the prepare objects are there.
    r.err_has("Pushed 4 object(s)")
        .err_has("4 already there")
        .err_has("4 run-cache record(s)");
    pipe_clean(&p, &["cache", "verify", "--remote"])
        .ok()
        .err_has("Verified 8 object(s) in remote `team`: 0 corrupt, 0 missing");
}

fn a_push_sends_what_the_local_cache_holds_and_names_the_rest(b: Backend) {
    let remote = Remote::new(b);
    let p = built(&remote);
    // One file of the `data` directory and the whole of report.txt gone from the local cache.
    let lose = |d: &str| p.remove(&format!(".pipe/cache/objects/{}/{}", &d[..2], &d[2..]));
    lose(&pipe_cache::Digest::of_bytes(&bytes(&p, "data/sub/b.txt")).to_hex());
    lose(&digest_of(&p, "report.txt"));
    let r = pipe_clean(&p, &["push"]).ok();
    // data's two other files and the three models; not data's manifest, which names the
    // lost file, so no manifest on the remote names a file that is not there.
    r.err_has("data: not (wholly) in the local cache, not pushed")
        .err_has("report.txt: not (wholly) in the local cache, not pushed")
        .err_has("Pushed 5 object(s)")
        .err_has("0 already there");
    let q = clone_of(&p);
    let pulled = pipe_clean(&q, &["pull"]);
    assert!(
        !q.exists("data/a.txt"),
        "a directory comes whole or not at all\n{pulled}"
    );
    assert_eq!(q.read("model.txt"), p.read("model.txt"));
}

fn a_corrupt_remote_object_never_enters_the_cache(b: Backend) {
    let remote = Remote::new(b);
    let p = built(&remote);
    pipe_clean(&p, &["push"]).ok();
    let d = digest_of(&p, "model.txt");
    remote.corrupt(&d, b"not the model\n");
    let v = pipe_clean(&p, &["cache", "verify", "--remote"]).code(3);
    v.err_has("Corrupt").err_has(&d).err_has("(model.txt)");
    let q = clone_of(&p);
    let r = pipe_clean(&q, &["pull"]).code(3);
    r.err_has(&format!("object {d} from remote `team` is corrupt"))
        .err_has("it was not stored in the local cache");
    let obj = q.path(&format!(".pipe/cache/objects/{}/{}", &d[..2], &d[2..]));
    assert!(!obj.exists(), "nothing corrupt in the cache");
    assert!(!q.exists("model.txt"), "no out from a corrupt object");
    // Everything else arrived and was checked out.
    assert_eq!(bytes(&p, "data/a.txt"), bytes(&q, "data/a.txt"));
    assert_eq!(bytes(&p, "report.txt"), bytes(&q, "report.txt"));
    let tmp = q.path(".pipe/cache/tmp");
    assert_eq!(count_files(&tmp), 0, "no temp files left behind");
    // The stage that cannot be restored from the remote runs instead, and the clone
    // verifies clean.
    let r = pipe_clean(&q, &["repro", "--pull"]).ok();
    assert_eq!(r.ran(), ["train"], "{r}");
    pipe_clean(&q, &["cache", "verify"]).ok();
}

fn status_says_where_each_out_is(b: Backend) {
    let remote = Remote::new(b);
    let p = built(&remote);
    let s = pipe_clean(&p, &["status", "--remote", "prepare", "train"]).ok();
    s.out_has("local only   data")
        .out_has("local only   model.txt");
    pipe_clean(&p, &["push", "prepare"]).ok();
    let s = pipe_clean(&p, &["status", "--remote=team", "prepare", "train"]).ok();
    s.out_has("both         data")
        .out_has("local only   model.txt");
    let q = clone_of(&p);
    let s = pipe_clean(&q, &["status", "--remote", "prepare", "train"]).ok();
    s.out_has("remote only  data")
        .out_has("missing      model.txt")
        .out_has("1 remote only, 1 missing on both");
    let j = pipe_clean(&q, &["status", "--remote", "--json", "prepare", "train"]).ok();
    j.out_has("\"where\": \"remote_only\"");
}

/// 40 MB: a multipart upload on S3 (8 MiB parts), a kernel copy then a mapped hash on a
/// directory remote.
fn a_large_object_streams_through(b: Backend) {
    let remote = Remote::new(b);
    let p = Project::new().file(
        "pipe.toml",
        "[stage.big]\ncmd = \"head -c 40000000 /dev/urandom > big.bin\"\nouts = [\"big.bin\"]\n",
    );
    pipe_clean(&p, &["repro"]).ok();
    remote.configure(&p);
    pipe_clean(&p, &["push"])
        .ok()
        .err_has("Pushed 1 object(s), 40.0 MB");
    let q = clone_of(&p);
    pipe_clean(&q, &["pull"]).ok().err_has("Restored big.bin");
    assert!(
        bytes(&p, "big.bin") == bytes(&q, "big.bin"),
        "byte-identical"
    );
    pipe_clean(&q, &["cache", "verify", "--remote"]).ok();
}

/// Enough objects to touch most fan-out prefixes: the remote is asked by listing ranges.
fn many_objects_are_found_by_listing(b: Backend) {
    let remote = Remote::new(b);
    let p = tree_project(300, "m");
    pipe_clean(&p, &["repro"]).ok();
    remote.configure(&p);
    pipe_clean(&p, &["push"])
        .ok()
        .err_has("Pushed 301 object(s)")
        .err_has("0 already there");
    pipe_clean(&p, &["push"])
        .ok()
        .err_has("Pushed 0 object(s), 0 B to `team`; 301 already there");
    let q = clone_of(&p);
    pipe_clean(&q, &["status", "--remote"])
        .ok()
        .out_has("remote only  tree");
}

macro_rules! round_trips {
    ($($case:ident),* $(,)?) => {
        mod dir {
            $( #[test] fn $case() { super::$case(super::Backend::Dir) } )*
        }
        mod s3 {
            $( #[test] fn $case() { super::$case(super::Backend::S3) } )*
        }
    };
}

round_trips!(
    push_then_pull_in_a_fresh_clone,
    repro_pull_runs_nothing_a_teammate_pushed,
    sweep_pull_restores_a_teammates_cells,
    fetch_fills_only_the_cache,
    a_second_push_sends_only_what_is_missing,
    a_push_sends_what_the_local_cache_holds_and_names_the_rest,
    a_corrupt_remote_object_never_enters_the_cache,
    status_says_where_each_out_is,
    a_large_object_streams_through,
    many_objects_are_found_by_listing,
);

// ---------------------------------------------------------------------------------------
// Errors: one clear sentence each, exit 3

fn single_error(r: &Run) -> &str {
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line\n{r}");
    assert!(
        !r.stderr.contains("Generic") && !r.stderr.contains("panicked"),
        "no noise\n{r}"
    );
    errors[0]
}

fn one_stage() -> Project {
    Project::new().file(
        "pipe.toml",
        "[stage.s]\ncmd = \"echo data > out.txt\"\nouts = [\"out.txt\"]\n",
    )
}

#[test]
fn bad_credentials_are_one_clear_error() {
    let endpoint = s3_auth_endpoint();
    let p = one_stage();
    pipe_clean(&p, &["repro"]).ok();
    pipe_clean(
        &p,
        &[
            "remote",
            "add",
            "team",
            "s3://any-bucket",
            "-d",
            "-o",
            &format!("endpoint={endpoint}"),
        ],
    )
    .ok();
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIANOTAREALKEY00000"),
        ("AWS_SECRET_ACCESS_KEY", "not-a-real-secret-value"),
    ];
    let r = pipe_with(&p, &["push"], &env).code(3);
    let e = single_error(&r);
    assert!(e.contains("remote `team` refused the credentials"), "{r}");
    assert!(e.contains("InvalidAccessKeyId"), "{r}");
    assert!(
        !r.stderr.contains("not-a-real-secret-value"),
        "never a secret in the output"
    );
    // No credentials at all for a non-AWS endpoint: a configuration error, no network.
    let r = pipe_clean(&p, &["push"]).code(2);
    assert!(single_error(&r).contains("no credentials found"), "{r}");
}

#[test]
fn a_dead_endpoint_is_one_clear_error_after_retries() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let p = one_stage();
    pipe_clean(&p, &["repro"]).ok();
    let ep = format!("endpoint=http://127.0.0.1:{port}");
    pipe_clean(&p, &["remote", "add", "team", "s3://b", "-d", "-o", &ep]).ok();
    p.write(
        ".pipe/config.local.toml",
        "[remote.team]\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\n",
    );
    let started = Instant::now();
    let r = pipe_clean(&p, &["push"]).code(3);
    let e = single_error(&r);
    assert!(e.contains("cannot be reached at http://127.0.0.1:"), "{r}");
    assert!(e.contains("gave up after 4 attempts"), "{r}");
    // Four refused connections and the backoff between them (0.2 + 0.4 + 0.8 s at most)
    // take under 2 s; 20 s leaves room for a loaded machine, and is still less than four
    // attempts that each waited out the 5 s connect timeout.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "fails promptly"
    );
    // During `repro --pull` a dead remote is a warning; the stage runs.
    p.remove("out.txt");
    std::fs::remove_dir_all(p.path(".pipe/cache")).expect("rm cache");
    std::fs::remove_file(p.path("pipe.lock")).expect("rm lock");
    let r = pipe_clean(&p, &["repro", "--pull"]).ok();
    r.err_has("warning: remote `team` cannot be reached")
        .err_has("not using remote `team` for the rest of this run");
    assert_eq!(r.ran(), ["s"]);
}

#[test]
fn a_wrong_bucket_is_one_clear_error() {
    let endpoint = s3_endpoint();
    let p = one_stage();
    pipe_clean(&p, &["repro"]).ok();
    let ep = format!("endpoint={endpoint}");
    pipe_clean(
        &p,
        &[
            "remote",
            "add",
            "team",
            "s3://no-such-bucket/x",
            "-d",
            "-o",
            &ep,
        ],
    )
    .ok();
    p.write(
        ".pipe/config.local.toml",
        "[remote.team]\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\n",
    );
    let r = pipe_clean(&p, &["push"]).code(3);
    assert!(
        single_error(&r).contains("bucket `no-such-bucket` does not exist"),
        "{r}"
    );
}

#[test]
fn a_missing_directory_remote_is_an_error_not_created() {
    let gone = tempfile::tempdir().expect("tmp");
    let where_ = gone.path().join("not-mounted");
    let p = one_stage();
    pipe_clean(&p, &["repro"]).ok();
    pipe_clean(
        &p,
        &[
            "remote",
            "add",
            "nfs",
            where_.to_str().expect("utf-8"),
            "-d",
        ],
    )
    .ok();
    let r = pipe_clean(&p, &["push"]).code(3);
    assert!(single_error(&r).contains("does not exist"), "{r}");
    assert!(!where_.exists());
}

// ---------------------------------------------------------------------------------------
// Interruption and concurrency

/// A workspace whose one stage writes `n` files of a few KB each under `tree/`.
fn tree_project(n: usize, salt: &str) -> Project {
    Project::new().file(
        "pipe.toml",
        &format!(
            "[stage.t]\ncmd = \"mkdir -p tree && for i in $(seq 1 {n}); do head -c 4000 /dev/zero > tree/f$i; echo $i-{salt} >> tree/f$i; done\"\nouts = [\"tree\"]\n"
        ),
    )
}

#[test]
fn a_killed_push_leaves_only_whole_objects_and_resumes() {
    let remote = Remote::new(Backend::Dir);
    let p = tree_project(2000, "k");
    pipe_clean(&p, &["repro"]).ok();
    remote.configure(&p);
    // Kill the push while it copies: whatever it had placed is whole.
    let mut child = clean_cmd(&p, &["push", "-j", "2"], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let root = remote.dir.as_ref().expect("dir").path().to_path_buf();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count_files(&root.join("tmp")) < 20 && Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let midway = count_files(&root.join("tmp")) >= 20;
    let _ = child.kill();
    let _ = child.wait();
    assert!(midway, "the push was killed while copying");
    // Objects not sent yet are missing; none that is there may be corrupt.
    let v = pipe_clean(&p, &["cache", "verify", "--remote"]);
    v.err_has(" 0 corrupt");
    assert!(v.code == 0 || v.code == 3, "{v}");
    let r = pipe_clean(&p, &["push"]).ok();
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("Pushed"))
        .expect("a Pushed line")
        .to_string();
    let num = |after: &str| -> usize {
        let words: Vec<&str> = line.split_whitespace().collect();
        let i = words
            .iter()
            .position(|w| w.starts_with(after))
            .expect("word");
        words[i - 1].parse().expect("number")
    };
    // The tree's 2000 files and its manifest, between the two pushes.
    assert_eq!(num("object(s),") + num("already"), 2001, "{line}");
    pipe_clean(&p, &["push"]).ok().err_has("Pushed 0 object(s)");
    pipe_clean(&p, &["cache", "verify", "--remote"]).ok();
}

#[test]
fn two_concurrent_pushes_to_one_directory_remote_stay_consistent() {
    let remote = Remote::new(Backend::Dir);
    // Two teammates whose trees share half their files.
    let a = tree_project(300, "");
    let b = Project::new().file(
        "pipe.toml",
        "[stage.t]\ncmd = \"mkdir -p tree && for i in $(seq 1 300); do head -c 4000 /dev/zero > tree/f$i; if [ $i -le 150 ]; then echo $i- >> tree/f$i; else echo $i-b >> tree/f$i; fi; done\"\nouts = [\"tree\"]\n",
    );
    for p in [&a, &b] {
        pipe_clean(p, &["repro"]).ok();
        remote.configure(p);
    }
    let ca = clean_cmd(&a, &["push"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let cb = clean_cmd(&b, &["push"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    to_run(ca.wait_with_output().expect("wait")).ok();
    to_run(cb.wait_with_output().expect("wait")).ok();
    let root = remote.dir.as_ref().expect("dir").path();
    // 150 shared + 150 + 150 own files, two manifests.
    assert_eq!(count_files(&root.join("objects")), 452);
    assert_eq!(count_files(&root.join("tmp")), 0, "no temp files left");
    pipe_clean(&a, &["cache", "verify", "--remote"]).ok();
    for p in [&a, &b] {
        let q = clone_of(p);
        pipe_clean(&q, &["pull"]).ok();
        for i in [1, 150, 151, 300] {
            let f = format!("tree/f{i}");
            assert_eq!(bytes(p, &f), bytes(&q, &f), "{f}");
        }
    }
}

#[test]
fn a_group_shared_directory_remote_is_group_writable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let p = one_stage();
    pipe_clean(&p, &["repro"]).ok();
    let url = dir.path().to_str().expect("utf-8");
    pipe_clean(
        &p,
        &["remote", "add", "nfs", url, "-d", "-o", "shared=group"],
    )
    .ok();
    pipe_clean(&p, &["push"]).ok();
    let fan = std::fs::read_dir(dir.path().join("objects"))
        .expect("objects")
        .flatten()
        .next()
        .expect("a fan-out dir")
        .path();
    let mode = std::fs::metadata(&fan).expect("stat").permissions().mode();
    assert_eq!(mode & 0o2070, 0o2070, "setgid, group rwx: {mode:o}");
}

// ---------------------------------------------------------------------------------------
// Configuration and local verification

#[test]
fn remote_commands_edit_the_config_and_keep_secrets_local() {
    let p = one_stage().file(
        ".pipe/config.toml",
        "# team settings\n[cache]\nlink = [\"copy\"]  # keep this comment\n",
    );
    pipe_clean(
        &p,
        &[
            "remote",
            "add",
            "team",
            "s3://bkt/pfx",
            "-d",
            "-o",
            "endpoint=http://127.0.0.1:9",
            "-o",
            "region=eu-west-1",
        ],
    )
    .ok();
    let cfg = p.read(".pipe/config.toml");
    assert!(cfg.contains("# keep this comment") && cfg.contains("# team settings"));
    assert!(
        cfg.contains("[remote.team]") && cfg.contains("remote = \"team\""),
        "{cfg}"
    );
    pipe_clean(&p, &["remote", "add", "nfs", "/mnt/pipe"]).ok();
    // Secrets only in the git-ignored file.
    let r = pipe_clean(
        &p,
        &[
            "remote",
            "add",
            "x",
            "s3://b",
            "-o",
            "secret_access_key=hush",
        ],
    )
    .code(2);
    r.err_has("config.local.toml");
    assert!(!p.read(".pipe/config.toml").contains("hush"));
    pipe_clean(
        &p,
        &[
            "remote",
            "add",
            "team",
            "s3://bkt/pfx",
            "--local",
            "-o",
            "access_key_id=AKIDLOCAL",
            "-o",
            "secret_access_key=hush",
        ],
    )
    .ok();
    assert!(p.read(".pipe/config.local.toml").contains("hush"));
    let l = pipe_clean(&p, &["remote", "list"]).ok();
    l.out_has("team (default)")
        .out_has("s3://bkt/pfx")
        .out_has("region=eu-west-1")
        .out_has("credentials=config.local.toml")
        .out_has("/mnt/pipe");
    assert!(!l.stdout.contains("hush") && !l.stdout.contains("AKIDLOCAL"));
    // Duplicates, bad names, bad urls and unknown settings are refused.
    pipe_clean(&p, &["remote", "add", "nfs", "/other"])
        .code(2)
        .err_has("already exists");
    pipe_clean(&p, &["remote", "add", "a b", "/x"]).code(2);
    pipe_clean(&p, &["remote", "add", "h", "http://host/x"])
        .code(2)
        .err_has("unsupported scheme");
    pipe_clean(&p, &["remote", "add", "h", "/x", "-o", "colour=blue"])
        .code(2)
        .err_has("unknown remote setting");
    pipe_clean(&p, &["remote", "default", "nfs"]).ok();
    pipe_clean(&p, &["remote", "list"])
        .ok()
        .out_has("nfs (default)");
    pipe_clean(&p, &["remote", "remove", "nfs"])
        .ok()
        .err_has("was the default remote");
    let cfg = p.read(".pipe/config.toml");
    assert!(
        !cfg.contains("nfs") && cfg.contains("# keep this comment"),
        "{cfg}"
    );
    pipe_clean(&p, &["push"])
        .code(2)
        .err_has("no default remote");
    pipe_clean(&p, &["remote", "remove", "nope"]).code(2);
}

#[test]
fn cache_verify_reports_a_corrupt_local_object() {
    let p = one_stage().file(".pipe/config.toml", "[cache]\nlink = [\"copy\"]\n");
    pipe_clean(&p, &["repro"]).ok();
    pipe_clean(&p, &["cache", "verify"])
        .ok()
        .err_has("Verified 1 object(s) in the local cache: 0 corrupt, 0 missing");
    let d = digest_of(&p, "out.txt");
    let obj = p.path(&format!(".pipe/cache/objects/{}/{}", &d[..2], &d[2..]));
    std::fs::remove_file(&obj).expect("rm");
    std::fs::write(&obj, "tampered").expect("write");
    let r = pipe_clean(&p, &["cache", "verify"]).code(3);
    r.err_has("Corrupt").err_has(&d).err_has("(out.txt)");
    std::fs::remove_file(&obj).expect("rm");
    pipe_clean(&p, &["cache", "verify"])
        .code(3)
        .err_has("Missing")
        .err_has("out.txt: object");
}
