//! Data from other repositories (`pipe get`, `pipe import`, `pipe update`) against real
//! registries: git repositories with tags v1 and v2 and a branch `dev` that moves, their
//! data pushed by pipe itself or by real DVC (`PIPE_TEST_DVC`, as in `dvc.rs`) to a
//! directory remote. Transfers are counted from the `Fetched N object(s)` line.

use std::collections::BTreeMap;
use std::path::Path;

use crate::dvc::dvc;
use crate::support::{Project, Run};

/// The dataset at each version (relative path -> content).
fn version(v: u32) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert("cam07/f1.txt", "cam07 frame 1\n".to_string());
    m.insert("cam07/f2.txt", format!("cam07 frame 2 v{}\n", v.min(2)));
    m.insert(
        "cam08/f1.txt",
        format!("cam08 frame 1 v{}\n", if v >= 3 { 3 } else { 1 }),
    );
    if v >= 2 {
        m.insert("cam09/f1.txt", "cam09 frame 1\n".to_string());
    }
    m
}

/// Every file under `dir`, relative path -> content.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let e = e.expect("entry");
            if e.file_type().expect("type").is_dir() {
                walk(root, &e.path(), out);
            } else {
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .expect("under")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read_to_string(e.path()).expect("read"));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

fn expected(v: u32, under: &str) -> BTreeMap<String, String> {
    version(v)
        .into_iter()
        .filter_map(|(k, c)| {
            if under.is_empty() {
                Some((k.to_string(), c))
            } else {
                k.strip_prefix(under)
                    .and_then(|r| r.strip_prefix('/'))
                    .map(|r| (r.to_string(), c))
            }
        })
        .collect()
}

/// Objects the command transferred (its `Fetched N object(s)` line).
fn fetched(r: &Run) -> usize {
    let line = r
        .stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Fetched "))
        .unwrap_or_else(|| panic!("no Fetched line\n{r}"));
    line.split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count")
}

fn write_version(reg: &Project, v: u32) {
    let _ = std::fs::remove_dir_all(reg.path("datasets/full"));
    for (k, c) in version(v) {
        reg.write(&format!("datasets/full/{k}"), &c);
    }
}

fn commit(reg: &Project, msg: &str) {
    reg.git(&["add", "-A"]);
    reg.git(&["commit", "-q", "-m", msg]);
}

/// A registry kept by pipe: `datasets/full` is tracked data, `count.txt` a stage's out,
/// pushed to a directory remote (`store`, beside it). Tags v1, v2; branch `dev` at v2.
/// Call [`move_dev`] to move `dev` on.
struct Registry {
    reg: Project,
    store: tempfile::TempDir,
    dvc: bool,
}

impl Registry {
    fn url(&self) -> String {
        self.reg.root().display().to_string()
    }

    fn publish(&self, v: u32, tag: Option<&str>) {
        if self.dvc {
            dvc_publish(&self.reg, v, tag);
            return;
        }
        write_version(&self.reg, v);
        self.reg.pipe(&["add", "datasets/full"]).ok();
        self.reg.pipe(&["repro"]).ok();
        self.reg.pipe(&["push"]).ok();
        commit(&self.reg, &format!("data v{v}"));
        if let Some(t) = tag {
            self.reg.git(&["tag", t]);
        }
    }

    /// `dev` gets version 3 (cam08 changes); main stays at v2.
    fn move_dev(&self) {
        self.reg.git(&["checkout", "-q", "dev"]);
        self.publish(3, None);
        self.reg.git(&["checkout", "-q", "main"]);
    }
}

