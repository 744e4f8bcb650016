//! Every kind of bad pipeline gets one clear error naming the file, line and column, exit
//! code 2, and touches nothing.

use crate::support::Project;

#[track_caller]
fn rejects(spec: &str, message: &str, location: &str) {
    let p = Project::new()
        .file("params.toml", "[train]\nlr = 0.1\n")
        .file("in.txt", "x")
        .file("pipe.toml", spec);
    let r = p.pipe(&["status"]);
    let r = r.code(2);
    r.err_has(message).err_has(location);
    assert_eq!(r.stderr.matches("error:").count(), 1, "one error\n{r}");
    assert!(!p.exists("pipe.lock"));
}

#[test]
fn malformed_toml() {
    rejects(
        "[stage.a]\ncmd = \"x\nouts = []\n",
        "invalid",
        "pipe.toml:2:",
    );
}

#[test]
fn unknown_keys_and_wrong_types() {
    rejects(
        "[stage.a]\ncmd = \"true\"\ndepz = [\"x\"]\n",
        "unknown field `depz`",
        "pipe.toml:3:1",
    );
    rejects(
        "[stage.a]\ncmd = 3\n",
        "a command string or an array of command strings",
        "pipe.toml:2:7",
    );
    rejects(
        "[stage.a]\ncmd = \"true\"\nretries = \"x\"\n",
        "invalid type",
        "pipe.toml:3:11",
    );
    rejects(
        "[stages.a]\ncmd = \"true\"\n",
        "unknown field `stages`",
        "pipe.toml:1:2",
    );
    rejects(
        "[stage.a]\ncmd = \"true\"\nouts = [{ path = \"o\", cahce = false }]\n",
        "unknown field `cahce`",
        "pipe.toml:3:",
    );
}

#[test]
fn cmd_and_uses() {
    rejects(
        "[stage.a]\ndeps = []\n",
        "stage `a` has neither `cmd` nor `uses`",
        "pipe.toml:1:",
    );
    rejects(
        "[stage.a]\ncmd = \"x\"\nuses = \"train\"\n",
        "stage `a` has both `cmd` and `uses`",
        "pipe.toml:3:8",
    );
}

#[test]
fn unknown_param_key() {
    rejects(
        "[stage.a]\ncmd = \"true\"\nparams = [\"train.lrr\"]\n",
        "stage `a` reads param `train.lrr`: no param `train.lrr` in params.toml (did you mean `train.lr`?)",
        "pipe.toml:3:11",
    );
    rejects(
        "[stage.a]\ncmd = \"echo ${train.momentum}\"\n",
        "unknown variable `train.momentum`",
        "pipe.toml:2:13",
    );
}

/// A dep that is missing and made by no stage does not stop the pipeline from loading (a
/// fresh clone, a file not yet written, as DVC): the stage is stale and says which dep is
/// missing, the others run, and `repro` fails that stage naming the file, running nothing
/// of it.
#[test]
fn a_dep_nobody_makes_leaves_its_stage_stale_and_unrunnable() {
    let p = Project::new()
        .file("in.txt", "x")
        .file(
            "pipe.toml",
            "[stage.a]\ncmd = \"touch ran.txt\"\ndeps = [\"in.txt\", \"missing.csv\"]\n\n[stage.b]\ncmd = \"cp in.txt b.txt\"\ndeps = [\"in.txt\"]\nouts = [\"b.txt\"]\n",
        );
    let st = p.pipe(&["status"]).ok();
    st.out_has("a: stale").out_has("dep missing.csv missing");
    let r = p.pipe(&["repro", "--keep-going"]).code(3);
    r.err_has("dep `missing.csv` of stage `a` does not exist, and no stage makes it");
    assert!(!p.exists("ran.txt"), "the stage's command ran\n{r}");
    assert_eq!(p.read("b.txt"), "x", "the other stage did not run\n{r}");
    // Once it exists, the stage runs.
    p.write("missing.csv", "1\n");
    p.pipe(&["repro"]).ok();
    assert!(p.exists("ran.txt"));
}

