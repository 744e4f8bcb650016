//! One module per built-in stage: each reads its params tables (strictly, see `params`),
//! checks its inputs, and writes its outputs. The work itself lives in the domain modules
//! (`tubes`, `crop`, `model`, `metrics`, ..) so that `predict` and the tests reuse it.

pub mod benchmark;
pub mod build_model_input;
pub mod build_tubes;
pub mod evaluate;
pub mod package;
pub mod prepare;
pub mod train;
pub mod truncate;

use crate::{Invocation, StageError};

pub use pipe_stage_api::{LIBTORCH_VERSION, TCH_VERSION};

/// Reads every params table `uses` reads, as the run would, without running it: an unknown
/// key, a wrong type or an impossible value is reported up front (for a pipeline check, or
/// each cell of a sweep before any of them runs).
pub fn validate_params(uses: &str, params: &toml::Table) -> Result<(), StageError> {
    match uses {
        "prepare" => prepare::PrepareParams::from_params(params).map(drop),
        "import" => Ok(()),
        "truncate" => truncate::max_frames(params).map(drop),
        "build_tubes" => build_tubes::tube_params(params).map(drop),
        "build_model_input" => build_model_input::crop_params(params).map(drop),
        "train" => {
            crate::model::ModelConfig::from_params(params)?;
            crate::fit::TrainParams::from_params(params)?;
            Ok(())
        }
        "evaluate" => evaluate::EvalParams::from_params(params).map(drop),
        "package" => {
            truncate::max_frames(params)?;
            build_tubes::tube_params(params)?;
            build_model_input::crop_params(params)?;
            evaluate::EvalParams::from_params(params).map(drop)
        }
        "benchmark" => benchmark::bench_params(params).map(drop),
        other => Err(StageError::Unknown(other.to_string())),
    }
}

pub fn dispatch(inv: &Invocation) -> Result<(), StageError> {
    match inv.uses.as_str() {
        "prepare" => prepare::run(inv),
        "import" => prepare::run_import(inv),
        "truncate" => truncate::run(inv),
        "build_tubes" => build_tubes::run(inv),
        "build_model_input" => build_model_input::run(inv),
        "train" => train::run(inv),
        "evaluate" => evaluate::run(inv),
        "package" => package::run(inv),
        "benchmark" => benchmark::run(inv),
        other => Err(StageError::Unknown(other.to_string())),
    }
}