fn pipe_registry() -> Registry {
    let reg = Project::new().file(
        "pipe.toml",
        "[stage.count]\ncmd = \"ls -R datasets/full > count.txt\"\ndeps = [\"datasets/full\"]\nouts = [\"count.txt\"]\n",
    );
    let store = tempfile::tempdir().expect("tmp");
    reg.git(&["init", "-q"]);
    reg.pipe(&[
        "remote",
        "add",
        "team",
        store.path().to_str().expect("utf-8"),
        "--default",
    ])
    .ok();
    let r = Registry {
        reg,
        store,
        dvc: false,
    };
    r.publish(1, Some("v1"));
    r.publish(2, Some("v2"));
    r.reg.git(&["branch", "dev"]);
    r
}

/// A git repository with DVC initialised in it.
fn dvc_project() -> Project {
    let reg = Project::new();
    reg.git(&["init", "-q"]);
    dvc(&reg, &["init", "-q"]);
    reg
}

/// Version `v` of the dataset tracked by DVC, pushed to its default remote, committed (and
/// tagged `tag`).
fn dvc_publish(reg: &Project, v: u32, tag: Option<&str>) {
    write_version(reg, v);
    dvc(reg, &["add", "-q", "datasets/full"]);
    dvc(reg, &["push", "-q"]);
    commit(reg, &format!("data v{v}"));
    if let Some(t) = tag {
        reg.git(&["tag", t]);
    }
}

fn dvc_registry() -> Registry {
    let reg = dvc_project();
    let store = tempfile::tempdir().expect("tmp");
    dvc(
        &reg,
        &[
            "remote",
            "add",
            "-q",
            "-d",
            "store",
            store.path().to_str().expect("utf-8"),
        ],
    );
    let r = Registry {
        reg,
        store,
        dvc: true,
    };
    r.publish(1, Some("v1"));
    r.publish(2, Some("v2"));
    r.reg.git(&["branch", "dev"]);
    r
}

/// `pipe get` of the whole directory at each tag and of the moving branch, of a part of
/// it, and of one file: byte-identical to what was published, and only the part asked
/// for is transferred.
fn get_round_trip(r: &Registry) {
    let p = Project::new();
    let url = r.url();
    let run = p
        .pipe(&["get", &url, "datasets/full", "-o", "v1", "--rev", "v1"])
        .ok();
    assert_eq!(tree(&p.path("v1")), expected(1, ""));
    // Files of v1 (3), plus the directory's manifest (pipe) or listing (DVC).
    assert_eq!(fetched(&run), 4, "{run}");
    p.pipe(&["get", &url, "datasets/full", "-o", "v2", "--rev", "v2"])
        .ok();
    assert_eq!(tree(&p.path("v2")), expected(2, ""));
    // The default branch is main, at v2.
    p.pipe(&["get", &url, "datasets/full"]).ok();
    assert_eq!(tree(&p.path("full")), expected(2, ""));
    r.move_dev();
    p.pipe(&["get", &url, "datasets/full", "-o", "dev", "--rev", "dev"])
        .ok();
    assert_eq!(tree(&p.path("dev")), expected(3, ""));

    // A part of the directory: its two files (and the listing), nothing else.
    let run = p
        .pipe(&[
            "get",
            &url,
            "datasets/full/cam07",
            "-o",
            "cam07",
            "--rev",
            "v2",
        ])
        .ok();
    assert_eq!(tree(&p.path("cam07")), expected(2, "cam07"));
    assert_eq!(fetched(&run), 3, "{run}");
    // One file inside it.
    p.pipe(&["get", &url, "datasets/full/cam09/f1.txt", "--rev", "v2"])
        .ok();
    assert_eq!(p.read("f1.txt"), "cam09 frame 1\n");
}

#[test]
fn get_from_a_pipe_registry_brings_each_version_and_only_the_part_asked() {
    let r = pipe_registry();
    get_round_trip(&r);
    // A stage's out, not only tracked data.
    let p = Project::new();
    p.pipe(&["get", &r.url(), "count.txt", "--rev", "v1"]).ok();
    assert!(p.read("count.txt").contains("cam07"));
}

#[test]
fn get_from_a_dvc_registry_brings_each_version_and_only_the_part_asked() {
    let r = dvc_registry();
    get_round_trip(&r);
}

