//! `pipe plots` and `pipe report`: charts drawn from plots outs, and the report page opened
//! in a real headless Chromium with networking off.

use std::path::Path;
use std::process::Command;

use crate::support::Project;

/// train writes a learning curve, evaluate a PR/ROC table and metrics; both depend on the
/// seed and `model.width`, so cells and seeds differ.
const PIPELINE: &str = r#"
[stage.train]
cmd = "python3 -c \"import json\nw, s = ${model.width}, ${train.seed}\nopen('${plots[0]}', 'w').write('epoch,train_loss,val_loss\\n' + ''.join(f'{e},{1 / (e + w) + s / 100},{1.2 / (e + w)}\\n' for e in range(1, 6)))\nopen('${metrics[0]}', 'w').write(json.dumps({'best_val_loss': 1.2 / (5 + w), 'seconds_per_epoch': 0.5 + w / 10}))\""
params = ["model.width", "train.seed"]
metrics = ["train.json"]
plots = [{ path = "curve.csv", x = "epoch", y = ["train_loss", "val_loss"], title = "learning curve" }]

[stage.evaluate]
cmd = "python3 -c \"import json\nw, s = ${model.width}, ${train.seed}\nopen('${plots[0]}', 'w').write('threshold,precision,recall,fpr\\n' + ''.join(f'{t / 4},{0.5 + t / 10},{1 - t / 4},{(1 - t / 4) / (w + 1)}\\n' for t in range(5)))\nopen('${metrics[0]}', 'w').write(json.dumps({'f1': 0.5 + w / 10 + s / 50, 'pr_auc': 0.6 + w / 20}))\""
deps = ["curve.csv"]
params = ["model.width", "train.seed"]
metrics = ["eval.json"]
plots = ["pr.csv"]

[sweep.width]
stages = ["train", "evaluate"]
matrix = { "model.width" = [1, 2] }
seeds = [0, 1]
report = ["f1", "pr_auc"]
"#;

const PARAMS: &str = "[model]\nwidth = 1\n\n[train]\nseed = 0\n";

fn project() -> Project {
    Project::new()
        .file("params.toml", PARAMS)
        .file("pipe.toml", PIPELINE)
}

fn chromium() -> &'static Path {
    let p = Path::new("/usr/bin/chromium");
    assert!(
        p.exists(),
        "/usr/bin/chromium is missing: run scripts/setup-chromium.sh (scripts/test.sh does)"
    );
    p
}

