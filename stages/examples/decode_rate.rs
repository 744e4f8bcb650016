//! The one-core JPEG decode rate over every `.jpg` under a directory: the yardstick for
//! `build_model_input`'s frames/s (bench/stages/model_input_throughput.sh). Files are read
//! into memory first, so only decoding is timed.
//!
//! ```text
//! decode_rate DIR
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use pipe_stages::raw::jpeg;

fn jpegs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            jpegs(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "jpg") {
            out.push(p);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: decode_rate DIR");
        return ExitCode::FAILURE;
    };
    let mut files = Vec::new();
    if let Err(e) = jpegs(Path::new(&dir), &mut files) {
        eprintln!("error: {dir}: {e}");
        return ExitCode::FAILURE;
    }
    files.sort();
    let bytes: Vec<(PathBuf, Vec<u8>)> = files
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect();
    let started = Instant::now();
    let mut pixels = 0usize;
    for (p, b) in &bytes {
        match jpeg::decode_bytes(b, p) {
            Ok(img) => pixels += img.width * img.height,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "one-core JPEG decode: {} frames in {s:.2}s: {:.0} frames/s ({:.1} Mpixel/s)",
        bytes.len(),
        bytes.len() as f64 / s,
        pixels as f64 / s / 1e6
    );
    ExitCode::SUCCESS
}
