//! Each data stage on the tiny fixture: layout, determinism, and what it promises.

use std::path::Path;

use pipe_stages::dataset::read_index;
use pipe_stages::raw::layout;
use pipe_stages::record::TubeRecord;
use tch::Tensor;

use crate::support::{TINY, data, read_json, run, scratch, tree};

#[test]
fn prepare_writes_the_raw_layout_deterministically() {
    let d = data();
    let seqs = layout::scan(&d.raw).unwrap();
    // 6 + 6 train, 4 + 4 val, 4 + 4 test.
    assert_eq!(seqs.len(), 28);
    let count = |split: &str, class: &str| {
        seqs.iter()
            .filter(|s| s.split.name() == split && s.class.name() == class)
            .count()
    };
    assert_eq!((count("train", "wildfire"), count("train", "fp")), (6, 6));
    assert_eq!((count("val", "wildfire"), count("val", "fp")), (4, 4));
    assert_eq!((count("test", "wildfire"), count("test", "fp")), (4, 4));
    for s in &seqs {
        assert!(s.rel.starts_with("synthetic"), "{}", s.rel.display());
        assert!(
            (6..=10).contains(&s.frames.len()),
            "{}: {}",
            s.name,
            s.frames.len()
        );
        for f in &s.frames {
            pipe_stages::raw::labels::read(f.label.as_deref()).unwrap();
        }
    }
    let again = scratch("prepare-again");
    run("prepare", TINY, &[], &[&again], &[], &[]).unwrap();
    assert!(tree(&d.raw) == tree(&again), "same seed, different bytes");
    let other = scratch("prepare-seed");
    run(
        "prepare",
        &TINY.replace("seed = 7", "seed = 8"),
        &[],
        &[&other],
        &[],
        &[],
    )
    .unwrap();
    assert!(tree(&d.raw) != tree(&other), "the seed changes nothing");
}

#[test]
fn every_sequence_says_its_kind_and_the_index_carries_it() {
    // What each kind looks like is scene.rs's unit test; here: kind.txt is written for every
    // sequence, agrees with the class folder in the (clean) test split, and reaches the index.
    let d = data();
    let seqs = layout::scan(&d.raw).unwrap();
    let kinds = ["smoke", "steady_plume", "smooth_plume", "cloud_bank"];
    for s in &seqs {
        let kind = s
            .kind
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no kind.txt", s.name));
        assert!(kinds.contains(&kind), "{}: {kind}", s.name);
        if s.split.name() == "test" {
            assert_eq!(
                kind == "smoke",
                s.class.name() == "wildfire",
                "{}: {kind}",
                s.name
            );
        }
    }
    let index = read_index(&d.input).unwrap();
    for item in &index.items {
        let s = seqs.iter().find(|s| s.name == item.name).unwrap();
        assert_eq!(item.kind, s.kind, "{}", item.name);
    }
    for item in &index.skipped {
        let s = seqs.iter().find(|s| s.name == item.name).unwrap();
        assert_eq!(item.kind, s.kind, "{}", item.name);
    }
}

#[test]
fn truncate_keeps_the_first_frames() {
    let d = data();
    let raw = layout::scan(&d.raw).unwrap();
    let cut = layout::scan(&d.truncated).unwrap();
    assert!(!raw.is_empty(), "no sequences in {}", d.raw.display());
    assert_eq!(raw.len(), cut.len());
    for (a, b) in raw.iter().zip(&cut) {
        assert_eq!(a.name, b.name);
        assert_eq!(b.frames.len(), a.frames.len().min(8));
        for (fa, fb) in a.frames.iter().zip(&b.frames) {
            assert_eq!(fa.name, fb.name);
            assert_eq!(
                std::fs::read(&fa.image).unwrap(),
                std::fs::read(&fb.image).unwrap()
            );
            assert_eq!(fa.label.is_some(), fb.label.is_some());
        }
    }
}

