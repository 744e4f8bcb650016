//! What pipe shows: the printer, a run's events, status listings, sweep and experiment
//! tables (laid out by `grid`, metric columns ranked by `rank`).
pub mod chart;
pub mod compare;
pub mod exps;
pub mod grid;
pub mod html;
pub mod printer;
pub mod rank;
pub mod run;
pub mod table;
pub mod transfer;
