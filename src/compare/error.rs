//! What can go wrong comparing: a target that names nothing, revisions git cannot read, a
//! column a table cannot be sorted by. Each message names what the user gave; the exit
//! code follows from the variant (2: bad input, 3: git itself failed, see
//! `crate::error`).

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// `--sort KEY` on a sweep table: no such metric or param column.
    #[error("cannot sort by `{key}`: the table's columns are {}", columns.join(", "))]
    SortTable { key: String, columns: Vec<String> },
    /// `exp show --sort NAME`: no such metric.
    #[error("cannot sort by `{name}`: the metrics are {}", listed(metrics))]
    SortExps { name: String, metrics: Vec<String> },
}

fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

impl CompareError {
    /// 2 for what the user gave; 3 when the environment (git) failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            CompareError::SortTable { .. } | CompareError::SortExps { .. } => 2,
        }
    }
}
