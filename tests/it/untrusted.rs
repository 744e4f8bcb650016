//! Untrusted remote content cannot hang or wedge pipe (issue 19, items 9 and 10).
//!
//! What a teammate's remote holds, and what their committed `pipe.lock` names, is read as
//! something anyone could have written: a FIFO, socket, directory or link where an object
//! should be; an object larger than the lock says; a manifest listing `.git/hooks/…`, a NUL,
//! a 300-byte name or a file that is also a directory. `pull`, `fetch`, `cache verify
//! --remote` and `repro --pull` refuse each with one message naming the remote path, never
//! block, and store or check out nothing of it; `verify` refuses exactly what `pull` does.
//! And a transfer stuck in a system call (a hung mount, made here by strace holding a
//! `read` of the object) does not keep `repro --pull` from stopping on SIGTERM.
//!
//! Every command runs under a time limit: a regression fails the test instead of hanging
//! it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::remote::{Backend, Remote, pipe_clean};
use crate::support::{Project, Run, bin, count_files, wait_until};

const PIPELINE: &str = r#"[stage.prepare]
cmd = "mkdir -p data/sub && echo alpha > data/a.txt && echo beta > data/sub/b.txt"
deps = ["raw.txt"]
outs = ["data"]

[stage.train]
cmd = "cat data/a.txt data/sub/b.txt raw.txt > model.txt"
deps = ["data"]
outs = ["model.txt"]
"#;

/// A workspace that has run both stages and pushed everything to `remote` (`team`).
fn pushed(remote: &Remote) -> Project {
    let p = Project::new()
        .file("raw.txt", "raw\n")
        .file("pipe.toml", PIPELINE);
    pipe_clean(&p, &["repro"]).ok();
    remote.configure(&p);
    pipe_clean(&p, &["push"]).ok();
    p
}

/// A teammate's `git clone` of `p`: the committed files and their local config.
fn clone_of(p: &Project) -> Project {
    let q = Project::new();
    for f in [
        "raw.txt",
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

/// The digest the lock records for out `path`.
fn digest_of(p: &Project, path: &str) -> String {
    let lock: toml::Table = p.read("pipe.lock").parse().expect("pipe.lock is TOML");
    lock["stage"]
        .as_table()
        .expect("stages")
        .values()
        .find_map(|st| st.get("outs")?.get(path)?.get("digest")?.as_str())
        .unwrap_or_else(|| panic!("no out {path} in the lock"))
        .to_string()
}

fn rel(digest: &str) -> String {
    format!("objects/{}/{}", &digest[..2], &digest[2..])
}

/// The directory of a directory remote configured in `p`.
fn remote_dir(p: &Project) -> PathBuf {
    let cfg: toml::Table = p.read(".pipe/config.toml").parse().expect("config");
    PathBuf::from(cfg["remote"]["team"]["url"].as_str().expect("url"))
}

/// `pipe ARGS` in `p` with a clean AWS environment, failing the test (and killing pipe)
/// if it runs past `limit`.
#[track_caller]
fn pipe_within(p: &Project, args: &[&str], limit: Duration) -> Run {
    let mut c = p.cmd(args);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("AWS_")) {
            c.env_remove(k);
        }
    }
    c.env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/pipe-test-aws")
        .env("AWS_CONFIG_FILE", "/nonexistent/pipe-test-aws")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn pipe");
    let t = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if t.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "pipe {args:?} still ran after {limit:?} (blocked on what the remote holds)\n{}",
                Run::from(out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run::from(child.wait_with_output().expect("output"))
}

const LIMIT: Duration = Duration::from_secs(60);

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(ok.success(), "mkfifo {}", path.display());
}

/// Replaces the file at `path` (read-only, as pipe stores it) with what `make` puts there.
fn replace(path: &Path, make: impl FnOnce(&Path)) {
    assert!(path.is_file(), "{} is on the remote", path.display());
    std::fs::remove_file(path).expect("rm");
    make(path);
}

