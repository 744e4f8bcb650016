//! `pipe import-dvc` against real DVC (from PyPI; `scripts/setup-dvc.sh`, found through
//! `PIPE_TEST_DVC`, which `scripts/test.sh` exports). Without it these tests fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::Project;

fn dvc_bin() -> PathBuf {
    let p = std::env::var_os("PIPE_TEST_DVC").unwrap_or_else(|| {
        panic!("PIPE_TEST_DVC is not set: run scripts/setup-dvc.sh (scripts/test.sh does) and export its last line")
    });
    PathBuf::from(p)
}

/// DVC run in `p`: whether it succeeded, and what it printed (stdout, then stderr).
fn dvc_output(p: &Project, args: &[&str]) -> (bool, String) {
    let o = Command::new(dvc_bin())
        .args(args)
        .current_dir(p.root())
        .env("DVC_NO_ANALYTICS", "1")
        .output()
        .expect("run dvc");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), all)
}

#[track_caller]
pub(crate) fn dvc(p: &Project, args: &[&str]) -> String {
    let (ok, all) = dvc_output(p, args);
    assert!(ok, "dvc {args:?} failed:\n{all}");
    all
}

fn corpus() -> PathBuf {
    crate::support::package_dir().join("tests/dvc-corpus/full")
}

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("read corpus") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&dst).expect("mkdir");
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

/// The corpus after `dvc init`, `dvc add` of the raw data and `dvc repro -P`.
fn dvc_project() -> Project {
    let p = Project::new();
    copy_tree(&corpus(), p.root());
    dvc(&p, &["init", "-q", "--no-scm"]);
    dvc(&p, &["add", "-q", "data/raw", "data/labels.csv"]);
    dvc(
        &p,
        &["remote", "add", "-q", "-d", "store", "../shared-store"],
    );
    dvc(&p, &["repro", "-P"]);
    p
}

/// Every file DVC's stages write (relative paths).
const OUTS: [&str; 14] = [
    "data/prepared/all.txt",
    "data/prepared/split.txt",
    "features/1.txt",
    "features/2.txt",
    "results/us.txt",
    "results/uk.txt",
    "models/small-0.1.txt",
    "models/small-0.5.txt",
    "models/big-0.1.txt",
    "models/big-0.5.txt",
    "reports/summary.txt",
    "reports/metrics.json",
    "reports/loss.csv",
    "sub/count.txt",
];

#[test]
fn a_migrated_project_is_up_to_date_and_runs_nothing() {
    let p = dvc_project();
    let r = p.pipe(&["import-dvc"]).ok();
    r.err_has("Imported 12 of 12 stages up to date from dvc.lock, 2 tracked paths, 1 remotes");
    p.pipe(&["status"])
        .ok()
        .out_has("Everything is up to date (14 stages)");
    let r = p.pipe(&["repro"]).ok();
    assert!(r.ran().is_empty(), "{r}");
    assert!(r.restored().is_empty(), "{r}");
    // Stage names keep DVC's instance names (`@` -> `.`).
    let toml = p.read("pipe.toml");
    for name in [
        "[stage.\"featurize.1\"]",
        "[stage.\"evaluate.us\"]",
        "[stage.\"train.model1-0.5\"]",
        "[stage.\"sub.count\"]",
        "[stage.frozen_one]",
    ] {
        assert!(toml.contains(name), "{name} in\n{toml}");
    }
    // The remote, without its DVC-relative path.
    let remote = p.pipe(&["remote", "list"]).ok();
    remote.out_has("store (default)").out_has("shared-store");

    // pipe sees a change as DVC would, with the reason.
    p.write(
        "params.yaml",
        &p.read("params.yaml").replace("split: 0.25", "split: 0.3"),
    );
    p.pipe(&["status", "prepare"])
        .ok()
        .out_has("param prepare.split 0.25 -> 0.3");
    let r = p.pipe(&["repro", "prepare"]).ok();
    assert_eq!(r.ran(), vec!["prepare"]);
    assert_eq!(p.read("data/prepared/split.txt"), "0.3\n");

    // Outs are in pipe's cache: deleted ones come back without a run.
    p.remove("models");
    p.pipe(&["checkout"]).ok();
    assert_eq!(p.read("models/big-0.5.txt"), "big depth 3 lr 0.5\n");
}

#[test]
fn pipe_repro_makes_what_dvc_repro_made() {
    let made = dvc_project();
    // A second copy: the sources, the tracked data and its .dvc files, no dvc.lock.
    let p = Project::new();
    copy_tree(&corpus(), p.root());
    for f in ["data/raw.dvc", "data/labels.csv.dvc"] {
        p.write(f, &made.read(f));
    }
    let r = p.pipe(&["import-dvc"]).ok();
    r.err_has("Imported 0 of 12 stages up to date from dvc.lock, 2 tracked paths");
    p.pipe(&["repro"]).ok();
    for f in OUTS {
        assert_eq!(p.read(f), made.read(f), "{f}");
    }
    p.pipe(&["status"]).ok().out_has("Everything is up to date");
}

