//! What pipe shows: the printer, a run's events, status listings, sweep tables.
pub mod chart;
pub mod compare;
pub mod exps;
pub mod html;
pub mod printer;
pub mod run;
pub mod table;
pub mod transfer;