#[test]
fn two_stages_writing_one_out() {
    rejects(
        "[stage.a]\ncmd = \"true\"\nouts = [\"o\"]\n\n[stage.b]\ncmd = \"true\"\nouts = [\"o\"]\n",
        "stages `a` and `b` both write `o`",
        "pipe.toml:7:9",
    );
}

#[test]
fn an_out_inside_another_out() {
    rejects(
        "[stage.a]\ncmd = \"true\"\nouts = [\"data\"]\n\n[stage.b]\ncmd = \"true\"\nouts = [\"data/x\"]\n",
        "out `data/x` of stage `b` lies inside out `data` of stage `a`",
        "pipe.toml:7:9",
    );
}

#[test]
fn outs_that_escape_the_workspace() {
    rejects(
        "[stage.a]\ncmd = \"true\"\nouts = [\"../x\"]\n",
        "outs of stage `a`: `../x` leaves the workspace",
        "pipe.toml:3:9",
    );
    rejects(
        "[stage.a]\ncmd = \"true\"\nouts = [\"/etc/x\"]\n",
        "`/etc/x` is absolute",
        "pipe.toml:3:9",
    );
    rejects(
        "[stage.a]\ncmd = \"true\"\nouts = [\".pipe/x\"]\n",
        "cannot write `.pipe/x`",
        "pipe.toml:3:9",
    );
}

#[test]
fn cycles_are_printed_in_order() {
    rejects(
        "[stage.a]\ncmd = \"true\"\ndeps = [\"c.txt\"]\nouts = [\"a.txt\"]\n\n[stage.b]\ncmd = \"true\"\ndeps = [\"a.txt\"]\nouts = [\"b.txt\"]\n\n[stage.c]\ncmd = \"true\"\ndeps = [\"b.txt\"]\nouts = [\"c.txt\"]\n",
        "the stages form a cycle: a -> b -> c",
        "pipe.toml:1:8",
    );
}

#[test]
fn a_stage_depending_on_its_own_out() {
    rejects(
        "[stage.a]\ncmd = \"true\"\ndeps = [\"o/x\"]\nouts = [\"o\"]\n",
        "stage `a` depends on its own out `o`",
        "pipe.toml:3:9",
    );
}

#[test]
fn bad_names_and_sizes() {
    rejects(
        "[stage.\"a b\"]\ncmd = \"true\"\n",
        "stage name `a b` may hold only",
        "pipe.toml:1:8",
    );
    rejects(
        "[stage.a]\ncmd = \"true\"\nresources = { mem = \"4Q\" }\n",
        "unknown unit",
        "pipe.toml:3:21",
    );
    rejects(
        "[stage.a]\ncmd = \"true\"\nenv = [\"NOT-A-NAME\"]\n",
        "is not an environment variable name",
        "pipe.toml:3:8",
    );
}

#[test]
fn a_missing_pipeline_file_says_where_it_looked() {
    let p = Project::new();
    p.pipe(&["status"])
        .code(2)
        .err_has("no pipeline file at")
        .err_has("pipe.toml");
    p.pipe(&["-f", "other.toml", "status"])
        .code(2)
        .err_has("other.toml");
}

#[test]
fn a_missing_params_file_is_named() {
    let p = Project::new().file(
        "pipe.toml",
        "[stage.a]\ncmd = \"true\"\nparams = [\"train.lr\"]\n",
    );
    p.pipe(&["status"])
        .code(2)
        .err_has("params file params.toml does not exist");
}