#[test]
fn outs_missing_from_the_workspace_come_from_dvcs_cache() {
    let p = dvc_project();
    let want = p.read("features/2.txt");
    p.remove("features");
    p.remove("data/raw");
    let r = p.pipe(&["import-dvc"]).ok();
    r.err_has("Restored features/2.txt (from DVC's cache)");
    r.err_has("Restored data/raw (from DVC's cache)");
    r.err_has("Imported 12 of 12 stages");
    assert_eq!(p.read("features/2.txt"), want);
    assert_eq!(p.read("data/raw/b.txt"), "beta\n");
    let r = p.pipe(&["repro"]).ok();
    assert!(r.ran().is_empty(), "{r}");
}

#[test]
fn stages_that_no_longer_match_dvc_lock_are_stale_with_the_reason() {
    let p = dvc_project();
    p.write(
        "reports/other.yaml",
        "eval:\n  threshold: 0.7\n  unused: 1\n",
    );
    p.write("sub/params.yaml", "factor: 4\n");
    let r = p.pipe(&["-v", "import-dvc"]).ok();
    r.err_has("summarize: param eval.threshold in reports/other.yaml is 0.7 now, 0.5 in dvc.lock");
    r.err_has("sub.count: its command differs from dvc.lock's");
    r.err_has("Imported 10 of 12 stages");

    p.write("data/raw/b.txt", "BETA\n");
    let r = p.pipe(&["-v", "import-dvc", "--force"]).ok();
    r.err_has("data:data/raw: data/raw differs from data/raw.dvc");
    r.err_has("prepare: dep data/raw changed since dvc.lock");
    r.err_has("featurize.1: upstream stage prepare does not match dvc.lock");
    let st = p.pipe(&["status"]).ok();
    st.out_has("prepare: stale").out_has("data:data/raw: stale");
    p.pipe(&["add", "data/raw"]).ok().err_has("Added data/raw");
    let r = p.pipe(&["repro"]).ok();
    assert!(r.ran().contains(&"prepare".to_string()), "{r}");
    assert!(p.read("data/prepared/all.txt").contains("BETA"));
    assert_eq!(p.read("sub/count.txt"), "2\n4\n");
}

#[test]
fn dry_prints_the_pipeline_and_every_note_with_its_line() {
    let p = Project::new();
    copy_tree(&corpus(), p.root());
    let r = p.pipe(&["import-dvc", "--dry"]).ok();
    assert!(!p.exists("pipe.toml"), "--dry writes nothing");
    for s in [
        "[pipeline]\nparams = [\"params.yaml\", \"config.yaml\", \"vars/nested.yaml\"]",
        "[vars]\nout_dir = \"results\"\nbanner = \"==\"",
        "cmd = \"mkdir -p ${paths.prepared} && cat ${paths.raw}/a.txt",
        "cmd = [\"mkdir -p features\", \"echo seed 1 ngrams ${featurize.ngrams} > features/1.txt\"",
        "deps = [\"features/2.txt\"]",
        "cmd = \"mkdir -p models && echo big depth 3 lr 0.1 > models/big-0.1.txt\"",
        "wdir = \"reports\"",
        "params = [{ file = \"reports/other.yaml\", keys = [\"eval.threshold\"] }, { file = \"reports/whole.yaml\", keys = [\"plot\", \"style\"] }]",
        "outs = [{ path = \"summary.txt\", persist = true, desc = \"The summary\" }]",
        "metrics = [{ path = \"metrics.json\", cache = false }]",
        "plots = [\"loss.csv\"]",
        "frozen = true",
        "[stage.\"sub.count\"]\ncmd = \"wc -l < ../data/raw/a.txt > count.txt && echo 3 >> count.txt\"\nwdir = \"sub\"",
        "params = [{ file = \"sub/params.yaml\", keys = [\"factor\"] }]",
    ] {
        r.out_has(s);
    }
    for s in [
        "dvc.yaml:3: vars `vars/nested.yaml:report`",
        "dvc.yaml:18: stage `featurize` over `${seeds}` is expanded at import",
        "dvc.yaml:66: stage `summarize`: plot `loss.csv`'s `x` is not carried",
        "dvc.yaml:70: stage `summarize`: `meta` is not carried",
        "dvc.yaml:80: plot `reports/loss.csv`: its template",
    ] {
        r.out_has(s);
    }
    p.write("pipe.toml", "# mine\n");
    p.pipe(&["import-dvc"]).code(2).err_has("--force");
    assert_eq!(p.read("pipe.toml"), "# mine\n");
}