/// Each error is one sentence naming what is wrong, exits 2 (bad input) or 3 (the
/// environment), and leaves nothing at OUT.
fn get_errors(r: &Registry) {
    let p = Project::new();
    let url = r.url();
    let none = |p: &Project| assert!(!p.exists("out"), "nothing written");
    p.pipe(&["get", &url, "datasets/full", "-o", "out", "--rev", "v7"])
        .code(2)
        .err_has("`v7` is not a tag, branch or commit of");
    none(&p);
    p.pipe(&["get", &url, "datasets/other", "-o", "out", "--rev", "v1"])
        .code(2)
        .err_has("`datasets/other` is not tracked by");
    none(&p);
    p.pipe(&[
        "get",
        &url,
        "datasets/full/cam09",
        "-o",
        "out",
        "--rev",
        "v1",
    ])
    .code(2)
    .err_has("`datasets/full/cam09` is not in the directory `datasets/full`");
    none(&p);
    p.pipe(&["get", "/nonexistent/registry", "datasets/full", "-o", "out"])
        .code(3)
        .err_has("cannot read the git repository `/nonexistent/registry`");
    none(&p);
    p.write("out", "mine\n");
    p.pipe(&["get", &url, "datasets/full", "-o", "out"])
        .code(2)
        .err_has("already exists");
    assert_eq!(p.read("out"), "mine\n");
    p.remove("out");

    // An object missing on the source's remote: named, nothing written.
    let objects: Vec<_> = walk_files(r.store.path());
    let f2 = objects
        .iter()
        .find(|o| std::fs::read_to_string(o).is_ok_and(|c| c == "cam07 frame 2 v1\n"))
        .expect("cam07/f2 of v1 on the remote")
        .clone();
    let saved = std::fs::read(&f2).expect("read");
    std::fs::remove_file(&f2).expect("rm");
    p.pipe(&["get", &url, "datasets/full", "-o", "out", "--rev", "v1"])
        .code(3)
        .err_has("missing on")
        .err_has("datasets/full/cam07/f2.txt");
    none(&p);
    // The same object, corrupt: refused, named, nothing written.
    std::fs::write(&f2, b"cam07 frame 2 TAMPERED\n").expect("write");
    p.pipe(&["get", &url, "datasets/full", "-o", "out", "--rev", "v1"])
        .code(3)
        .err_has("corrupt");
    none(&p);
    std::fs::remove_file(&f2).expect("rm");
    std::fs::write(&f2, saved).expect("restore");
    p.pipe(&["get", &url, "datasets/full", "-o", "out", "--rev", "v1"])
        .ok();
    assert_eq!(tree(&p.path("out")), expected(1, ""));

    // A source whose remote is gone.
    let moved = r.store.path().with_extension("moved");
    std::fs::rename(r.store.path(), &moved).expect("mv");
    let run = p.pipe(&["get", &url, "datasets/full", "-o", "out2", "--rev", "v1"]);
    std::fs::rename(&moved, r.store.path()).expect("mv back");
    run.code(3).err_has("remote");
    assert!(!p.exists("out2"));
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_dir() {
            v.extend(walk_files(&e.path()));
        } else {
            v.push(e.path());
        }
    }
    v
}

#[test]
fn get_errors_from_a_pipe_registry_name_the_rev_path_or_object() {
    get_errors(&pipe_registry());
}

#[test]
fn get_errors_from_a_dvc_registry_name_the_rev_path_or_object() {
    get_errors(&dvc_registry());
}

#[test]
fn a_source_without_a_remote_says_so() {
    let reg = Project::new().file(
        "pipe.toml",
        "[stage.count]\ncmd = \"echo 1 > count.txt\"\nouts = [\"count.txt\"]\n",
    );
    reg.git(&["init", "-q"]);
    reg.pipe(&["repro"]).ok();
    commit(&reg, "no remote");
    let p = Project::new();
    p.pipe(&["get", &reg.root().display().to_string(), "count.txt"])
        .code(2)
        .err_has("configures no default remote to fetch `count.txt` from");
    assert!(!p.exists("count.txt"));
}