/// A minified JSON params file is one long line: an error in it names the place without
/// printing the line (a line past 65,535 columns once crashed the error printer).
#[test]
fn an_error_on_a_very_long_line_names_the_place_without_printing_the_line() {
    let mut json: String = (0..20_000).map(|i| format!("\"k{i}\": {i}, ")).collect();
    json.insert(0, '{');
    json.push_str("\"bad\": }");
    let p = Project::new().file("params.json", &json).file(
        "pipe.toml",
        "[pipeline]\nparams = [\"params.json\"]\n[stage.a]\ncmd = \"echo ${k1} > a.txt\"\nouts = [\"a.txt\"]\n",
    );
    let at = format!("params.json:1:{}", json.len());
    let r = p.pipe(&["repro"]).code(2);
    r.err_has("invalid JSON params")
        .err_has(&at)
        .err_has("not shown");
    assert!(
        r.stderr.len() < 1000,
        "the line is printed\n{}",
        r.stderr.len()
    );
    assert!(!p.exists("pipe.lock"));
    // The same in a pipeline file: a long line of TOML.
    let long = format!(
        "[stage.a]\ncmd = \"true\"\ndeps = [{}\"x\", 3]\n",
        "\"d\", ".repeat(20_000)
    );
    let p = Project::new().file("pipe.toml", &long);
    let r = p.pipe(&["status"]).code(2);
    r.err_has("pipe.toml:3:").err_has("not shown");
    assert!(
        r.stderr.len() < 1000,
        "the line is printed\n{}",
        r.stderr.len()
    );
}

/// A stage names files (its log): a name longer than a file name may be is refused at its
/// line, as is a sweep cell whose values make one, shown cut short.
#[test]
fn a_stage_id_too_long_for_a_file_name_is_refused_where_it_is_made() {
    let long = "s".repeat(300);
    rejects(
        &format!("[stage.{long}]\ncmd = \"true\"\n"),
        "is longer than 251 bytes",
        "pipe.toml:1:8",
    );
    let value = "x".repeat(70_000);
    let spec = format!(
        "[stage.a]\ncmd = \"echo ${{train.tag}} > ${{outs[0]}}\"\nouts = [\"o.txt\"]\n\n[sweep.s]\nstages = [\"a\"]\nmatrix = {{ \"train.tag\" = [\"{value}\", \"y\"] }}\n"
    );
    let p = Project::new()
        .file("params.toml", "[train]\ntag = \"y\"\n")
        .file("pipe.toml", &spec);
    for args in [&["dag"][..], &["sweep", "s"]] {
        let r = p.pipe(args).code(2);
        r.err_has("sweep `s`: cell `tag=xxxx")
            .err_has("...` (70004 bytes) makes stage `a@tag=")
            .err_has("not shown")
            .err_has("pipe.toml:7:")
            .err_has("name the cell");
        assert!(r.stderr.len() < 2000, "{}", r.stderr.len());
    }
    assert!(!p.exists("sweeps") && !p.exists("pipe.lock"));
}

