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
    /// another file are mentioned in the help text instead.
    pub fn at(mut self, file: &SourceFile, span: Range<usize>, label: impl Into<String>) -> Self {
        let (line, col) = file.line_col(span.start);
        let here = format!("{}:{line}:{col}", file.name);
        let e = &mut self.0;
        match &e.src {
            Some(src) if src.name() != file.name => {
                let extra = format!("{}: {here}", label.into());
                e.help = Some(match e.help.take() {
                    Some(h) => format!("{h}\n{extra}"),
                    None => extra,
                });
                return self;
            }
            Some(_) => {}
            None => {
                e.src = Some(
                    NamedSource::new(file.name.clone(), file.text.clone()).with_language("toml"),
                );
                e.location = Some(here);
            }
        }
        let len = span.end.saturating_sub(span.start).max(1);
        e.labels
            .push(LabeledSpan::new(Some(label.into()), span.start, len));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.0.help = Some(help.into());
        self
    }

    /// `pipe.toml:12:9`, when the error points into a file.
    pub fn location(&self) -> Option<&str> {
        self.0.location.as_deref()
    }
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
    match err.span() {
        Some(span) => file.error(span, msg),
        None => SpecError::new(format!("{}: {msg}", file.name)),
    }
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