/// Files under the local cache's `tmp/` (downloads in progress; none once a command ends).
fn temps(q: &Project) -> usize {
    count_files(&q.path(".pipe/cache/tmp"))
}

fn in_cache(q: &Project, digest: &str) -> bool {
    q.path(&format!(".pipe/cache/{}", rel(digest))).exists()
}

// ---------------------------------------------------------------------------------------
// Item 9: what is not a regular file, or is larger than the lock says

#[test]
fn a_fifo_socket_directory_or_link_on_a_directory_remote_is_refused_never_waited_for() {
    let remote = Remote::new(Backend::Dir);
    let p = pushed(&remote);
    let root = remote_dir(&p);
    let model = digest_of(&p, "model.txt");
    let fifo = root.join(rel(&model));
    // A FIFO that no one writes to: an open or read of it would block forever.
    replace(&fifo, mkfifo);
    // data/a.txt and data/sub/b.txt: a directory, and a link to a device of endless zeros.
    let alpha = blake3::hash(b"alpha\n").to_hex().to_string();
    let beta = blake3::hash(b"beta\n").to_hex().to_string();
    let dir_obj = root.join(rel(&alpha));
    replace(&dir_obj, |p| std::fs::create_dir(p).expect("mkdir"));
    let link_obj = root.join(rel(&beta));
    replace(&link_obj, |p| {
        std::os::unix::fs::symlink("/dev/zero", p).expect("symlink")
    });
    let q = clone_of(&p);

    let v = pipe_within(&q, &["cache", "verify", "--remote"], LIMIT).code(3);
    v.err_has(&format!(
        "object {model} from remote `team` is corrupt: it is a FIFO (named pipe), not a file ({})",
        fifo.display()
    ))
    .err_has("(model.txt)");
    v.err_has(&format!("({})", dir_obj.display()))
        .err_has("is a directory, not a file")
        .err_has("(data/a.txt)");
    v.err_has(&format!("it is a symbolic link ({})", link_obj.display()))
        .err_has("(data/sub/b.txt)");
    v.err_has("3 corrupt");

    let f = pipe_within(&q, &["fetch"], LIMIT).code(3);
    f.err_has("is a FIFO (named pipe), not a file")
        .err_has("it was not stored in the local cache")
        .err_has("3 corrupt object(s) refused");
    for d in [&model, &alpha, &beta] {
        assert!(!in_cache(&q, d), "{d} is not in the local cache");
    }
    assert_eq!(temps(&q), 0, "no temp file left behind");

    let r = pipe_within(&q, &["pull"], LIMIT).code(3);
    r.err_has(&fifo.display().to_string());
    assert!(
        !q.exists("model.txt") && !q.exists("data"),
        "nothing checked out\n{r}"
    );
    assert_eq!(temps(&q), 0);

    // repro --pull: the remote cannot help; both stages run, and the workspace converges.
    let r = pipe_within(&q, &["repro", "--pull"], LIMIT).ok();
    assert_eq!(r.ran(), ["prepare", "train"], "{r}");
    r.err_has("is a FIFO (named pipe), not a file");
    assert_eq!(q.read("model.txt"), p.read("model.txt"));
    pipe_within(&q, &["cache", "verify"], LIMIT).ok();
}

