//! `pipe import-dvc --dry`: the pipeline file the import would write, and what it would
//! not carry over.

use crate::dvc::Note;

/// pipe.toml's text, then the notes as TOML comments.
pub fn preview(pipeline: &str, notes: &[Note]) -> String {
    format!("{}\n{}", pipeline.trim_end(), notes_text(notes))
}

fn notes_text(notes: &[Note]) -> String {
    if notes.is_empty() {
        return "# Everything was carried over.".into();
    }
    let mut s = format!("# {} construct(s) not carried over:\n", notes.len());
    for n in notes {
        s.push_str(&format!("#   {}: {}\n", n.at, n.what));
    }
    s.trim_end().to_string()
}