/// A product of value lists grows past any machine (twelve keys of ten values: 10^12
/// cells): it is counted, not made, and refused at the sweep.
#[test]
fn a_sweep_of_more_stages_than_a_pipeline_holds_is_refused_before_it_is_made() {
    let keys: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();
    let params: String = keys.iter().map(|k| format!("{k} = 0\n")).collect();
    let reads: Vec<String> = keys.iter().map(|k| format!("${{{k}}}")).collect();
    let axes: Vec<String> = keys
        .iter()
        .map(|k| format!("\"{k}\" = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"))
        .collect();
    let spec = format!(
        "[stage.a]\ncmd = \"echo {} > ${{outs[0]}}\"\nouts = [\"o.txt\"]\n\n[sweep.big]\nstages = [\"a\"]\nmatrix = {{ {} }}\n",
        reads.join(" "),
        axes.join(", ")
    );
    let p = Project::new()
        .file("params.toml", &params)
        .file("pipe.toml", &spec);
    for args in [&["dag"][..], &["sweep", "big"]] {
        p.pipe(args)
            .code(2)
            .err_has("sweep `big` makes 1000000000000 stage instances")
            .err_has("at most 100000 stages")
            .err_has("pipe.toml:5:")
            .err_has("10 `k0` x 10 `k1`");
    }
    // Seeds multiply too: 10,000 cells x 11 seeds.
    let spec = "[stage.a]\ncmd = \"echo ${k0} ${k1} ${k2} ${k3} ${seed} > ${outs[0]}\"\nouts = [\"o.txt\"]\n\n[sweep.s]\nstages = [\"a\"]\nseeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nseed_key = \"seed\"\nmatrix = { k0 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], k1 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], k2 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], k3 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }\n";
    p.write("pipe.toml", spec);
    p.write("params.toml", "k0 = 0\nk1 = 0\nk2 = 0\nk3 = 0\nseed = 0\n");
    p.pipe(&["status"])
        .code(2)
        .err_has("110000 stage instances (10000 cells x 11 seed(s) x 1 stage(s))");
    assert!(!p.exists("sweeps") && !p.exists("pipe.lock"));
    // Written out by hand (or by a script) counts too.
    let many: String = (0..100_001)
        .map(|i| format!("[stage.s{i}]\ncmd = \"true\"\n"))
        .collect();
    p.write("pipe.toml", &many);
    p.pipe(&["status"])
        .code(2)
        .err_has("the pipeline holds 100001 stages and tracked data; it holds at most 100000")
        .err_has("pipe.toml:20000");
}

/// What no system call takes is refused where it is written, before a stage runs: a name
/// of more than 255 bytes, a path of more than 4,095, a command of 128 KiB or more (one
/// argument of `sh -c`). A large value used many times is refused before it is made.
#[test]
fn a_path_or_command_longer_than_the_system_takes_is_refused_at_its_line() {
    let big = "a".repeat(5_000);
    let cases: [(&str, String, &str, &str); 4] = [
        (
            "[stage.a]\ncmd = \"touch ${outs[0]}\"\nouts = [\"out/${x}\"]\n",
            format!("x = \"{}\"\n", "a/".repeat(2_500)),
            "the path is 5003 bytes; a path holds at most 4095",
            "pipe.toml:3:9",
        ),
        (
            "[stage.a]\ncmd = \"touch ${outs[0]}\"\nouts = [\"ok/${x}/o.txt\"]\n",
            format!("x = \"{}\"\n", &big[..300]),
            "`aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...` is a name of 300 bytes; a file or directory name holds at most 255",
            "pipe.toml:3:9",
        ),
        (
            "[stage.a]\ncmd = \"echo ${x} > o.txt\"\nouts = [\"o.txt\"]\n",
            format!("x = \"{}\"\n", "a".repeat(200_000)),
            "the command is more than 131071 bytes once its `${...}` are filled in (this one is 200000 bytes)",
            "pipe.toml:2:13",
        ),
        (
            // Five thousand uses of a megabyte would be five gigabytes.
            &format!(
                "[stage.a]\ncmd = \"echo {} > o.txt\"\nouts = [\"o.txt\"]\n",
                "${x}".repeat(5_000)
            ),
            format!("x = \"{}\"\n", "a".repeat(1_000_000)),
            "the command is more than 131071 bytes",
            "pipe.toml:2:",
        ),
    ];
    for (spec, params, message, location) in cases {
        let p = Project::new()
            .file("params.toml", &params)
            .file("pipe.toml", spec);
        let r = p.pipe(&["repro"]).code(2);
        r.err_has(message).err_has(location);
        assert!(r.stderr.len() < 4_000, "{}", r.stderr.len());
        assert!(!p.exists("pipe.lock") && !p.exists("o.txt") && !p.exists("ok"));
    }
}