/// `pipe import SOURCE datasets/full -o data/raw --rev REV` in `p`.
fn import_raw(p: &Project, source: &str, rev: &str) -> Run {
    p.pipe(&[
        "import",
        source,
        "datasets/full",
        "-o",
        "data/raw",
        "--rev",
        rev,
    ])
}

/// A study whose stage reads the imported dataset.
fn study() -> Project {
    let p = Project::new().file(
        "pipe.toml",
        "[stage.count]\ncmd = \"find data/raw -type f | sort > n.txt\"\ndeps = [\"data/raw\"]\nouts = [\"n.txt\"]\n",
    );
    p.git(&["init", "-q"]);
    p
}

/// `pipe import` at a tag: byte-identical, recorded (source in pipe.toml, rev_lock in the
/// lock), tracked like any data; a re-import of the same commit transfers nothing; a tag
/// stays put on `update`, `--rev` moves it (and says from which commit to which, and what
/// changed); a branch moves with `update`; `--dry` only says; a teammate pulls it from our
/// remote.
fn import_and_update(r: &Registry) {
    let p = study();
    let url = r.url();
    let run = import_raw(&p, &url, "v1").ok();
    assert_eq!(fetched(&run), 4, "{run}");
    assert_eq!(tree(&p.path("data/raw")), expected(1, ""));
    let toml = p.read("pipe.toml");
    assert!(toml.contains("[data.\"data/raw\"]"), "{toml}");
    assert!(
        toml.contains(&format!(
            "source = {{ url = \"{url}\", path = \"datasets/full\", rev = \"v1\" }}"
        )),
        "{toml}"
    );
    let v1 = git_rev(&r.reg, "v1");
    assert!(
        p.read("pipe.lock")
            .contains(&format!("rev_lock = \"{v1}\""))
    );
    let st = p.pipe(&["status"]).ok();
    st.out_has("count: stale");
    assert!(
        !st.stdout.contains("data:data/raw"),
        "the import is not modified\n{st}"
    );
    p.pipe(&["repro"]).ok();
    assert!(p.read("n.txt").contains("data/raw/cam07/f2.txt"));

    // The same commit again: nothing transferred.
    let run = import_raw(&p, &url, "v1").ok();
    assert_eq!(fetched(&run), 0, "{run}");

    // A tag stays put.
    p.pipe(&["update"]).ok().err_has("Unchanged data/raw at v1");
    assert!(p.read("pipe.lock").contains(&v1));
    // --dry says, and changes nothing.
    let lock = p.read("pipe.lock");
    p.pipe(&["update", "--rev", "v2", "--dry"])
        .ok()
        .err_has("Would update data/raw");
    assert_eq!(p.read("pipe.lock"), lock);
    assert_eq!(tree(&p.path("data/raw")), expected(1, ""));
    // --rev moves it, and says what changed.
    let v2 = git_rev(&r.reg, "v2");
    p.pipe(&["update", "--rev", "v2", "data/raw"])
        .ok()
        .err_has(&format!(
            "Updated data/raw: {} -> v2 ({}",
            &v1[..10],
            &v2[..10]
        ))
        .err_has("(1 added, 1 changed, 0 removed)");
    assert_eq!(tree(&p.path("data/raw")), expected(2, ""));
    assert!(p.read("pipe.toml").contains("rev = \"v2\""));
    assert!(
        p.read("pipe.lock")
            .contains(&format!("rev_lock = \"{v2}\""))
    );
    p.pipe(&["status"]).ok().out_has("count: stale");

    // A branch moves with `update`.
    let q = study();
    import_raw(&q, &url, "dev").ok();
    assert_eq!(tree(&q.path("data/raw")), expected(2, ""));
    r.move_dev();
    let dev = git_rev(&r.reg, "dev");
    q.pipe(&["update"])
        .ok()
        .err_has(&format!("-> dev ({})", &dev[..10]))
        .err_has("(0 added, 1 changed, 0 removed)");
    assert_eq!(tree(&q.path("data/raw")), expected(3, ""));
    assert!(
        q.read("pipe.lock")
            .contains(&format!("rev_lock = \"{dev}\""))
    );

    // Pushed to our remote, a teammate's clone pulls it from there.
    let ours = tempfile::tempdir().expect("tmp");
    p.pipe(&[
        "remote",
        "add",
        "ours",
        ours.path().to_str().expect("utf-8"),
        "--default",
    ])
    .ok();
    p.pipe(&["push"]).ok();
    let t = Project::new();
    for f in ["pipe.toml", "pipe.lock", ".pipe/config.toml"] {
        t.write(f, &p.read(f));
    }
    t.pipe(&["pull"]).ok();
    assert_eq!(tree(&t.path("data/raw")), expected(2, ""));
}

