//! A stage's place in its [`Graph`](super::Graph): a typed index, so that a stage is never
//! looked up with an out's position, a definition's number or a count.
//!
//! Indices come only from a graph (its order, its lookups, its iteration) and are only
//! meaningful in the graph that made them: an experiment's graph (`with_extra`) keeps the
//! base graph's indices and adds its own after them.

use std::fmt;

/// The position of a stage instance in its graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StageIdx(u32);

impl StageIdx {
    /// The index of the `i`-th stage; only the graph numbers its stages.
    pub(super) fn new(i: usize) -> StageIdx {
        // A pipeline's stages are counted far below u32::MAX (a spec of 4 billion stages
        // cannot be parsed in memory), so the conversion cannot truncate in practice; a
        // saturated index would fail every lookup rather than alias another stage.
        StageIdx(u32::try_from(i).unwrap_or(u32::MAX))
    }

    /// Its position, for the graph's own tables.
    pub(super) fn get(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for StageIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
