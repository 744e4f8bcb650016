//! `pipe-torch`: the half of pipe that links libtorch. The engine (`pipe`) starts it for
//! built-in stages (`uses = "train"`) and hands `pipe predict` over to it, so that every
//! other command starts in milliseconds instead of paying libtorch's start-up (loading and
//! initialising libtorch_cpu and libtorch_cuda takes most of a second).
//!
//!     pipe-torch builtin INVOCATION.json
//!     pipe-torch predict PACKAGE SEQ_DIR [--device auto|cpu|cuda]
//!     pipe-torch device [--device auto|cpu|cuda|cuda:N] [--json]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pipe-torch",
    version,
    about = "pipe's built-in libtorch stages"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a built-in stage from an invocation file written by `pipe`
    Builtin { invocation: PathBuf },
    /// Score a sequence directory with a packaged model
    Predict {
        package: PathBuf,
        seq_dir: PathBuf,
        /// auto, cpu or cuda
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// What libtorch sees (CUDA, the device's name, capability, memory) and a matmul check
    Device {
        /// auto, cpu, cuda or cuda:N
        #[arg(long, default_value = "auto")]
        device: String,
        /// One JSON object instead of lines
        #[arg(long)]
        json: bool,
    },
}

/// Exit codes as `pipe`'s: 1 a stage failed, 2 bad input, 3 the environment.
struct Failure(u8, String);

fn builtin(invocation: &Path) -> Result<(), Failure> {
    pipe_stages::builtin_main(invocation).map_err(|e| Failure(1, e.to_string()))
}

fn predict(package: &Path, seq_dir: &Path, device: &str) -> Result<(), Failure> {
    let p =
        pipe_stages::predict(package, seq_dir, device).map_err(|e| Failure(2, e.to_string()))?;
    let json = serde_json::to_string_pretty(&p).map_err(|e| Failure(3, e.to_string()))?;
    writeln!(std::io::stdout().lock(), "{json}")
        .map_err(|e| Failure(3, format!("cannot write the prediction: {e}")))
}

/// Exit 3 when the device cannot be used: it is the machine, not the input, at fault.
fn device(spec: &str, json: bool) -> Result<(), Failure> {
    let r = pipe_stages::device_report(spec).map_err(|e| Failure(3, e.to_string()))?;
    let text = if json {
        serde_json::to_string_pretty(&r).map_err(|e| Failure(3, e.to_string()))?
    } else {
        format!(
            "device      {}\nname        {}\ncapability  {}\nunits       {}\nmemory      {:.0} MB ({:.0} MB free)\ndriver      {}\ncuda        {} ({} device(s), cuDNN {})\nthreads     {}\nmatmul {}   {:.2} TFLOP/s fp32, {:.2} TFLOP/s bf16 (bf16 rel. error {:.1e})",
            r.device,
            r.name,
            r.capability,
            r.multiprocessors,
            r.memory_total_mb,
            r.memory_free_mb,
            r.driver,
            r.cuda_available,
            r.cuda_device_count,
            r.cudnn_available,
            r.torch_threads,
            r.matmul_size,
            r.matmul_tflops_fp32,
            r.matmul_tflops_bf16,
            r.bf16_rel_error
        )
    };
    writeln!(std::io::stdout().lock(), "{text}")
        .map_err(|e| Failure(3, format!("cannot write the report: {e}")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Builtin { invocation } => builtin(invocation),
        Command::Predict {
            package,
            seq_dir,
            device,
        } => predict(package, seq_dir, device),
        Command::Device { device: d, json } => device(d, *json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {msg}");
            ExitCode::from(code)
        }
    }
}
