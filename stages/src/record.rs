//! The tube record `build_tubes` writes per sequence (`<out>/<sequence>.json`), read by
//! `build_model_input` and, inside `predict`, built in memory.

use serde::{Deserialize, Serialize};

use crate::raw::{Class, Split};
use crate::tubes::Entry;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TubeRecord {
    pub sequence: String,
    pub split: Split,
    pub class: Class,
    /// 1 for wildfire, 0 for a false positive.
    pub label: u8,
    /// What the sequence shows (`kind.txt`), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The sequence directory relative to the dataset root, `/`-separated.
    pub path: String,
    /// Every frame file of the (truncated) sequence, in order.
    pub frames: Vec<String>,
    pub width: usize,
    pub height: usize,
    /// How many tubes passed the filters; the record keeps the longest.
    pub candidates: usize,
    pub tube: Option<Vec<Entry>>,
}