/// A name becomes a directory: `..` would put a cell's outs beside its sweep's, `.git` a
/// cell's outs inside git's own directory. Each is refused at its line, nothing written.
#[test]
fn names_of_dots_and_cells_inside_the_workspaces_own_are_refused() {
    let sweep = |rest: &str| {
        format!(
            "[stage.a]\ncmd = \"echo ${{train.lr}} > ${{outs[0]}}\"\nouts = [\"o.txt\"]\n\n[sweep.s]\nstages = [\"a\"]\n{rest}\n"
        )
    };
    rejects(
        "[stage.\"..\"]\ncmd = \"true\"\n",
        "and not only dots",
        "pipe.toml:1:8",
    );
    for name in ["..", "."] {
        rejects(
            &sweep(&format!(
                "cells = [{{ name = \"{name}\", \"train.lr\" = 0.2 }}]"
            )),
            "not only dots (it names the cell's directory)",
            "pipe.toml:7:19",
        );
    }
    rejects(
        &sweep("dir = \".\"\ncells = [{ name = \".git\", \"train.lr\" = 0.2 }]"),
        "sweep `s`: cell `.git` would write its outs under `.git`: it is the workspace's own",
        "pipe.toml:5:8",
    );
    rejects(
        &sweep("dir = \"runs/.pipe\"\nmatrix = { \"train.lr\" = [0.2] }"),
        "dir `runs/.pipe` is the workspace's own",
        "pipe.toml:7:7",
    );
}

#[test]
fn an_unreadable_dep_names_the_file_and_keeps_state() {
    let p = Project::new().file("data/ok.txt", "x").file(
        "pipe.toml",
        "[stage.a]\ncmd = \"ls data > o.txt\"\ndeps = [\"data\"]\nouts = [\"o.txt\"]\n",
    );
    p.pipe(&["repro"]).ok();
    let lock = p.read("pipe.lock");
    std::os::unix::fs::symlink(p.path("nowhere"), p.path("data/dangling")).expect("symlink");
    let r = p.pipe(&["repro"]);
    assert_ne!(r.code, 0, "{r}");
    r.err_has("data/dangling");
    assert_eq!(p.read("pipe.lock"), lock);
}

/// A workspace (git repository, `pipe init`, one run) whose files are then replaced by
/// `bad`: `pipe repro` and `pipe status` must refuse with `message` at `location`, exit 2,
/// and leave the lock, the `.gitignore`, the outs and the cache as they were.
#[track_caller]
fn refused_after_a_run(bad: &[(&str, &[u8])], message: &str, location: &str) {
    let p = Project::new()
        .file("params.toml", "[train]\nlr = 0.1\n")
        .file("in.txt", "x")
        .file(
            "pipe.toml",
            "[stage.a]\ncmd = \"cp in.txt out.txt\"\ndeps = [\"in.txt\"]\nouts = [\"out.txt\"]\n",
        );
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(p.root())
        .status()
        .expect("git");
    assert!(git.success());
    p.pipe(&["init"]).ok();
    p.pipe(&["repro"]).ok();
    let state = |p: &Project| {
        (
            p.read("pipe.lock"),
            p.read(".gitignore"),
            p.read("out.txt"),
            p.cache_objects(),
        )
    };
    let before = state(&p);
    assert!(before.1.contains("/out.txt"), "{}", before.1);
    for (path, bytes) in bad {
        let _ = std::fs::remove_file(p.path(path));
        std::fs::write(p.path(path), bytes).expect("write");
    }
    for cmd in ["repro", "status"] {
        let r = p.pipe(&[cmd]).code(2);
        r.err_has(message).err_has(location);
        assert_eq!(r.stderr.matches("error:").count(), 1, "one error\n{r}");
        assert!(r.ran().is_empty(), "{r}");
    }
    assert_eq!(state(&p), before, "nothing may change");
}

