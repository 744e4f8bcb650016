//! The users' raw data: JPEG frames + YOLO label files in the layout of domain.md.

pub mod copy;
pub mod jpeg;
pub mod labels;
pub mod layout;

pub use layout::{Class, Frame, Sequence, Split};
