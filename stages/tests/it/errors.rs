//! Bad input of every kind ends in one clear error that names the file, line or key.

use std::path::Path;

use crate::support::{TINY, data, run, scratch, write_sequence};

const BOX: &str = "0 0.5 0.5 0.2 0.2\n";

fn err(r: Result<(), pipe_stages::StageError>) -> String {
    match r {
        Ok(()) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_bad_label_line_names_file_and_line() {
    let root = scratch("bad-label");
    write_sequence(
        &root,
        "train",
        "wildfire",
        "s1",
        &[Some(BOX), Some("0 0.5 0.5 0.2\n"), None],
    );
    let e = err(run(
        "truncate",
        "",
        &[&root],
        &[&root.join("out")],
        &[],
        &[],
    ));
    assert!(
        e.contains("s1/labels/frame_000002.txt:1: expected 5 or 6 columns"),
        "{e}"
    );

    let root = scratch("bad-number");
    write_sequence(
        &root,
        "val",
        "fp",
        "s2",
        &[Some(BOX), Some(&format!("{BOX}0 0.5 1.7 0.2 0.2\n"))],
    );
    let params = format!("[prepare]\nsource = {:?}\n", root.display().to_string());
    let e = err(run("prepare", &params, &[], &[&root.join("out")], &[], &[]));
    assert!(
        e.contains("s2/labels/frame_000002.txt:2: cy = 1.7 is outside [0, 1]"),
        "{e}"
    );
}

#[test]
fn a_missing_images_directory_is_named() {
    let root = scratch("no-images");
    let seq = write_sequence(&root, "train", "fp", "s1", &[Some(BOX)]);
    std::fs::remove_dir_all(seq.join("images")).unwrap();
    let e = err(run("import", "", &[&root], &[&root.join("out")], &[], &[]));
    assert!(e.contains("s1/images: missing images directory"), "{e}");
}

#[test]
fn duplicate_sequence_names_name_both_paths() {
    let root = scratch("duplicates");
    let a = write_sequence(&root, "train", "wildfire", "cam1", &[Some(BOX)]);
    let b = write_sequence(&root, "val", "fp", "cam1", &[None]);
    let e = err(run(
        "truncate",
        "",
        &[&root],
        &[&root.join("out")],
        &[],
        &[],
    ));
    assert!(e.contains("duplicate sequence name `cam1`"), "{e}");
    assert!(
        e.contains(&a.display().to_string()) && e.contains(&b.display().to_string()),
        "{e}"
    );
}

#[test]
fn params_errors_name_the_key() {
    let d = data();
    let out = scratch("params");
    let e = err(run(
        "truncate",
        "[truncate]\nmax_frame = 3\n",
        &[&d.raw],
        &[&out],
        &[],
        &[],
    ));
    assert!(
        e.starts_with("params: unknown key truncate.max_frame"),
        "{e}"
    );
    let e = err(run(
        "truncate",
        "[truncate]\nmax_frames = \"all\"\n",
        &[&d.raw],
        &[&out],
        &[],
        &[],
    ));
    assert_eq!(
        e,
        "params: truncate.max_frames must be an integer, got string \"all\""
    );
    let ckpt = out.join("m.safetensors");
    let (m, p) = (out.join("t.json"), out.join("c.csv"));
    let e = err(run(
        "train",
        &format!("{TINY}\n[extra]\n").replace("lr = 0.003", "lrr = 0.003"),
        &[&d.input],
        &[&ckpt],
        &[&m],
        &[&p],
    ));
    assert!(e.starts_with("params: unknown key train.lrr"), "{e}");
    let e = err(run(
        "train",
        &TINY.replace("grid = 2", "grid = 3"),
        &[&d.input],
        &[&ckpt],
        &[&m],
        &[&p],
    ));
    assert!(
        e.contains("model.grid = 3 does not divide the patch size 16"),
        "{e}"
    );
    let e = err(run(
        "train",
        &TINY.replace(
            "device = \"cpu\"\n\n[evaluate]",
            "device = \"tpu\"\n\n[evaluate]",
        ),
        &[&d.input],
        &[&ckpt],
        &[&m],
        &[&p],
    ));
    assert!(e.contains("train.device = \"tpu\""), "{e}");
}

#[test]
fn wrong_paths_are_clear_errors() {
    let d = data();
    let out = scratch("paths");
    let e = err(run("build_tubes", "", &[&d.raw, &d.raw], &[&out], &[], &[]));
    assert!(
        e.contains("built-in `build_tubes` takes 1 deps path(s)") && e.contains("gives 2"),
        "{e}"
    );
    let e = err(run("nope", "", &[], &[], &[], &[]));
    assert_eq!(e, "unknown built-in stage `nope`");
    let missing = out.join("missing");
    let e = err(run(
        "truncate",
        "",
        &[&missing],
        &[&out.join("t")],
        &[],
        &[],
    ));
    assert!(
        e.contains("missing: raw data directory does not exist"),
        "{e}"
    );
    let (ckpt, m, p) = (
        out.join("m.safetensors"),
        out.join("t.json"),
        out.join("c.csv"),
    );
    let e = err(run("train", TINY, &[&d.raw], &[&ckpt], &[&m], &[&p]));
    assert!(e.contains("not a model input directory"), "{e}");
    std::fs::write(&ckpt, b"not a checkpoint").unwrap();
    let e = err(run("evaluate", TINY, &[&d.input, &ckpt], &[], &[&m], &[&p]));
    assert!(e.contains("m.safetensors: not a pipe checkpoint"), "{e}");
}

#[test]
fn a_tampered_package_is_refused() {
    let out = scratch("tamper");
    let ckpt = crate::support::train(&out, TINY);
    let (eval, pr, pkg) = (
        out.join("eval.json"),
        out.join("pr.csv"),
        out.join("model.zip"),
    );
    run(
        "evaluate",
        TINY,
        &[&data().input, &ckpt],
        &[],
        &[&eval],
        &[&pr],
    )
    .unwrap();
    run("package", TINY, &[&ckpt, &eval], &[&pkg], &[], &[]).unwrap();
    // Rewrite one member with other bytes, keeping the manifest.
    let src = std::fs::File::open(&pkg).unwrap();
    let mut zin = zip::ZipArchive::new(src).unwrap();
    let bad = out.join("bad.zip");
    let mut zout = zip::ZipWriter::new(std::fs::File::create(&bad).unwrap());
    for i in 0..zin.len() {
        let mut f = zin.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
        if name == "params.toml" {
            bytes = String::from_utf8(bytes)
                .unwrap()
                .replace("max_frames = 8", "max_frames = 4")
                .into_bytes();
        }
        zout.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zout, &bytes).unwrap();
    }
    zout.finish().unwrap();
    let seq = pipe_stages::raw::layout::scan(&data().truncated).unwrap()[0]
        .dir
        .clone();
    let e = pipe_stages::predict(&bad, &seq, "cpu")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("params.toml does not match its manifest entry"),
        "{e}"
    );
    let e = pipe_stages::predict(Path::new(&ckpt), &seq, "cpu")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a zip file"), "{e}");
    let e = pipe_stages::predict(&pkg, &out, "cpu")
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing images directory"), "{e}");
}
