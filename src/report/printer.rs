//! The one place pipe prints.
//!
//! pipe's own messages go to stderr as a right-aligned verb and a sentence
//! (`     Running train`, `    Restored prepare from the run cache`), coloured only on a
//! terminal (and never with NO_COLOR). Stage output goes to stdout, each line prefixed with
//! `[stage]`. Data a command was asked for (`status --json`, `dag --dot`, a sweep table)
//! goes to stdout unprefixed. On a terminal a status line shows what runs, what is done
//! and what waits; everything else prints above it.
//!
//! Output that cannot be written never stops the work. A full disk behind `2>file`, a
//! closed pipe (`pipe repro 2>&1 | head -1`: pipe ignores SIGPIPE, as every Rust program
//! does, so the write fails with EPIPE rather than killing pipe mid-commit): the first
//! failed write to a stream is remembered and nothing more is written to that stream,
//! while the command goes on to its end, records what it ran, and then exits 3 (the
//! environment failed pipe, see `crate::error`) unless it failed on its own. Every line
//! goes through [`Printer::write`]; nothing in pipe calls `print!` or `eprint!` (they
//! panic on such a stream).

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Info,
    Warn,
    Bad,
}

/// One of pipe's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "standard output",
            Stream::Stderr => "standard error",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

pub struct Printer {
    /// Stage output goes to stderr while stdout carries data (`--json`, `--csv`, `--md`).
    stages_to_stderr: std::sync::atomic::AtomicBool,
    color: bool,
    verbose: u8,
    quiet: bool,
    bar: Mutex<Option<ProgressBar>>,
    /// Held while writing; per stream, the first write that failed (nothing is written to
    /// that stream after it).
    out: Mutex<[Option<String>; 2]>,
}

static PRINTER: OnceLock<Printer> = OnceLock::new();

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

pub fn init(color: ColorChoice, verbose: u8, quiet: bool) {
    let tty = std::io::stderr().is_terminal();
    let color = match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => tty && std::env::var_os("NO_COLOR").is_none(),
    };
    let _ = PRINTER.set(Printer {
        stages_to_stderr: Default::default(),
        color,
        verbose,
        quiet,
        bar: Mutex::new(None),
        out: Mutex::new([None, None]),
    });
}

pub fn get() -> &'static Printer {
    PRINTER.get_or_init(|| Printer {
        stages_to_stderr: Default::default(),
        color: false,
        verbose: 0,
        quiet: false,
        bar: Mutex::new(None),
        out: Mutex::new([None, None]),
    })
}

impl Printer {
    pub fn verbose(&self) -> u8 {
        self.verbose
    }

    fn paint(&self, tone: Tone, s: &str) -> String {
        if !self.color {
            return s.to_string();
        }
        let code = match tone {
            Tone::Good => "1;32",
            Tone::Info => "1;36",
            Tone::Warn => "1;33",
            Tone::Bad => "1;31",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }

    fn with_bar_suspended(&self, f: impl FnOnce()) {
        let bar = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        match bar.as_ref() {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    /// Writes `text` to `to` (with the status line out of the way), unless a write to it
    /// failed before; a failure is remembered, never raised (see the module's header).
    pub fn write(&self, to: Stream, text: &str) {
        self.with_bar_suspended(|| {
            let mut failed = self.out.lock().unwrap_or_else(|p| p.into_inner());
            if failed[to.index()].is_some() {
                return;
            }
            let r = match to {
                Stream::Stdout => {
                    let mut o = std::io::stdout().lock();
                    o.write_all(text.as_bytes()).and_then(|()| o.flush())
                }
                Stream::Stderr => {
                    let mut o = std::io::stderr().lock();
                    o.write_all(text.as_bytes()).and_then(|()| o.flush())
                }
            };
            if let Err(e) = r {
                failed[to.index()] = Some(e.to_string());
            }
        });
    }

    /// A line (a newline is added) on stderr.
    fn line_err(&self, line: &str) {
        self.write(Stream::Stderr, &format!("{line}\n"));
    }

    /// The streams whose output was cut short, and why: `standard error: no space left
    /// on device`. Empty when everything was written.
    pub fn lost_output(&self) -> Vec<String> {
        let failed = self.out.lock().unwrap_or_else(|p| p.into_inner());
        [Stream::Stdout, Stream::Stderr]
            .into_iter()
            .filter_map(|s| {
                failed[s.index()]
                    .as_ref()
                    .map(|e| format!("{}: {e}", s.name()))
            })
            .collect()
    }

    /// Whether writes to `to` still go through.
    pub fn writable(&self, to: Stream) -> bool {
        self.out.lock().unwrap_or_else(|p| p.into_inner())[to.index()].is_none()
    }

    /// `     Running train`: a verb, right-aligned, and what it applies to.
    pub fn verb(&self, verb: &str, tone: Tone, msg: &str) {
        if self.quiet && tone != Tone::Bad && tone != Tone::Warn {
            return;
        }
        let line = format!("{} {msg}", self.paint(tone, &format!("{verb:>12}")));
        self.line_err(&line);
    }

    /// Only with `-v`.
    pub fn detail(&self, verb: &str, msg: &str) {
        if self.verbose > 0 {
            self.verb(verb, Tone::Info, msg);
        }
    }

    pub fn warn(&self, msg: &str) {
        let line = format!("{}: {msg}", self.paint(Tone::Warn, "warning"));
        self.line_err(&line);
    }

    pub fn error(&self, msg: &str) {
        let line = format!("{}: {msg}", self.paint(Tone::Bad, "error"));
        self.line_err(&line);
    }

    /// Text on stderr as it is (a rendered diagnostic).
    pub fn raw_err(&self, text: &str) {
        self.write(Stream::Stderr, text);
    }

    /// A line of a stage's output.
    pub fn stage_line(&self, stage: &str, line: &str) {
        if self.quiet {
            return;
        }
        let prefix = self.paint(Tone::Info, &format!("[{stage}]"));
        let to_stderr = self
            .stages_to_stderr
            .load(std::sync::atomic::Ordering::Relaxed);
        let to = if to_stderr {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        self.write(to, &format!("{prefix} {line}\n"));
    }

    /// Keeps stdout for data: stage output goes to stderr from now on.
    pub fn stage_output_to_stderr(&self) {
        self.stages_to_stderr
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Data the user asked for, on stdout.
    pub fn data(&self, s: &str) {
        if !s.ends_with('\n') && !s.is_empty() {
            self.write(Stream::Stdout, &format!("{s}\n"));
        } else {
            self.write(Stream::Stdout, s);
        }
    }

    /// Starts the status line (on a terminal only).
    pub fn status_start(&self) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        *self.bar.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
    }

    pub fn status_set(&self, msg: String) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            b.set_message(msg);
        }
    }

    pub fn status_end(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            b.finish_and_clear();
        }
    }

    /// A byte/object progress bar for transfers, on a terminal only.
    pub fn transfer_bar(&self, total_bytes: u64, what: &str) -> Option<ProgressBar> {
        if self.quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:>12.cyan.bold} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {prefix}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        Some(bar)
    }
}

/// `1.5s`, `2m03s`.
pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let m = (s / 60.0).floor();
        format!("{}m{:02.0}s", m as u64, s - m * 60.0)
    }
}

/// `1.7 GB` style sizes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Whether output is coloured (for renderers outside the printer).
pub fn get_color() -> bool {
    get().color
}
