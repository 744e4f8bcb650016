//! What users read, pinned as snapshots: `pipe status`, `pipe repro --dry`, `pipe explain`
//! and the errors of bad pipelines and failed stages, each as the session a user would
//! type (`$ pipe ...`, exit code, stdout, stderr).
//!
//! What differs between runs and machines is replaced before comparing: the temporary
//! workspace by `[ROOT]`, digests by `[HASH]`, durations by `[ELAPSED]`, the platform by
//! `[PLATFORM]`. A snapshot that differs fails the test; to accept a deliberate change,
//! run the test with `INSTA_UPDATE=always`, read the `.snap` diff and commit it.
//!
//! The snapshots live in `tests/it/snapshots/`. None depends on the build's features (no
//! built-in stage is used), so they hold with and without `torch`.

use crate::support::{Project, Run, three_stages};

/// The replacements applied to every snapshot of this module, for the workspace `p`.
fn settings(p: &Project) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    let mut roots = vec![p.root().display().to_string()];
    if let Ok(c) = p.root().canonicalize() {
        roots.push(c.display().to_string());
    }
    for root in roots {
        s.add_filter(&regex_escape(&root), "[ROOT]");
    }
    // Workspaces of other projects a test made (`Project::new` names them `pipe-it-*`).
    s.add_filter(r#"/[^\s`'"]*/pipe-it-[A-Za-z0-9_]+"#, "[ROOT]");
    let platform = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    s.add_filter(&regex_escape(&platform), "[PLATFORM]");
    // blake3 digests, whole (64 hex digits) or shortened.
    s.add_filter(r"\b[0-9a-f]{8,64}\b", "[HASH]");
    // Durations, as `report::printer::elapsed` writes them: `0.3s`, `2m03s`.
    s.add_filter(r"\b(\d+m)?\d+(\.\d+)?s\b", "[ELAPSED]");
    s
}

/// `s` with every regex metacharacter escaped.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The commands run one after the other in `p`, shown as a terminal session would show them.
fn session(p: &Project, commands: &[&[&str]]) -> String {
    let mut out = String::new();
    for args in commands {
        let r = p.pipe(args);
        out.push_str(&shown(args, &r));
    }
    out
}

