//! Writing a stage's outputs: a directory out starts empty (a rerun never leaves files of
//! the last run behind, which the engine would then hash as part of the out), a file out
//! gets its parent created, JSON is pretty and ends with a newline.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StageError;

/// Removes whatever is at `dir` and creates it empty.
pub fn fresh_dir(dir: &Path) -> Result<(), StageError> {
    match fs_err::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => fs_err::remove_dir_all(dir)?,
        Ok(_) => fs_err::remove_file(dir)?,
        Err(_) => {}
    }
    fs_err::create_dir_all(dir)?;
    Ok(())
}

/// Creates the parent directory of a file out.
pub fn parent_dir(file: &Path) -> Result<(), StageError> {
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
    {
        fs_err::create_dir_all(parent)?;
    }
    Ok(())
}

pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), StageError> {
    parent_dir(path)?;
    let mut text = serde_json::to_string_pretty(value).map_err(StageError::json(path))?;
    text.push('\n');
    fs_err::write(path, text)?;
    Ok(())
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, StageError> {
    let text = fs_err::read_to_string(path)?;
    serde_json::from_str(&text).map_err(StageError::json(path))
}
