//! The `pipe` binary: everything is in the library (`pipe::main`).

fn main() -> std::process::ExitCode {
    pipe::main()
}