/// Runs headless Chromium on `page` with every network route dead; returns the DOM after
/// load, and writes a screenshot to `png`.
fn load_offline(page: &Path, png: &Path, profile: &Path) -> String {
    let url = format!("file://{}", page.display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--proxy-server=127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--window-size=1280,2400",
    ];
    let profile_arg = format!("--user-data-dir={}", profile.display());
    let dom = Command::new(chromium())
        .args(common)
        .arg(&profile_arg)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(
        dom.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let shot = Command::new(chromium())
        .args(common)
        .arg(&profile_arg)
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(
        shot.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

#[test]
fn the_report_renders_offline_in_headless_chromium() {
    let p = project();
    p.pipe(&["repro"]).ok();
    p.pipe(&["sweep", "width", "--html", "out/width.html"])
        .ok()
        .err_has("Wrote out/width.html");
    let html = p.read("out/width.html");
    for banned in [
        "<script", "<link", "@import", "url(", "src=", "http://", "https://",
    ] {
        assert!(
            !html.contains(banned),
            "the page must fetch nothing: found {banned}"
        );
    }

    let png = p.path("shot.png");
    let dom = load_offline(&p.path("out/width.html"), &png, &p.path("chromium-profile"));
    // Charts: the pipeline graph, stage durations, two learning curves (train_loss,
    // val_loss), the PR and the ROC curves.
    assert_eq!(dom.matches("<svg").count(), 6, "charts in the rendered DOM");
    assert_eq!(dom.matches("<figure>").count(), 6);
    let sweep = dom
        .split("<table class=\"sweep\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the sweep table is in the DOM");
    let body = sweep.split("<tbody>").nth(1).expect("tbody");
    assert_eq!(body.matches("<tr>").count(), 2, "one row per cell");
    assert!(
        sweep.contains("seconds_per_epoch ↓"),
        "the cost columns join the sweep's own"
    );
    assert!(sweep.contains("95% CI ["), "intervals over seeds");
    assert!(dom.contains("Welch"), "the test is named");
    assert!(
        dom.contains(">width=1</text>"),
        "the legend names the cells"
    );
    let params = dom
        .split("<table class=\"params\">")
        .nth(1)
        .expect("params");
    assert!(params.contains("<td>model.width</td>"));
    assert_eq!(
        dom.matches("<table class=\"params\">").count(),
        2,
        "one table per params table: model, train"
    );
    // A real picture, not a blank page: a PNG of some size.
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
    assert!(bytes.len() > 20_000, "screenshot is {} bytes", bytes.len());
}

#[test]
fn plots_show_overlays_cells_and_plots_diff_overlays_revisions() {
    let p = project();
    p.pipe(&["repro"]).ok();
    let r = p.pipe(&["plots", "show", "-o", "pl"]).ok();
    r.err_has("Wrote 2 chart(s)");
    let index = p.read("pl/index.html");
    assert_eq!(index.matches("<svg").count(), 2);
    assert!(
        index.contains(">learning curve</text>"),
        "the declared title"
    );
    assert!(index.contains(">val_loss</text>"), "legend per y column");

    p.pipe(&["sweep", "width"]).ok();
    p.pipe(&["plots", "show", "width", "-o", "cells"]).ok();
    let cells = p.read("cells/index.html");
    assert!(
        cells.contains(">train@width=2,seed=1: val_loss</text>"),
        "cells overlaid"
    );

    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(p.root())
            .output()
            .expect("git");
        assert!(o.status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "width 1"]);
    p.write("params.toml", "[model]\nwidth = 3\n\n[train]\nseed = 0\n");
    p.pipe(&["repro"]).ok();
    p.pipe(&["plots", "diff", "-o", "d", "-t", "train"]).ok();
    let d = p.read("d/index.html");
    assert!(
        d.contains(">HEAD: train_loss</text>") && d.contains(">workspace: val_loss</text>"),
        "revisions overlaid"
    );
    assert_eq!(d.matches("<svg").count(), 1);

    // A broken plot is named; the others are still drawn.
    p.write("pr.csv", "");
    let r = p.pipe(&["plots", "show", "-o", "broken"]).code(2);
    r.err_has("plot pr.csv: no header row");
    assert_eq!(p.read("broken/index.html").matches("<svg").count(), 1);
}

/// `-o` goes anywhere the user names but over what the pipeline owns: its file (the report
/// used to replace `pipe.toml`), its lock, a params file, a stage's out or a file inside one.
/// A device is written through, not replaced (as root, `-o /dev/full` made it a file).
#[test]
fn report_and_plots_never_write_over_what_the_pipeline_owns() {
    let p = project().file("sub/keep.txt", "x");
    p.pipe(&["repro"]).ok();
    let before: Vec<String> = ["pipe.toml", "pipe.lock", "params.toml", "curve.csv"]
        .iter()
        .map(|f| p.read(f))
        .collect();
    for (args, says) in [
        (
            &["report", "-o", "pipe.toml"][..],
            "pipe.toml: pipe will not write there: it is the pipeline file",
        ),
        (
            &["report", "-o", "sub/../pipe.lock"],
            "sub/../pipe.lock: pipe will not write there: it is the pipeline's lock",
        ),
        (&["report", "-o", "params.toml"], "it is a params file"),
        (
            &["report", "-o", "curve.csv"],
            "it is plot `curve.csv` of stage `train`",
        ),
        (
            &["report", "-o", ".pipe/r.html"],
            "it is the workspace's own",
        ),
        (
            &["plots", "show", "-o", ".git"],
            "it is the workspace's own",
        ),
    ] {
        p.pipe(args).code(2).err_has(says);
    }
    let after: Vec<String> = ["pipe.toml", "pipe.lock", "params.toml", "curve.csv"]
        .iter()
        .map(|f| p.read(f))
        .collect();
    assert_eq!(before, after, "nothing written over");
    assert!(!p.exists(".pipe/r.html"));
    p.pipe(&["report", "-o", "sub/report.html"]).ok();
    p.pipe(&["report", "-o", "/dev/full"])
        .code(3)
        .err_has("cannot write /dev/full: No space left on device");
    let full = std::fs::symlink_metadata("/dev/full").expect("/dev/full");
    assert!(!full.is_file(), "/dev/full is still a device");
    // A link in the workspace to a device is replaced, never written through: a cloned
    // repository's `report.html -> /dev/sda` must not reach the disk.
    std::os::unix::fs::symlink("/dev/full", p.path("report.html")).expect("symlink");
    p.pipe(&["report"]).ok();
    let page = std::fs::symlink_metadata(p.path("report.html")).expect("report.html");
    assert!(page.is_file(), "the link is replaced by the page");
    // Other spellings of an owned path are that path: through `..` and the workspace's
    // own name, through a link to the workspace, a directory link to `.pipe`, a pipeline
    // named through `..`.
    let name = p
        .root()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name");
    let link = p.root().with_extension("link");
    std::os::unix::fs::symlink(p.root(), &link).expect("symlink");
    std::os::unix::fs::symlink(".pipe", p.path("d")).expect("symlink");
    let through_link = format!("{}/pipe.lock", link.display());
    for (args, says) in [
        (
            vec!["report", "-o", &*format!("../{name}/pipe.lock")],
            "it is the pipeline's lock",
        ),
        (
            vec!["report", "-o", &through_link],
            "it is the pipeline's lock",
        ),
        (
            vec!["plots", "show", "-o", "d"],
            "it is the workspace's own",
        ),
        (
            vec!["-f", "sub/../pipe.toml", "report", "-o", "curve.csv"],
            "it is plot `curve.csv`",
        ),
    ] {
        p.pipe(&args).code(2).err_has(says);
    }
    std::fs::remove_file(&link).expect("remove link");
    assert_eq!(p.read("pipe.lock"), before[1]);
    assert!(!p.exists(".pipe/index.html"));
    // `/dev/stdout` sent to a file: the file gets the page, the link stays a link.
    let sh = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' report -o /dev/stdout > page.html",
            crate::support::bin().display()
        ))
        .current_dir(p.root())
        .status()
        .expect("sh");
    assert!(sh.success());
    assert!(p.read("page.html").starts_with("<!DOCTYPE html>"));
    // With stdout closed, pipe gives it `/dev/null` first (else the next file it opens
    // would take its number and the page would land there): the link stays a link.
    let closed = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' report -o /dev/stdout >&-",
            crate::support::bin().display()
        ))
        .current_dir(p.root())
        .status()
        .expect("sh");
    assert!(closed.success());
    assert_eq!(p.read("pipe.lock"), before[1]);
    assert!(
        std::fs::symlink_metadata("/dev/stdout").is_ok_and(|m| m.is_symlink()),
        "/dev/stdout is still a link"
    );
    let r = p.pipe(&["report", "-o", "/dev/stdout"]).ok();
    let link = std::fs::symlink_metadata("/dev/stdout").expect("/dev/stdout");
    assert!(link.is_symlink(), "/dev/stdout is still a link");
    assert!(
        r.stdout.starts_with("<!DOCTYPE html>"),
        "{}",
        &r.stdout[..80.min(r.stdout.len())]
    );
}

