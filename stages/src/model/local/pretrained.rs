//! Named tensors from a user's weights file, for initialising a tube encoder (`r3d`'s
//! `model.tube_pretrained`): safetensors (a `state_dict` saved with `safetensors.torch`) or
//! TorchScript (`torch.jit.save` of the module; its parameters are read by name). The
//! format is told by content, not by the file's extension.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use tch::{CModule, Device, Tensor};

use crate::error::StageError;

/// Every named tensor of `file` (on the CPU).
pub fn named_tensors(file: &Path) -> Result<HashMap<String, Tensor>, StageError> {
    if !file.is_file() {
        return Err(StageError::data(file, "pretrained weights file not found"));
    }
    let mut magic = [0u8; 4];
    let n = fs_err::File::open(file)?.read(&mut magic)?;
    // TorchScript archives are zip files; safetensors start with a little-endian length.
    if n == 4 && &magic == b"PK\x03\x04" {
        let module = CModule::load_on_device(file, Device::Cpu)
            .map_err(|e| StageError::data(file, format!("not a loadable TorchScript file: {e}")))?;
        let params = module.named_parameters().map_err(|e| {
            StageError::data(file, format!("reading the TorchScript parameters: {e}"))
        })?;
        return Ok(params.into_iter().collect());
    }
    Tensor::read_safetensors(file)
        .map(|v| v.into_iter().collect())
        .map_err(|e| {
            StageError::data(
                file,
                format!("neither a safetensors nor a TorchScript file: {e}"),
            )
        })
}