#[test]
fn a_newline_in_an_out_is_refused() {
    refused_after_a_run(
        &[(
            "pipe.toml",
            b"[stage.a]\ncmd = \"cp in.txt out.txt\"\ndeps = [\"in.txt\"]\nouts = [\"out.txt\", \"a\\nb\"]\n",
        )],
        "outs of stage `a`: \"a\\nb\" holds the control character U+000A",
        "pipe.toml:4:20",
    );
}

#[test]
fn a_nul_in_a_path_is_refused() {
    refused_after_a_run(
        &[(
            "pipe.toml",
            b"[stage.a]\ncmd = \"cp in.txt out.txt\"\ndeps = [\"in.txt\\u0000\"]\nouts = [\"out.txt\"]\n",
        )],
        "dep of stage `a`: \"in.txt\\0\" holds the control character U+0000",
        "pipe.toml:3:9",
    );
    refused_after_a_run(
        &[(
            "pipe.toml",
            b"[stage.a]\ncmd = \"cp in.txt out.txt\"\ndeps = [\"in.txt\"]\nouts = [\"out\\u0000.txt\"]\n",
        )],
        "holds the control character U+0000",
        "pipe.toml:4:9",
    );
}

#[test]
fn a_pipeline_without_stages_is_refused() {
    refused_after_a_run(
        &[("pipe.toml", b"")],
        "pipe.toml defines no stages",
        "pipe.toml:1:1",
    );
    refused_after_a_run(
        &[("pipe.toml", b"# all stages removed\n[vars]\nx = 1\n")],
        "pipe.toml defines no stages",
        "pipe.toml:1:1",
    );
}

#[test]
fn templates_inside_vars_are_refused() {
    refused_after_a_run(
        &[(
            "pipe.toml",
            b"[vars]\nx = \"${y}\"\ny = \"${x}\"\n\n[stage.a]\ncmd = \"cp in.txt out.txt; echo ${x}\"\ndeps = [\"in.txt\"]\nouts = [\"out.txt\"]\n",
        )],
        "`vars.x` = \"${y}\": `${...}` is not expanded inside [vars]",
        "pipe.toml:2:5",
    );
    refused_after_a_run(
        &[(
            "pipe.toml",
            b"[vars]\nlit = \"$${HOME}\"\ndirs = { data = [\"d\", \"${train.lr}\"] }\n\n[stage.a]\ncmd = \"cp in.txt out.txt\"\ndeps = [\"in.txt\"]\nouts = [\"out.txt\"]\n",
        )],
        "`vars.dirs.data[1]` = \"${train.lr}\"",
        "pipe.toml:3:23",
    );
}

#[test]
fn non_utf8_files_are_located() {
    refused_after_a_run(
        &[("params.toml", b"[train]\nlr = 0.1\nname = \"caf\xe9\"\n")],
        "params.toml is not UTF-8 text: byte 0xE9",
        "params.toml:3:12",
    );
    refused_after_a_run(
        &[(
            "pipe.toml",
            b"[stage.a]\n# \xff\ncmd = \"cp in.txt out.txt\"\ndeps = [\"in.txt\"]\nouts = [\"out.txt\"]\n",
        )],
        "pipe.toml is not UTF-8 text: byte 0xFF",
        "pipe.toml:2:3",
    );
}

#[test]
fn a_key_nested_past_the_parsers_limit_is_located() {
    let key = vec!["a"; 20_000].join(".");
    let params = format!("[train]\nlr = 0.1\n{key} = 1\n");
    refused_after_a_run(
        &[("params.toml", params.as_bytes())],
        "a key of 20000 dotted parts: keys may nest at most 79 deep",
        "params.toml:3:1",
    );
    let spec = format!(
        "[stage.a]\ncmd = \"cp in.txt out.txt\"\ndeps = [\"in.txt\"]\nouts = [\"out.txt\"]\n[vars]\nx = 1\n  {key} = 2\n"
    );
    refused_after_a_run(
        &[("pipe.toml", spec.as_bytes())],
        "a key of 20000 dotted parts",
        "pipe.toml:7:3",
    );
}
