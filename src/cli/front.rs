//! The front door's generated files: shell completion scripts (`pipe completions SHELL`) and
//! man pages (`pipe man DIR`), both drawn from the clap definition the parser itself uses, so
//! they name exactly the commands and flags this binary takes.
//!
//! They are made by a command, not at build time: the installed binary describes itself
//! (a `cargo install` leaves no build output a user could find), a packager runs the same
//! two commands, and the build needs no script compiling the command line a second time.

use std::path::Path;

use crate::error::Result;
use crate::ops::error::OpsError;
use crate::report::printer::{Printer, Tone};
use clap::CommandFactory;

use super::Cli;

/// Prints `shell`'s completion script for pipe.
pub fn completions(p: &Printer, shell: clap_complete::Shell) {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pipe", &mut out);
    p.data(&String::from_utf8_lossy(&out));
}

/// Writes `pipe.1` and a page per visible command (`pipe-exp-run.1`) into `dir`, made if
/// missing; returns how many it wrote.
pub fn man(p: &Printer, dir: &Path) -> Result<usize> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    render_pages(&cmd, &mut pages)?;
    pipe_cache::fsutil::create_dirs(dir, false)?;
    for (name, roff) in &pages {
        pipe_cache::fsutil::write_file_atomic(&dir.join(name), roff, false)?;
    }
    p.verb(
        "Wrote",
        Tone::Good,
        &format!("{} man pages to {}", pages.len(), dir.display()),
    );
    Ok(pages.len())
}

/// `cmd`'s page and those of its visible subcommands, depth first: (file name, roff).
fn render_pages(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        render_pages(sub, pages)?;
    }
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("pipe {}", env!("CARGO_PKG_VERSION")))
        .manual("pipe");
    let mut roff = Vec::new();
    man.render(&mut roff).map_err(|err| OpsError::ManPage {
        page: man.get_filename(),
        err,
    })?;
    pages.push((man.get_filename(), roff));
    Ok(())
}
