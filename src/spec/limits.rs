//! How big a thing pipe will make from a pipeline file: limits that turn a typo or a hostile
//! file into one error at its line, not a crash or an exhausted machine.

/// The longest stage id, in bytes: each stage's log is a file named `<id>.log`, and a file
/// name holds at most 255 bytes.
pub const LONGEST_STAGE_ID: usize = 251;

/// The most stages one pipeline may hold, its sweeps' and its DVC `foreach`/`matrix`
/// instances included. A product of value lists grows fast (twelve keys of ten values is
/// 10^12 cells); each stage costs about 8.5 KiB to build, so 100,000 take 0.85 GB and 4 s
/// to read (release build, 2026-12-05): past that, a matrix is a mistake, not a study.
pub const MOST_STAGES: usize = 100_000;

/// How many stages `factors` multiplied make, saturating rather than overflowing.
pub fn product(factors: impl IntoIterator<Item = usize>) -> usize {
    factors.into_iter().fold(1, usize::saturating_mul)
}
