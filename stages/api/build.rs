//! Fingerprints what the built-ins compute with: the source of `pipe-stages` (its `src/`
//! and manifest) and the workspace's `Cargo.lock` (the codecs' and libtorch glue's exact
//! versions). [`version`](crate::version) puts it in every built-in stage's run-cache key,
//! so a training or a generated dataset made by other code is never restored in place of
//! what this code would compute; the crate version alone (unchanged between commits) let
//! one through. The fingerprint is of the files' content, so every machine building the
//! same commit gets the same one and teammates' run caches still meet.

use std::path::{Path, PathBuf};

/// FNV-1a, 64-bit: stable across Rust releases, unlike std's hasher.
struct Fnv(u64);

impl Fnv {
    fn eat(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Every file under `path` (or `path` itself), sorted. A symlinked directory is not
/// entered: one pointing above itself would hash the tree again at every level, until the
/// system refuses the path.
fn files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_symlink() && path.is_dir() {
        return;
    }
    match std::fs::read_dir(path) {
        Ok(entries) => {
            let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            entries.sort();
            for e in entries {
                files(&e, out);
            }
        }
        Err(_) if path.is_file() => out.push(path.to_path_buf()),
        Err(_) => {}
    }
}

fn main() {
    let api = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let stages = api.join("..");
    let roots = [
        stages.join("src"),
        stages.join("Cargo.toml"),
        stages.join("../Cargo.lock"),
    ];
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    for root in &roots {
        println!("cargo:rerun-if-changed={}", root.display());
        let mut found = Vec::new();
        files(root, &mut found);
        for file in found {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let name = file.strip_prefix(&stages).unwrap_or(&file);
            hash.eat(name.to_string_lossy().replace('\\', "/").as_bytes());
            hash.eat(&[0]);
            hash.eat(&bytes);
            hash.eat(&[0]);
        }
    }
    println!("cargo:rustc-env=PIPE_STAGES_SOURCE={:016x}", hash.0);
}