fn git_rev(reg: &Project, rev: &str) -> String {
    let o = std::process::Command::new("git")
        .args(["rev-parse", &format!("{rev}^{{commit}}")])
        .current_dir(reg.root())
        .output()
        .expect("git");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn import_from_a_pipe_registry_records_pins_and_updates() {
    import_and_update(&pipe_registry());
}

#[test]
fn import_from_a_dvc_registry_records_pins_and_updates() {
    import_and_update(&dvc_registry());
}

#[test]
fn a_failed_import_leaves_the_workspace_as_it_was() {
    let r = pipe_registry();
    let p = study();
    let before = p.read("pipe.toml");
    import_raw(&p, &r.url(), "v9")
        .code(2)
        .err_has("`v9` is not a tag, branch or commit");
    assert_eq!(p.read("pipe.toml"), before);
    assert!(!p.exists("data/raw") && !p.exists("pipe.lock"));
    p.pipe(&["import", &r.url(), "datasets/nope", "-o", "data/raw"])
        .code(2)
        .err_has("`datasets/nope` is not tracked by");
    assert_eq!(p.read("pipe.toml"), before);
    assert!(!p.exists("data/raw"));
    // Something already there that is not an import is refused.
    p.write("data/raw/mine.txt", "mine\n");
    p.pipe(&["import", &r.url(), "datasets/full", "-o", "data/raw"])
        .code(2)
        .err_has("`data/raw` already exists");
    assert_eq!(p.read("data/raw/mine.txt"), "mine\n");
    assert_eq!(p.read("pipe.toml"), before);
    // `update` of a path that is not imported data.
    p.remove("data/raw");
    import_raw(&p, &r.url(), "v1").ok();
    p.pipe(&["update", "n.txt"])
        .code(2)
        .err_has("`n.txt` is not imported data");
}

/// A registry whose remote is an S3 bucket (the moto server the remote tests use), its
/// credentials in its git-ignored `config.local.toml`: an importer has none until its own
/// local config names that url with credentials; then the import is byte-identical.
#[test]
fn import_from_an_s3_remote_takes_credentials_from_config_local() {
    use crate::remote::{new_bucket, pipe_clean, s3_endpoint};
    let endpoint = s3_endpoint();
    let bucket = new_bucket(endpoint);
    let url = format!("s3://{bucket}/registry");
    let reg = Project::new().file(
        "pipe.toml",
        "[stage.count]\ncmd = \"ls -R datasets/full > count.txt\"\ndeps = [\"datasets/full\"]\nouts = [\"count.txt\"]\n",
    );
    reg.git(&["init", "-q"]);
    pipe_clean(
        &reg,
        &[
            "remote",
            "add",
            "team",
            &url,
            "--default",
            "-o",
            &format!("endpoint={endpoint}"),
        ],
    )
    .ok();
    let creds = "access_key_id = \"testing\"\nsecret_access_key = \"testing\"\n";
    reg.write(
        ".pipe/config.local.toml",
        &format!("[remote.team]\n{creds}"),
    );
    write_version(&reg, 1);
    pipe_clean(&reg, &["add", "datasets/full"]).ok();
    pipe_clean(&reg, &["repro"]).ok();
    pipe_clean(&reg, &["push"]).ok();
    commit(&reg, "v1");
    reg.git(&["tag", "v1"]);
    let source = reg.root().display().to_string();

    let p = study();
    let args = [
        "import",
        &source,
        "datasets/full",
        "-o",
        "data/raw",
        "--rev",
        "v1",
    ];
    pipe_clean(&p, &args)
        .code(2)
        .err_has("no credentials found");
    assert!(!p.exists("data/raw"));
    p.write(
        ".pipe/config.local.toml",
        &format!("[remote.registry]\nurl = \"{url}\"\n{creds}"),
    );
    let run = pipe_clean(&p, &args).ok();
    assert_eq!(fetched(&run), 4, "{run}");
    assert_eq!(tree(&p.path("data/raw")), expected(1, ""));
}

/// A teammate's `pipe pull` of imported data that was never pushed to our remote (or with
/// no remote of ours at all) fetches it from the repository it was imported from, at the
/// pinned commit, verified against the lock.
fn pull_falls_back_to_the_source(r: &Registry) {
    let p = study();
    let url = r.url();
    import_raw(&p, &url, "v1").ok();
    // No remote of ours: all of it from the source.
    let q = Project::new();
    for f in ["pipe.toml", "pipe.lock"] {
        q.write(f, &p.read(f));
    }
    let run = q.pipe(&["pull"]).ok();
    let v1 = git_rev(&r.reg, "v1");
    run.err_has(&format!(
        "Fetched data/raw from its source {url} at {}",
        &v1[..10]
    ));
    assert_eq!(tree(&q.path("data/raw")), expected(1, ""));
    q.pipe(&["status"]).ok();
    assert!(!q.pipe(&["status"]).ok().stdout.contains("data:data/raw"));
    // A remote of ours that never got it: the source again, and nothing else is missing.
    let ours = tempfile::tempdir().expect("tmp");
    let t = Project::new();
    for f in ["pipe.toml", "pipe.lock"] {
        t.write(f, &p.read(f));
    }
    t.pipe(&[
        "remote",
        "add",
        "ours",
        ours.path().to_str().expect("utf-8"),
        "--default",
    ])
    .ok();
    t.pipe(&["pull", "data/raw"])
        .ok()
        .err_has("Fetched data/raw from its source");
    assert_eq!(tree(&t.path("data/raw")), expected(1, ""));
    // Pulled once, the cache has it: the source is not asked again.
    t.pipe(&["pull", "data/raw"])
        .ok()
        .err_lacks("from its source");

    // The source moved away: the pull fails naming the out and writes nothing.
    let gone = tempfile::tempdir().expect("tmp");
    let moved = gone.path().join("registry");
    std::fs::rename(r.reg.root(), &moved).expect("move the registry");
    let u = Project::new();
    for f in ["pipe.toml", "pipe.lock"] {
        u.write(f, &p.read(f));
    }
    let run = u.pipe(&["pull"]);
    std::fs::rename(&moved, r.reg.root()).expect("move the registry back");
    assert_ne!(run.code, 0, "{run}");
    run.err_has("`data/raw` (imported data our remote lacks) cannot be fetched from its source");
    assert!(!u.exists("data/raw"), "{run}");
}

#[test]
fn pull_of_pipe_imported_data_falls_back_to_the_source() {
    pull_falls_back_to_the_source(&pipe_registry());
}

#[test]
fn pull_of_dvc_imported_data_falls_back_to_the_source() {
    pull_falls_back_to_the_source(&dvc_registry());
}

/// A DVC registry whose data is on S3 (the moto server; `endpointurl` in its committed
/// `.dvc/config`, credentials in its git-ignored `config.local`, as `dvc remote modify
/// --local` puts them). From this machine the import reads the endpoint, bucket and
/// credentials from the source's config and is byte-identical; without its config.local
/// an importer with no credentials is told so and gets nothing, and with them in the
/// environment it works. An unreachable endpoint and a missing object are one sentence
/// each, and nothing is written.
#[test]
fn import_from_a_dvc_registry_on_s3_reads_its_endpoint_bucket_and_credentials() {
    use crate::remote::{new_bucket, pipe_clean, pipe_with, s3_delete, s3_endpoint};
    use md5::Digest as _;
    let endpoint = s3_endpoint();
    let bucket = new_bucket(endpoint);
    let reg = dvc_project();
    let url = format!("s3://{bucket}/dvcstore");
    dvc(&reg, &["remote", "add", "-q", "-d", "store", &url]);
    dvc(
        &reg,
        &["remote", "modify", "store", "endpointurl", endpoint],
    );
    for (k, v) in [
        ("access_key_id", "testing"),
        ("secret_access_key", "testing"),
    ] {
        dvc(&reg, &["remote", "modify", "--local", "store", k, v]);
    }
    assert!(
        !reg.read(".dvc/config").contains("secret_access_key"),
        "the secret is not committed"
    );
    dvc_publish(&reg, 1, Some("v1"));
    let source = reg.root().display().to_string();
    let args = [
        "import",
        &source,
        "datasets/full",
        "-o",
        "data/raw",
        "--rev",
        "v1",
    ];

    // The source's config.local has the credentials.
    let p = study();
    let run = pipe_clean(&p, &args).ok();
    run.err_has(&format!("from `store` ({url})"));
    assert_eq!(fetched(&run), 4, "{run}");
    assert_eq!(tree(&p.path("data/raw")), expected(1, ""));

    // Without it: no credentials, nothing written; then from the environment.
    let local = reg.read(".dvc/config.local");
    reg.remove(".dvc/config.local");
    let q = study();
    let before = q.read("pipe.toml");
    pipe_clean(&q, &args)
        .code(2)
        .err_has("error: remote `store`: no credentials found")
        .err_has(&format!("(`store` is a remote of `{source}`)"));
    assert!(!q.exists("data/raw"));
    assert_eq!(q.read("pipe.toml"), before);
    let run = pipe_with(
        &q,
        &args,
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    )
    .ok();
    assert_eq!(fetched(&run), 4, "{run}");
    assert_eq!(tree(&q.path("data/raw")), expected(1, ""));

    // An endpoint nobody listens on (config.local's endpointurl wins over the committed one).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    reg.write(
        ".dvc/config.local",
        &format!("{local}    endpointurl = http://127.0.0.1:{closed}\n"),
    );
    let g = Project::new();
    let get = ["get", &source, "datasets/full", "-o", "out", "--rev", "v1"];
    pipe_clean(&g, &get)
        .code(3)
        .err_has(&format!("cannot be reached at http://127.0.0.1:{closed}"));
    assert!(!g.exists("out"));
    reg.write(".dvc/config.local", &local);

    // An object missing from the bucket: named, nothing written.
    let md5 = hex::encode(md5::Md5::digest(b"cam07 frame 2 v1\n"));
    let key = format!("/{bucket}/dvcstore/files/md5/{}/{}", &md5[..2], &md5[2..]);
    assert_eq!(s3_delete(endpoint, &key), Some(204), "delete {key}");
    pipe_clean(&g, &get)
        .code(3)
        .err_has("missing on")
        .err_has(&format!("`datasets/full/cam07/f2.txt` (md5 {md5})"));
    assert!(!g.exists("out"));
}