#[test]
fn an_object_larger_than_the_lock_says_is_refused_unread() {
    for b in [Backend::Dir, Backend::S3] {
        let remote = Remote::new(b);
        let p = pushed(&remote);
        let model = digest_of(&p, "model.txt");
        let size = p.read("model.txt").len();
        // 64 MiB under the model's name (sparse on a directory remote): never read whole.
        const BIG: u64 = 64 << 20;
        match b {
            Backend::Dir => replace(&remote_dir(&p).join(rel(&model)), |path| {
                let f = std::fs::File::create(path).expect("create");
                f.set_len(BIG).expect("grow");
            }),
            Backend::S3 => s3_put(&p, &model, vec![0u8; BIG as usize]),
        }
        let q = clone_of(&p);
        let r = pipe_within(&q, &["pull"], LIMIT).code(3);
        r.err_has(&format!("is {BIG} bytes where {size} were expected"))
            .err_has("it was not stored in the local cache");
        assert!(!in_cache(&q, &model) && !q.exists("model.txt"), "{b:?}");
        assert_eq!(temps(&q), 0, "{b:?}: no temp file left behind");
        // The rest arrived.
        assert_eq!(q.read("data/a.txt"), "alpha\n", "{b:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Item 10: one validation of a manifest, for verify and pull alike

/// Puts `bytes` under its digest on a directory remote; the digest.
fn put_object(root: &Path, bytes: &[u8]) -> String {
    let d = blake3::hash(bytes).to_hex().to_string();
    let path = root.join(rel(&d));
    std::fs::create_dir_all(path.parent().expect("fan-out")).expect("mkdir");
    if !path.exists() {
        std::fs::write(&path, bytes).expect("write");
    }
    d
}

/// A file a manifest lists: its path, its content.
type File<'a> = (&'a str, &'a [u8]);

/// A manifest listing `files` (path, content), as a forger would write it: sorted, each
/// line as pipe writes one, no other check. Its bytes, and the contents' own.
fn forged_manifest(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = files
        .iter()
        .map(|(path, content)| {
            let mut l =
                format!("{} {} - ", blake3::hash(content).to_hex(), content.len()).into_bytes();
            l.extend_from_slice(path.as_bytes());
            l.push(b'\n');
            l
        })
        .collect();
    lines.sort_by(|a, b| a[69..].cmp(&b[69..]).then(a.cmp(b)));
    let mut m = b"pipe-manifest 1\n".to_vec();
    for l in lines {
        m.extend(l);
    }
    m
}

/// Points the lock of `q` at manifest `new` for out `data` (where it had `old`).
fn point_data_at(q: &Project, old: &str, new: &str) {
    let lock = q.read("pipe.lock");
    assert!(lock.contains(old));
    q.write("pipe.lock", &lock.replace(old, new));
}

#[test]
fn verify_refuses_every_manifest_pull_would_refuse_and_pull_writes_nothing_of_it() {
    let remote = Remote::new(Backend::Dir);
    let p = pushed(&remote);
    let root = remote_dir(&p);
    let data = digest_of(&p, "data");
    let hook: &[u8] = b"#!/bin/sh\ntouch /tmp/pipe-test-owned\n";
    let long = "n".repeat(300);
    let cases: Vec<(Vec<File>, &str)> = vec![
        (
            vec![(".git/hooks/post-checkout", hook), ("a.txt", b"alpha\n")],
            "has a `.git` or `.pipe` component",
        ),
        (
            vec![("sub/.pipe/config.toml", b"x\n")],
            "has a `.git` or `.pipe` component",
        ),
        (
            vec![(long.as_str(), b"x\n")],
            "has a name longer than 255 bytes",
        ),
        (vec![("a\0b", b"x\n")], "has a control character"),
        (
            vec![("a", b"x\n"), ("a/b", b"y\n")],
            "lists `a` as a file and as a directory (`a/b`)",
        ),
        (
            vec![("../escape.txt", b"x\n")],
            "has a `.` or `..` component",
        ),
    ];
    let mut was = data.clone();
    for (files, why) in cases {
        for (_, content) in &files {
            put_object(&root, content);
        }
        let forged = put_object(&root, &forged_manifest(&files));
        let q = clone_of(&p);
        point_data_at(&q, &was, &forged);
        p.write("pipe.lock", &q.read("pipe.lock"));
        was = forged.clone();
        let v = pipe_within(&q, &["cache", "verify", "--remote"], LIMIT).code(3);
        v.err_has(&format!("manifest {forged} from remote `team` is corrupt"))
            .err_has(why)
            .err_has("(data)");
        for cmd in ["fetch", "pull"] {
            let r = pipe_within(&q, &[cmd], LIMIT).code(3);
            r.err_has(&format!("manifest {forged} from remote `team` is corrupt"))
                .err_has(why);
            assert!(!in_cache(&q, &forged), "{cmd}: the manifest is not stored");
            assert!(!q.exists("data"), "{cmd}: nothing of it checked out\n{r}");
            assert_eq!(temps(&q), 0);
        }
        assert!(!q.root().parent().expect("up").join("escape.txt").exists());
    }
}

#[test]
fn checkout_refuses_a_manifest_already_in_the_local_cache() {
    // A manifest that an older pipe stored, or that came in through a shared cache.
    let remote = Remote::new(Backend::Dir);
    let p = pushed(&remote);
    let data = digest_of(&p, "data");
    let q = clone_of(&p);
    let cache = q.path(".pipe/cache");
    let files: Vec<(&str, &[u8])> = vec![
        (
            ".git/config",
            b"[core]\n\tfsmonitor = touch /tmp/pipe-test-owned\n",
        ),
        ("a.txt", b"alpha\n"),
    ];
    for (_, content) in &files {
        put_object(&cache, content);
    }
    let forged = put_object(&cache, &forged_manifest(&files));
    point_data_at(&q, &data, &forged);
    let r = pipe_within(&q, &["checkout", "data"], LIMIT);
    assert_ne!(r.code, 0, "{r}");
    r.err_has("has a `.git` or `.pipe` component")
        .err_has("`data` is left as it is");
    assert!(
        !q.exists("data/.git"),
        "nothing under .git checked out\n{r}"
    );
    assert!(
        !q.exists("data/a.txt"),
        "a manifest is used whole or not at all\n{r}"
    );
}

#[test]
fn an_s3_remote_gets_the_same_manifest_validation() {
    let remote = Remote::new(Backend::S3);
    let p = pushed(&remote);
    let data = digest_of(&p, "data");
    let files: Vec<(&str, &[u8])> = vec![(".git/HEAD", b"ref: x\n"), ("a.txt", b"alpha\n")];
    for (_, content) in &files {
        let d = blake3::hash(content).to_hex().to_string();
        s3_put(&p, &d, content.to_vec());
    }
    let m = forged_manifest(&files);
    let forged = blake3::hash(&m).to_hex().to_string();
    s3_put(&p, &forged, m);
    let q = clone_of(&p);
    point_data_at(&q, &data, &forged);
    pipe_within(&q, &["cache", "verify", "--remote"], LIMIT)
        .code(3)
        .err_has("has a `.git` or `.pipe` component");
    let r = pipe_within(&q, &["pull"], LIMIT).code(3);
    r.err_has(&format!("manifest {forged} from remote `team` is corrupt"));
    assert!(!in_cache(&q, &forged) && !q.exists("data"), "{r}");
    // An object the lock names but S3 lacks: named by its out, the rest still arrives.
    let p = Project::new()
        .file("raw.txt", "raw\n")
        .file("pipe.toml", PIPELINE);
    pipe_clean(&p, &["repro"]).ok();
    Remote::new(Backend::S3).configure(&p);
    pipe_clean(&p, &["push", "prepare"]).ok();
    let q = clone_of(&p);
    let r = pipe_within(&q, &["pull"], LIMIT).code(3);
    r.err_has("model.txt: not on remote `team`");
    assert_eq!(q.read("data/a.txt"), "alpha\n");
    assert!(!q.exists("model.txt"));
}

/// Writes `body` as object `digest` of the S3 remote configured in `p` (whatever it hashes
/// to), through the object-store client: moto refuses anonymous writes over an object.
fn s3_put(p: &Project, digest: &str, body: Vec<u8>) {
    use pipe_cache::remote::{Credentials, Kind, RemoteSpec, cloud::CloudRemote};
    let cfg: toml::Table = p.read(".pipe/config.toml").parse().expect("config");
    let team = &cfg["remote"]["team"];
    let url = team["url"].as_str().expect("url");
    let mut spec = RemoteSpec::new("t", url, Path::new("/")).expect("spec");
    spec.endpoint = team
        .get("endpoint")
        .and_then(|e| e.as_str())
        .map(String::from);
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
    rt.block_on(c.put_bytes(Kind::Object, &d, bytes::Bytes::from(body)))
        .expect("put the object");
}

#[test]
fn a_fifo_where_a_run_cache_record_should_be_is_refused_and_the_stage_runs() {
    let remote = Remote::new(Backend::Dir);
    let p = pushed(&remote);
    let runs = remote_dir(&p).join("runs");
    let mut n = 0;
    for fan in std::fs::read_dir(&runs).expect("runs/").flatten() {
        for rec in std::fs::read_dir(fan.path()).expect("fan-out").flatten() {
            replace(&rec.path(), mkfifo);
            n += 1;
        }
    }
    assert_eq!(n, 2, "one record per stage");
    let q = clone_of(&p);
    let r = pipe_within(&q, &["repro", "--pull"], LIMIT).ok();
    r.err_has("run-cache record")
        .err_has("is a FIFO (named pipe), not a file");
    assert_eq!(r.ran(), ["prepare", "train"], "{r}");
    assert_eq!(q.read("model.txt"), p.read("model.txt"));
}

// ---------------------------------------------------------------------------------------
// Signals while a transfer is stuck

/// The state letter of process `pid` (`Z`: exited, waiting to be reaped), `None` once gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Whether process `pid` has `path` open.
fn has_open(pid: u32, path: &Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| {
            rd.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == path))
        })
        .unwrap_or(false)
}

