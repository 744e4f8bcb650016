//! Spec errors as diagnostics that point into the file: `pipe.toml:12:9`, the line, and a
//! caret under the key or value at fault.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource};

/// A pipeline, params or config file's text, kept for pointing into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// As shown to the user: relative to the current directory where possible.
    pub name: String,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn new(path: &Path, text: String) -> Self {
        SourceFile {
            name: display_path(path),
            text: text.into(),
        }
    }

    /// A file's bytes as text; bytes that are not UTF-8 are an error pointing at the first
    /// bad one (its line and column counted on the valid text before it).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, SpecError> {
        match String::from_utf8(bytes) {
            // A byte order mark (Windows editors write one) is not part of the text.
            Ok(text) => Ok(SourceFile::new(
                path,
                match text.strip_prefix('\u{feff}') {
                    Some(rest) => rest.to_string(),
                    None => text,
                },
            )),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let byte = e.as_bytes().get(at).copied().unwrap_or(0);
                let file = SourceFile::new(path, String::from_utf8_lossy(e.as_bytes()).into());
                Err(file
                    .error(
                        at..at + 1,
                        format!("{} is not UTF-8 text: byte 0x{byte:02X}", file.name),
                    )
                    .help("pipeline and params files are UTF-8 TOML (or JSON); re-save the file as UTF-8"))
            }
        }
    }

    /// An error pointing at `span` of this file.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> SpecError {
        SpecError::new(message).at(self, span, "here")
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, col)
    }
}

/// One problem in a pipeline (or params/config file), with where it is. Boxed: errors are
/// rare and `Result`s carrying one stay small.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message)]
pub struct SpecError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    message: String,
    src: Option<NamedSource<Arc<str>>>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
    /// `file:line:col` of the first label, for one-line renderings.
    location: Option<String>,
}

impl SpecError {
    pub fn new(message: impl Into<String>) -> Self {
        SpecError(Box::new(Inner {
            message: message.into(),
            src: None,
            labels: Vec::new(),
            help: None,
            location: None,
        }))
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Adds a labelled span. The first span's file becomes the diagnostic's source; labels in
    /// another file are mentioned in the help text instead, as are those on a line too long to
    /// show (a minified JSON file's one line: the place is named, the line is not printed).
    pub fn at(mut self, file: &SourceFile, span: Range<usize>, label: impl Into<String>) -> Self {
        let label = label.into();
        let (line, col) = file.line_col(span.start);
        let here = format!("{}:{line}:{col}", file.name);
        let e = &mut self.0;
        let first = e.location.is_none();
        if first {
            e.location = Some(here.clone());
        }
        let shown_here = e.src.as_ref().is_some_and(|s| s.name() == file.name);
        if !first && !shown_here {
            e.add_help(format!("{label}: {here}"));
            return self;
        }
        let longest = longest_line_around(&file.text, &span);
        if longest > LONGEST_SHOWN {
            let why = format!("a line of {longest} bytes, not shown");
            e.add_help(if label == "here" {
                format!("{here}: {why}")
            } else {
                format!("{label}: {here} ({why})")
            });
            return self;
        }
        if first {
            e.src =
                Some(NamedSource::new(file.name.clone(), file.text.clone()).with_language("toml"));
        }
        let len = span.end.saturating_sub(span.start).max(1);
        e.labels
            .push(LabeledSpan::new(Some(label), span.start, len));
        self
    }

    /// Sets the help, ahead of any notes `at` left there.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        let help = help.into();
        self.0.help = Some(match self.0.help.take() {
            Some(notes) => format!("{help}\n{notes}"),
            None => help,
        });
        self
    }

    /// `pipe.toml:12:9`, when the error points into a file.
    pub fn location(&self) -> Option<&str> {
        self.0.location.as_deref()
    }
}

impl Inner {
    fn add_help(&mut self, line: String) {
        self.help = Some(match self.help.take() {
            Some(h) => format!("{h}\n{line}"),
            None => line,
        });
    }
}

/// Lines longer than this (in bytes) are not printed under an error.
const LONGEST_SHOWN: usize = 400;

/// The longest line an error's snippet of `span` would print: the span's lines and one of
/// context each side.
fn longest_line_around(text: &str, span: &Range<usize>) -> usize {
    let start = span.start.min(text.len());
    let end = span.end.clamp(start, text.len());
    let lines_before = |at: usize| {
        text.as_bytes()[..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    };
    let first = lines_before(start).saturating_sub(1);
    let last = lines_before(end) + 1;
    text.split('\n')
        .skip(first)
        .take(last + 1 - first)
        .map(str::len)
        .max()
        .unwrap_or(0)
}

impl Diagnostic for SpecError {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.src.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.0.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.0.labels.iter().cloned()))
        }
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// A toml parse/deserialize error, placed in its file.
pub fn from_toml(file: &SourceFile, err: &toml::de::Error) -> SpecError {
    let msg = err.message().trim().to_string();
    if let Some(span) = err.span() {
        return file.error(span, msg);
    }
    // The parser reports keys nested past its depth limit without a place: find the key.
    if let Some((span, parts)) = deepest_dotted_key(&file.text)
        && parts >= KEY_DEPTH_LIMIT
    {
        return file
            .error(
                span,
                format!(
                    "a key of {parts} dotted parts: keys may nest at most {} deep",
                    KEY_DEPTH_LIMIT - 1
                ),
            )
            .help(format!("the TOML parser stopped with \"{msg}\""));
    }
    SpecError::new(format!("{}: {msg}", file.name))
}

/// The TOML parser's nesting limit: a key path of this many parts is refused.
const KEY_DEPTH_LIMIT: usize = 80;

/// The dotted key with the most parts (`a.b."c"`), outside strings and comments: its span
/// and part count. A lexical scan, used only to place an error the parser left unplaced.
fn deepest_dotted_key(text: &str) -> Option<(Range<usize>, usize)> {
    let b = text.as_bytes();
    let bare = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    // The end of a quoted string starting at `i` (past its closing quote).
    let string_end = |i: usize| -> usize {
        let q = b[i];
        let triple = b.get(i..i + 3) == Some(&[q, q, q][..]);
        let (mut j, close) = if triple { (i + 3, 3) } else { (i + 1, 1) };
        while j < b.len() {
            if q == b'"' && b[j] == b'\\' {
                j += 2;
                continue;
            }
            if !triple && b[j] == b'\n' {
                return j;
            }
            if b[j] == q && (close == 1 || b.get(j..j + 3) == Some(&[q, q, q][..])) {
                return j + close;
            }
            j += 1;
        }
        b.len()
    };
    let mut best: Option<(Range<usize>, usize)> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if !(bare(c) || c == b'"' || c == b'\'') {
            i += 1;
            continue;
        }
        // A run of parts joined by dots (spaces allowed around them).
        let start = i;
        let mut parts = 0;
        let mut end;
        loop {
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                i = string_end(i);
            } else {
                while i < b.len() && bare(b[i]) {
                    i += 1;
                }
            }
            parts += 1;
            end = i;
            let mut j = i;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            if j >= b.len() || b[j] != b'.' {
                break;
            }
            j += 1;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            if j >= b.len() || !(bare(b[j]) || b[j] == b'"' || b[j] == b'\'') {
                break;
            }
            i = j;
        }
        if best.as_ref().is_none_or(|(_, n)| parts > *n) {
            best = Some((start..end, parts));
        }
        i = i.max(start + 1);
    }
    best
}

pub fn display_path(path: &Path) -> String {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf));
    match rel {
        Some(r) if !r.as_os_str().is_empty() => r.display().to_string(),
        _ => path.display().to_string(),
    }
}
