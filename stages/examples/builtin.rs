//! Runs one built-in stage without the engine, for benchmarks and debugging:
//!
//! ```text
//! builtin INVOCATION.json
//! builtin NAME --params params.toml [--deps P].. [--outs P].. [--metrics P].. [--plots P]..
//! builtin predict PACKAGE SEQ_DIR [DEVICE]
//! ```
//! The second form passes every table of the params file (a built-in reads only its own).

#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use pipe_stages::{Invocation, StageError};

fn parse(args: &[String]) -> Result<Invocation, StageError> {
    let bad = |m: &str| StageError::Other(format!("usage: {m}"));
    let uses = args
        .first()
        .ok_or_else(|| bad("builtin NAME --params FILE [--deps P]..."))?;
    let mut inv = Invocation {
        stage: uses.clone(),
        uses: uses.clone(),
        params: toml::Table::new(),
        deps: vec![],
        outs: vec![],
        metrics: vec![],
        plots: vec![],
    };
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| bad("a flag without a value"))?;
        let path = PathBuf::from(value);
        match flag.as_str() {
            "--params" => {
                let text = fs_err::read_to_string(&path)?;
                inv.params = text
                    .parse()
                    .map_err(|e| StageError::Other(format!("{}: {e}", path.display())))?;
            }
            "--deps" => inv.deps.push(path),
            "--outs" => inv.outs.push(path),
            "--metrics" => inv.metrics.push(path),
            "--plots" => inv.plots.push(path),
            other => return Err(bad(&format!("unknown flag {other}"))),
        }
    }
    Ok(inv)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().is_some_and(|a| a == "predict") && args.len() >= 3 {
        let device = args.get(3).map_or("auto", String::as_str);
        pipe_stages::predict(args[1].as_ref(), args[2].as_ref(), device).and_then(|p| {
            let json =
                serde_json::to_string_pretty(&p).map_err(|e| StageError::Other(e.to_string()))?;
            println!("{json}");
            Ok(())
        })
    } else if args.len() == 1 && args[0].ends_with(".json") {
        pipe_stages::builtin_main(args[0].as_ref())
    } else {
        parse(&args).and_then(|inv| pipe_stages::run(&inv))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
