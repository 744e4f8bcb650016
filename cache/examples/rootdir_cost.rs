//! What confinement costs: a stat of `a/b/c/f` beneath a workspace root through `RootDir`
//! (openat2 with RESOLVE_BENEATH of the parent, then fstatat), through `RootDir`'s walk (a
//! kernel without openat2: one openat with O_NOFOLLOW per name), and a plain `lstat` of the
//! absolute path, each averaged over N calls. Run by `bench/rootdir.sh`.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use pipe_cache::rootdir::RootDir;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("a/b/c"))?;
    std::fs::write(dir.path().join("a/b/c/f"), "x")?;
    let abs = dir.path().join("a/b/c/f");
    let time = |f: &dyn Fn() -> bool| {
        let t = Instant::now();
        let mut found = 0u32;
        for _ in 0..n {
            found += u32::from(f());
        }
        assert_eq!(found, n, "every call saw the file");
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    };
    let beneath = RootDir::open(dir.path())?;
    let walking = RootDir::open_walking(dir.path())?;
    let plain = time(&|| std::fs::symlink_metadata(&abs).is_ok());
    let openat2 = time(&|| matches!(beneath.entry("a/b/c/f"), Ok(Some(_))));
    let walk = time(&|| matches!(walking.entry("a/b/c/f"), Ok(Some(_))));
    println!("stat of a/b/c/f, mean of {n} calls:");
    println!("  lstat of the absolute path     {plain:6.2} µs");
    println!("  RootDir (openat2, BENEATH)     {openat2:6.2} µs");
    println!("  RootDir (walk, no openat2)     {walk:6.2} µs");
    Ok(())
}