/// A plot of more points than its chart has pixels is drawn from each pixel column's
/// extremes: 200,000 steps make a page of kilobytes, not megabytes, with every spike.
#[test]
fn a_plot_of_many_points_draws_a_small_chart_that_keeps_its_extremes() {
    let mut csv = String::from("step,loss\n");
    for i in 0..200_000u32 {
        let spike = if i == 123_457 { 9.0 } else { 0.0 };
        csv.push_str(&format!("{i},{}\n", f64::from(i % 97) / 97.0 + spike));
    }
    let p = Project::new()
        .file("log.csv", &csv)
        .file(
            "pipe.toml",
            "[stage.a]\ncmd = \"cp log.csv ${plots[0]}\"\ndeps = [\"log.csv\"]\nplots = [\"loss.csv\"]\n",
        );
    p.pipe(&["repro"]).ok();
    p.pipe(&["plots", "show", "-o", "pl"]).ok();
    let index = p.read("pl/index.html");
    assert!(index.len() < 200_000, "{} bytes", index.len());
    // The series' line (the first colour), not the axes'.
    let line = index
        .split("<polyline")
        .find(|l| l.contains("stroke=\"#1F77B4\""))
        .expect("the series' line");
    let points = line.split("points=\"").nth(1).expect("points");
    let ys: Vec<i64> = points[..points.find('"').expect("closed")]
        .split_whitespace()
        .filter_map(|xy| xy.split_once(','))
        .filter_map(|(_, y)| y.parse().ok())
        .collect();
    assert!(ys.len() > 100, "{} points", ys.len());
    // SVG y grows downwards: the spike is the highest point, far above the rest.
    let top = ys.iter().min().copied().unwrap_or_default();
    let next = ys
        .iter()
        .filter(|&&y| y > top)
        .min()
        .copied()
        .unwrap_or_default();
    assert!(
        next - top > 100,
        "the spike at step 123457 is drawn: {top} vs {next}"
    );
}

#[test]
fn plot_declarations_are_checked_where_they_are_written() {
    let bad = PIPELINE.replace("title = \"learning curve\"", "template = \"pie\"");
    let p = Project::new()
        .file("params.toml", PARAMS)
        .file("pipe.toml", &bad);
    let r = p.pipe(&["status"]).code(2);
    r.err_has("stage `train`: plot `curve.csv` has an unknown template `pie`");
    r.err_has("pipe.toml:");
    r.err_has("templates: line, scatter, bar, confusion");
    let bad = PIPELINE.replace(
        "metrics = [\"eval.json\"]",
        "metrics = [{ path = \"eval.json\", x = \"a\" }]",
    );
    let p = Project::new()
        .file("params.toml", PARAMS)
        .file("pipe.toml", &bad);
    p.pipe(&["status"])
        .code(2)
        .err_has("only plots take `x`, `y`, `template` or `title`");
}
