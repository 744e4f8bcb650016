//! What pipe shows: the printer, status listings, sweep tables.
pub mod exps;
pub mod chart;
pub mod compare;
pub mod html;
pub mod printer;
pub mod table;
