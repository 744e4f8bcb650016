//! What pipe shows: the printer, status listings, sweep tables.
pub mod exps;
pub mod printer;
pub mod table;
