//! The `pipe` binary: parses the command line and calls the engine (`pipe::ops`).

mod cli;

fn main() -> std::process::ExitCode {
    // The watcher that ends a killed pipe's stages (see `pipe::exec::reaper`): internal,
    // started by pipe itself, so it is not a clap subcommand.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == pipe::exec::reaper::SUBCOMMAND)
    {
        pipe::exec::reaper::serve(std::io::stdin().lock());
        return std::process::ExitCode::SUCCESS;
    }
    cli::main()
}