fn shown(args: &[&str], r: &Run) -> String {
    let mut out = format!("$ pipe {}\nexit {}\n", args.join(" "), r.code);
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        if !text.is_empty() {
            out.push_str(&format!("--- {name}\n{text}"));
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out.push('\n');
    out
}

#[test]
fn status_through_a_pipelines_life() {
    let p = three_stages();
    let mut text = session(&p, &[&["status"], &["repro", "-q"], &["status"]]);
    p.write("params.toml", "[train]\nlr = 0.01\nepochs = 3\n");
    p.write("src/c.txt", "gamma 2\n");
    text.push_str(&session(&p, &[&["status"], &["status", "--json"]]));
    p.write("params.toml", "[train]\nlr = 0.001\nepochs = 3\n");
    p.write("src/c.txt", "gamma\n");
    p.remove("b.txt");
    text.push_str(&session(&p, &[&["status"], &["status", "-v", "c"]]));
    settings(&p).bind(|| insta::assert_snapshot!("status", text));
}

#[test]
fn repro_dry_names_what_would_run_or_be_restored() {
    let p = three_stages();
    let mut text = session(&p, &[&["repro", "--dry"]]);
    p.pipe(&["repro"]).ok();
    text.push_str(&session(&p, &[&["repro", "--dry"]]));
    p.write("params.toml", "[train]\nlr = 0.5\nepochs = 3\n");
    text.push_str(&session(&p, &[&["repro", "--dry"], &["repro", "-j", "1"]]));
    p.write("params.toml", "[train]\nlr = 0.001\nepochs = 3\n");
    text.push_str(&session(
        &p,
        &[
            &["repro", "--dry"],
            &["repro", "--dry", "--no-run-cache"],
            &["repro", "--dry", "-f", "-s", "b"],
        ],
    ));
    assert!(
        !p.read("b.txt").contains("lr=0.001"),
        "--dry changed an out"
    );
    settings(&p).bind(|| insta::assert_snapshot!("repro_dry", text));
}

#[test]
fn explain_shows_the_state_and_the_run_cache_key() {
    let p = three_stages().file(
        "pipe.toml",
        r#"[stage.a]
desc = "Prepares the data"
cmd = "mkdir -p data && cat src/a.txt > data/a.txt && echo lr=${train.lr} >> data/a.txt"
params = ["train.lr"]
deps = ["src/a.txt"]
outs = ["data/a.txt"]
env = ["PIPE_SNAPSHOT_UNSET_VARIABLE"]

[stage.c]
cmd = "cp src/c.txt c.txt"
deps = ["src/c.txt"]
outs = ["c.txt"]
frozen = true
"#,
    );
    let mut text = session(&p, &[&["explain", "a"]]);
    p.pipe(&["repro", "a"]).ok();
    text.push_str(&session(
        &p,
        &[&["explain", "a"], &["explain", "data/a.txt"]],
    ));
    p.write("params.toml", "[train]\nlr = 0.2\nepochs = 3\n");
    text.push_str(&session(&p, &[&["explain", "a"], &["explain", "c"]]));
    settings(&p).bind(|| insta::assert_snapshot!("explain", text));
}

/// A pipeline file that does not parse, or names what does not exist: one error each, at
/// its file:line:col, exit 2.
#[test]
fn errors_in_the_pipeline_file() {
    let cases: &[(&str, &str)] = &[
        ("malformed_toml", "[stage.a]\ncmd = \"x\nouts = []\n"),
        ("unknown_key", "[stage.a]\ncmd = \"true\"\ndepz = [\"x\"]\n"),
        (
            "cycle",
            "[stage.a]\ncmd = \"true\"\ndeps = [\"c.txt\"]\nouts = [\"a.txt\"]\n\n[stage.b]\ncmd = \"true\"\ndeps = [\"a.txt\"]\nouts = [\"b.txt\"]\n\n[stage.c]\ncmd = \"true\"\ndeps = [\"b.txt\"]\nouts = [\"c.txt\"]\n",
        ),
        (
            "newline_in_out",
            "[stage.a]\ncmd = \"true\"\nouts = [\"out.txt\", \"a\\nb\"]\n",
        ),
        (
            "nul_in_dep",
            "[stage.a]\ncmd = \"true\"\ndeps = [\"in.txt\\u0000\"]\n",
        ),
        ("no_stages", "# all stages removed\n[vars]\nx = 1\n"),
        (
            "template_in_vars",
            "[vars]\nx = \"${y}\"\ny = \"${x}\"\n\n[stage.a]\ncmd = \"echo ${x}\"\n",
        ),
        (
            "escaping_out",
            "[stage.a]\ncmd = \"true\"\nouts = [\"../x\"]\n",
        ),
        (
            "unknown_param",
            "[stage.a]\ncmd = \"true\"\nparams = [\"train.lrr\"]\n",
        ),
    ];
    let mut text = String::new();
    for (name, spec) in cases {
        let p = Project::new()
            .file("params.toml", "[train]\nlr = 0.1\n")
            .file("in.txt", "x")
            .file("pipe.toml", spec);
        let r = p.pipe(&["status"]);
        assert_eq!(r.code, 2, "{name}\n{r}");
        text.push_str(&format!("## {name}\n{}", shown(&["status"], &r)));
    }
    let root = Project::new();
    settings(&root).bind(|| insta::assert_snapshot!("pipeline_errors", text));
}

#[test]
fn errors_in_params_files() {
    let p = Project::new().file("params.toml", "").file(
        "pipe.toml",
        "[stage.a]\ncmd = \"true\"\nparams = [\"train.lr\"]\n",
    );
    std::fs::write(
        p.path("params.toml"),
        b"[train]\nlr = 0.1\nname = \"caf\xe9\"\n",
    )
    .expect("write");
    let mut text = session(&p, &[&["status"]]);
    let key = vec!["a"; 80].join(".");
    p.write("params.toml", &format!("[train]\nlr = 0.1\n{key} = 1\n"));
    text.push_str(&session(&p, &[&["status"]]));
    p.remove("params.toml");
    text.push_str(&session(&p, &[&["status"]]));
    settings(&p).bind(|| insta::assert_snapshot!("params_errors", text));
}

#[test]
fn errors_naming_an_unknown_stage() {
    let p = three_stages();
    let text = session(
        &p,
        &[
            &["repro", "nope"],
            &["status", "nope"],
            &["explain", "nope"],
            &["checkout", "nope"],
        ],
    );
    assert!(!p.exists("pipe.lock"));
    settings(&p).bind(|| insta::assert_snapshot!("unknown_stage", text));
}

#[test]
fn errors_of_stages_that_fail() {
    let p = Project::new().file("v.txt", "1").file(
        "pipe.toml",
        r#"[stage.s]
cmd = "echo working >&2; echo boom >&2; exit 3"
deps = ["v.txt"]
outs = ["out.txt"]

[stage.after]
cmd = "cat out.txt > after.txt"
deps = ["out.txt"]
outs = ["after.txt"]

[stage.lazy]
cmd = "true"
outs = ["never.txt"]
"#,
    );
    let text = session(
        &p,
        &[&["repro", "s", "after"], &["repro", "lazy"], &["status"]],
    );
    assert!(!p.exists("pipe.lock"));
    settings(&p).bind(|| insta::assert_snapshot!("failed_stages", text));
}

/// The filters themselves: a snapshot is only as good as what they leave alone.
#[test]
fn the_filters_replace_only_what_varies() {
    let p = Project::new();
    let line = format!(
        "{}/out.txt {} in 0.3s, 2m03s; -j 1 s; 3 stages a3 lr=0.001 exit 3; {}\n",
        p.root().display(),
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        Project::new().path("other").display()
    );
    settings(&p).bind(|| insta::assert_snapshot!("filters", line,));
}
