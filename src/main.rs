//! The `pipe` binary: parses the command line and calls the engine (`pipe::ops`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