#[test]
fn sigterm_stops_repro_pull_while_a_read_of_the_remote_is_stuck() {
    // A read that does not return, as on a mount whose server stopped answering: strace
    // holds every read of the object (and only of it) in the kernel for HELD.
    const HELD: &str = "25s";
    let has_strace = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_strace,
        "this test needs strace (Debian: apt-get install strace)"
    );
    let remote = Remote::new(Backend::Dir);
    let p = pushed(&remote);
    let model = digest_of(&p, "model.txt");
    let obj = remote_dir(&p).join(rel(&model));
    let q = clone_of(&p);
    pipe_within(&q, &["pull", "prepare"], LIMIT).ok();
    let lock = q.read("pipe.lock");
    let inject = format!("inject=read:delay_enter={HELD}");
    let child = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-P"])
        .arg(&obj)
        .args(["-e", "trace=read", "-e", &inject, "--"])
        .arg(bin())
        .args(["repro", "--pull"])
        .current_dir(q.root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strace");
    let children = format!("/proc/{0}/task/{0}/children", child.id());
    let mut pipe_pid = 0;
    wait_until("pipe to open the object", LIMIT, || {
        pipe_pid = std::fs::read_to_string(&children)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        pipe_pid != 0 && has_open(pipe_pid, &obj)
    });
    let pid = rustix::process::Pid::from_raw(pipe_pid as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    // pipe exits (its main thread ends) while the read is still held.
    wait_until(
        "pipe to exit after SIGTERM",
        Duration::from_secs(10),
        || matches!(proc_state(pipe_pid), None | Some('Z' | 'X')),
    );
    // strace reports pipe's exit status once it lets the held read go.
    let r = Run::from(child.wait_with_output().expect("wait for strace"));
    let r = r.code(143);
    r.err_has("error: terminated");
    assert_eq!(q.read("pipe.lock"), lock, "nothing recorded");
    assert!(!q.exists("model.txt"), "no out from the abandoned transfer");
    assert!(!in_cache(&q, &model));
    assert_eq!(
        temps(&q),
        0,
        "the abandoned download's temp file is removed"
    );
}