#[test]
fn tube_records_cover_every_sequence() {
    let d = data();
    let seqs = layout::scan(&d.truncated).unwrap();
    assert!(
        !seqs.is_empty(),
        "no sequences in {}",
        d.truncated.display()
    );
    let mut with_tube = 0;
    for s in &seqs {
        let r: TubeRecord =
            serde_json::from_value(read_json(&d.tubes.join(format!("{}.json", s.name)))).unwrap();
        assert_eq!(r.label, s.class.label());
        assert_eq!(r.frames.len(), s.frames.len());
        assert_eq!((r.width, r.height), (64, 48));
        if let Some(t) = &r.tube {
            with_tube += 1;
            assert!(t.len() >= 3, "min_tube_length 3");
            for (k, e) in t.iter().enumerate() {
                assert_eq!(e.frame, t[0].frame + k, "entries are consecutive frames");
                assert!(e.frame < r.frames.len());
            }
            assert!(t.first().is_some_and(|e| e.detected) && t.last().is_some_and(|e| e.detected));
        }
    }
    assert!(
        with_tube >= seqs.len() * 3 / 4,
        "only {with_tube} of {} have a tube",
        seqs.len()
    );
}

#[test]
fn model_input_stacks_match_the_index() {
    let d = data();
    let index = read_index(&d.input).unwrap();
    assert_eq!(index.crop.patch_size, 16);
    assert_eq!(index.items.len() + index.skipped.len(), 28);
    assert!(index.max_frames <= 8 && index.max_frames >= 3);
    assert!(!index.items.is_empty(), "every sequence skipped");
    for item in &index.items {
        let x = Tensor::read_npy(d.input.join(&item.file)).unwrap();
        assert_eq!(
            x.size(),
            vec![item.frames as i64, 3, 16, 16],
            "{}",
            item.name
        );
        assert_eq!(x.kind(), tch::Kind::Uint8);
        assert!(item.window.side >= 12.0 && item.window.side <= 48.0);
        assert!(item.window.x >= 0.0 && item.window.x + item.window.side <= 64.0 + 1e-9);
    }
}

#[test]
fn import_copies_a_valid_dataset() {
    let d = data();
    let out = scratch("import");
    let params = format!(
        "[prepare]\nsource = {:?}\n",
        d.raw.join("synthetic").display().to_string()
    );
    run("prepare", &params, &[], &[&out], &[], &[]).unwrap();
    assert!(
        tree(&d.raw) == tree(&out),
        "import of a single dataset lands in out/<its name>"
    );
    let out2 = scratch("import-dep");
    run("import", "", &[Path::new(&d.raw)], &[&out2], &[], &[]).unwrap();
    assert!(tree(&d.raw) == tree(&out2));
}

fn shipped(name: &str) -> toml::Table {
    let path = crate::support::package_dir()
        .join("../pipelines/smoke")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_shipped_params_files_are_valid_for_every_built_in() {
    for file in ["params.toml", "params-gpu.toml"] {
        let params = shipped(file);
        for sig in pipe_stages::signatures() {
            pipe_stages::validate_params(sig.name, &params)
                .unwrap_or_else(|e| panic!("{file}, {}: {e}", sig.name));
        }
        // The model geometry fits the data the file produces.
        let frames = pipe_stages::builtins::truncate::max_frames(&params).unwrap();
        let patch = pipe_stages::builtins::build_model_input::crop_params(&params)
            .unwrap()
            .patch_size;
        pipe_stages::model::ModelConfig::from_params(&params)
            .unwrap()
            .with_data(frames, patch)
            .unwrap();
    }
    let bad = crate::support::table("[model]\ngird = 2\n");
    let e = pipe_stages::validate_params("train", &bad)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("params: unknown key model.gird"), "{e}");
}

#[test]
fn params_toml_states_the_defaults() {
    // params.toml documents every key with its default: reading it must equal reading nothing.
    use pipe_stages::builtins::{build_model_input, build_tubes, prepare, truncate};
    let (file, none) = (shipped("params.toml"), toml::Table::new());
    assert_eq!(
        json(&prepare::PrepareParams::from_params(&file).unwrap().synth),
        json(&prepare::PrepareParams::from_params(&none).unwrap().synth)
    );
    assert_eq!(
        truncate::max_frames(&file).unwrap(),
        truncate::max_frames(&none).unwrap()
    );
    assert_eq!(
        json(&build_tubes::tube_params(&file).unwrap()),
        json(&build_tubes::tube_params(&none).unwrap())
    );
    assert_eq!(
        build_model_input::crop_params(&file).unwrap(),
        build_model_input::crop_params(&none).unwrap()
    );
    assert_eq!(
        pipe_stages::model::ModelConfig::from_params(&file).unwrap(),
        pipe_stages::model::ModelConfig::from_params(&none).unwrap()
    );
    assert_eq!(
        json(&pipe_stages::fit::TrainParams::from_params(&file).unwrap()),
        json(&pipe_stages::fit::TrainParams::from_params(&none).unwrap())
    );
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialize")
}
