//! Hashing file contents with blake3.
//!
//! Small files are read into a buffer and hashed on one thread; the parallelism comes from
//! hashing many of them at once on rayon's pool (see `tree`). Files of `MMAP_MIN` bytes or
//! more are memory-mapped and hashed with blake3's rayon-parallel tree mode, so one 256 MB
//! file keeps every core busy too.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::Digest;
use crate::error::{IoContext, Result};

/// From this size up a file is mapped and hashed in parallel.
pub const MMAP_MIN: u64 = 1 << 20;

/// Hashes one file's contents. `size` is the size seen by the caller's stat, used only to
/// pick the strategy.
pub fn hash_file(path: &Path, size: u64) -> Result<Digest> {
    if size >= MMAP_MIN {
        let mut hasher = blake3::Hasher::new();
        hasher.update_mmap_rayon(path).at("read", path)?;
        return Ok(hasher.finalize().into());
    }
    let mut file = File::open(path).at("open", path)?;
    let mut buf = Vec::with_capacity(size as usize + 1);
    file.read_to_end(&mut buf).at("read", path)?;
    Ok(Digest::of_bytes(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_mapped_paths_agree_with_blake3() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0usize, 1, 4096, (MMAP_MIN as usize) + 12345] {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let p = dir.path().join(format!("f{size}"));
            std::fs::write(&p, &data).unwrap();
            let expected = Digest::of_bytes(&data);
            assert_eq!(hash_file(&p, size as u64).unwrap(), expected, "size {size}");
            // The strategy must not change the answer.
            assert_eq!(hash_file(&p, 0).unwrap(), expected);
            assert_eq!(hash_file(&p, MMAP_MIN).unwrap(), expected);
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = hash_file(Path::new("/nonexistent/pipe-x"), 10).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/pipe-x"), "{err}");
        assert!(err.is_not_found());
    }
}