#[test]
fn dvc_yaml_errors_point_at_their_line() {
    let p = Project::new().file("params.yaml", "a: 1\n").file(
        "dvc.yaml",
        "stages:\n  s:\n    foreach: ${nope}\n    do:\n      cmd: echo\n",
    );
    p.pipe(&["import-dvc"])
        .code(2)
        .err_has("`${nope}` is not defined")
        .err_has("dvc.yaml:3:");
    let p = Project::new().file("dvc.yaml", "stages:\n  s:\n    cmd: [echo\n");
    p.pipe(&["import-dvc"])
        .code(2)
        .err_has("invalid YAML")
        .err_has("dvc.yaml:");
    assert!(!p.exists("pipe.toml"));
}

/// DVC fills in the `${...}` inside foreach items and matrix values from vars and params
/// before it names the instances: pipe names them as `dvc stage list` does.
#[test]
fn templates_inside_foreach_items_and_matrix_values_are_filled_in_as_dvc_does() {
    let p = Project::new()
        .file("params.yaml", "model:\n  name: cnn\n  lr: 0.1\n")
        .file(
            "dvc.yaml",
            "stages:\n  t:\n    foreach: [1, \"${model.lr}\", \"a-${model.name}\"]\n    do:\n      cmd: echo ${item} > t-${item}.txt\n      outs: [\"t-${item}.txt\"]\n  m:\n    matrix:\n      model: [\"${model.name}\", lin]\n    cmd: echo ${item.model} > m-${item.model}.txt\n    outs: [\"m-${item.model}.txt\"]\n",
        );
    dvc(&p, &["init", "-q", "--no-scm"]);
    let listed = dvc(&p, &["stage", "list"]);
    let r = p.pipe(&["import-dvc", "--dry"]).ok();
    for (dvc_name, pipe_name, out) in [
        ("t@1", "t.1", "t-1.txt"),
        ("t@0.1", "t.0.1", "t-0.1.txt"),
        ("t@a-cnn", "t.a-cnn", "t-a-cnn.txt"),
        ("m@cnn", "m.cnn", "m-cnn.txt"),
        ("m@lin", "m.lin", "m-lin.txt"),
    ] {
        assert!(listed.contains(dvc_name), "dvc names {dvc_name}:\n{listed}");
        r.out_has(&format!("[stage.\"{pipe_name}\"]"))
            .out_has(&format!("outs = [\"{out}\"]"));
    }
    r.out_has("dvc.yaml:3: stage `t`: items reading `${model.lr}`, `${model.name}` are filled in at import");
    let toml: Vec<&str> = r.stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        toml.iter().all(|l| !l.contains("${")),
        "every template filled in:\n{}",
        r.stdout
    );
}

/// A DVC `matrix` is a product too: nine axes of ten values are counted, not made.
#[test]
fn a_dvc_matrix_of_more_stages_than_a_pipeline_holds_is_refused() {
    let axes: String = (0..9)
        .map(|i| format!("      k{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n"))
        .collect();
    let p = Project::new().file(
        "dvc.yaml",
        &format!("stages:\n  train:\n    matrix:\n{axes}    cmd: echo ${{item.k0}}\n"),
    );
    p.pipe(&["import-dvc"])
        .code(2)
        .err_has("stage `train`: its matrix makes 1000000000 instances")
        .err_has("at most 100000 stages")
        .err_has("dvc.yaml:4:");
    assert!(!p.exists("pipe.toml") && !p.exists("pipe.lock"));
}

fn md5_hex(s: &str) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(s.as_bytes()))
}

/// What DVC 3 says of a project it cannot read: `dvc status` fails, with its words.
#[track_caller]
fn dvc_refuses(p: &Project, says: &str) {
    let (ok, all) = dvc_output(p, &["status"]);
    assert!(!ok && all.contains(says), "dvc status:\n{all}");
}

