//! What pipe shows: the printer, a run's events, and the renderings of the typed reports
//! commands return and the models `compare` builds: status listings, sweep and experiment
//! tables (laid out by `grid`), charts (SVG) and the HTML report. Renders only: nothing
//! here decides or reads the workspace.
pub mod chart;
pub mod compare;
mod decimate;
pub mod explain;
pub mod exps;
pub mod grid;
pub mod html;
pub mod import;
pub mod printer;
pub mod remote_list;
pub mod run;
pub mod stages;
pub mod status;
pub mod sweep;
pub mod table;
pub mod transfer;
