//! What pipe shows: the printer, a run's events, status listings, sweep tables.
pub mod exps;
pub mod printer;
pub mod run;
pub mod table;