/// A project of DVC before 1.0: every stage in a file of its own (`dvc run -o model.txt`
/// wrote `model.txt.dvc`; `Dvcfile` in a subdirectory, with `wdir: ..`), the md5s of its
/// last run in the same file, a params dependency as DVC 0.9x wrote it, beside a `.dvc`
/// file of `dvc add`. DVC 3 refuses such files; pipe imports the stages, up to date where
/// the workspace still matches, and reads a change of param as a change.
#[test]
fn single_stage_files_of_dvc_before_1_0_are_imported_as_stages() {
    let raw = "a\nb\nc\n";
    let lines = "3\n";
    let p = Project::new()
        .file(".dvc/config", "[core]\n    no_scm = true\n")
        .file("data/raw.txt", raw)
        .file("params.yaml", "train:\n  seed: 3\n")
        .file("model.txt", raw)
        .file("eval/lines.txt", lines)
        .file("copy.txt", raw);
    p.write(
        "data/raw.txt.dvc",
        &format!(
            "md5: 1\nouts:\n- cache: true\n  md5: {}\n  metric: false\n  path: raw.txt\n  persist: false\nwdir: .\n",
            md5_hex(raw)
        ),
    );
    p.write(
        "model.txt.dvc",
        &format!(
            "md5: 9ad4a6f8\ncmd: cp data/raw.txt model.txt\ndeps:\n- md5: {m}\n  path: data/raw.txt\n- path: params.yaml\n  params:\n    train.seed: 3\nouts:\n- md5: {m}\n  path: model.txt\n  cache: true\n  metric: false\n  persist: false\n",
            m = md5_hex(raw)
        ),
    );
    p.write(
        "eval/Dvcfile",
        &format!(
            "cmd: wc -l < model.txt > eval/lines.txt\nwdir: ..\ndeps:\n- md5: {}\n  path: model.txt\nouts:\n- md5: {}\n  path: eval/lines.txt\n  cache: false\n  metric: true\n",
            md5_hex(raw),
            md5_hex(lines)
        ),
    );
    // Its dep changed since the file was written: stale, with the file named.
    p.write(
        "copy.txt.dvc",
        &format!(
            "cmd: cp data/raw.txt copy.txt\ndeps:\n- md5: {}\n  path: data/raw.txt\nouts:\n- md5: {}\n  path: copy.txt\n",
            md5_hex("old\n"),
            md5_hex(raw)
        ),
    );
    dvc_refuses(&p, "extra keys not allowed");

    let r = p.pipe(&["-v", "import-dvc"]).ok();
    r.err_has("copy.txt: dep data/raw.txt changed since copy.txt.dvc");
    r.err_has("Imported 2 of 3 stages up to date from their single-stage files");
    // The defaults DVC before 1.0 wrote on every out are not named as not carried.
    r.err_lacks("`metric` is not carried");
    r.err_has("model.txt.dvc:2: the single-stage file format (DVC before 1.0; DVC 3 refuses it) is not kept: its stage is carried, as `model.txt`");
    let toml = p.read("pipe.toml");
    for s in [
        "[data]\n\"data/raw.txt\" = {}",
        "[stage.\"model.txt\"]\ncmd = \"cp data/raw.txt model.txt\"\ndeps = [\"data/raw.txt\"]\nparams = [{ file = \"params.yaml\", keys = [\"train.seed\"] }]\nouts = [\"model.txt\"]",
        "[stage.\"eval.Dvcfile\"]\ncmd = \"wc -l < model.txt > eval/lines.txt\"\ndeps = [\"model.txt\"]\nmetrics = [{ path = \"eval/lines.txt\", cache = false }]",
    ] {
        assert!(toml.contains(s), "{s} in\n{toml}");
    }
    let st = p.pipe(&["status"]).ok();
    st.out_has("copy.txt: stale");
    let r = p.pipe(&["repro", "eval.Dvcfile"]).ok();
    assert!(r.ran().is_empty(), "{r}");

    p.write("params.yaml", "train:\n  seed: 4\n");
    p.pipe(&["status", "model.txt"])
        .ok()
        .out_has("param train.seed 3 -> 4");
    let r = p.pipe(&["repro", "model.txt"]).ok();
    assert_eq!(r.ran(), vec!["model.txt"]);
}

/// DVC 1's dvc.lock: the stages at the top level, no `schema`. DVC 3 refuses it; pipe
/// reads it as DVC 2 did, and the stage it matches imports up to date.
#[test]
fn a_dvc_lock_of_dvc_1_is_read() {
    let text = "hello\n";
    let p = Project::new()
        .file(".dvc/config", "[core]\n    no_scm = true\n")
        .file("in.txt", text)
        .file("out.txt", text)
        .file("params.yaml", "seed: 3\n")
        .file(
            "dvc.yaml",
            "stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps:\n    - in.txt\n    params:\n    - seed\n    outs:\n    - out.txt\n",
        );
    p.write(
        "dvc.lock",
        &format!(
            "copy:\n  cmd: cp in.txt out.txt\n  deps:\n  - path: in.txt\n    md5: {m}\n  params:\n    params.yaml:\n      seed: 3\n  outs:\n  - path: out.txt\n    md5: {m}\n",
            m = md5_hex(text)
        ),
    );
    dvc_refuses(&p, "required key not provided");
    p.pipe(&["import-dvc"])
        .ok()
        .err_has("Imported 1 of 1 stages up to date from dvc.lock");
    p.pipe(&["status"])
        .ok()
        .out_has("Everything is up to date (1 stage)");
    p.write("params.yaml", "seed: 4\n");
    p.pipe(&["status"]).ok().out_has("param seed 3 -> 4");
}
